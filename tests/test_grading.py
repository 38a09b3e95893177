"""The instructor's loop on nbgrader, end to end on notebook 01: ``bmcourse assign`` builds the course
folder and the release (no answer in it), then ``bmcourse grade`` grades fabricated submissions
(correct, wrong, unanswered, raising, looping, tampered, forbidden, reaching into the kernel, and files
that are no submission at all) and every grade and status is checked, from grades.csv."""
from __future__ import annotations

import copy
import csv
import json
import zipfile
from pathlib import Path

import nbformat
import pytest

from bmcourse.course.cli import main
from bmcourse.course.grading.assign import HIDDEN_BEGIN, SOLUTION_BEGIN, grade_id_of
from bmcourse.course.grading.bench import fabricate, solution_of

ROOT = Path(__file__).resolve().parent.parent
NB01 = ROOT / "notebooks" / "01_loss_and_gradients.ipynb"
NAME = NB01.stem
POINTS = {"01.1": 1, "01.2": 2, "01.3": 2, "01.4": 2, "01.5": 2, "01.6": 2, "01.7": 1}
FULL = sum(POINTS.values())

# Answers that are wrong, or right but by a forbidden route, or that reach into the kernel.
NO_MEAN = "def bce_grad(z, y):\n    return torch.sigmoid(z) - y\n"
BY_AUTOGRAD = ("def bce_grad(z, y):\n    z = z.clone().requires_grad_()\n"
               "    F.binary_cross_entropy_with_logits(z, y).backward()\n    return z.grad\n")
RAISES = "raise RuntimeError('I give up')\n"
LOOPS = "while True:\n    pass\n"
WRONG_HEAD = "def head_dW(X, W, labels):\n    return W * 0\n"
REACHES = "get_ipython().set_custom_exc((Exception,), lambda *a, **k: None)\n"


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The course folder made by ``bmcourse assign`` for notebook 01."""
    folder = tmp_path_factory.mktemp("course") / "course"
    assert main(["assign", str(NB01), "--out", str(folder), "--course-id", "test"]) == 0
    return folder


def answers(course: Path) -> dict[str, str]:
    """The reference solution of every answer cell, by grade id."""
    source = nbformat.read(course / "source" / NAME / f"{NAME}.ipynb", as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: solution_of(c.source) for c in source.cells
            if c.get("metadata", {}).get("nbgrader", {}).get("solution")}


def submit(course: Path, folder: Path, student: str, changes: dict[str, str] | None = None,
           correct: bool = True, edit=None) -> None:
    """A submission: the release with the reference answers (or none), some answers changed."""
    release = nbformat.read(course / "release" / NAME / f"{NAME}.ipynb", as_version=4)
    nb = copy.deepcopy(release)
    mine = {**(answers(course) if correct else {}), **{grade_id_of(k, "answer"): v for k, v in (changes or {}).items()}}
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in mine:
            cell.source = mine[gid]
    if edit:
        edit(nb)
    (folder / student).mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / student / f"{NAME}.ipynb")


def tamper(nb: nbformat.NotebookNode) -> None:
    """Empty 01.5's locked test cell and delete 01.6's read-only exercise cell."""
    for cell in list(nb.cells):
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid == grade_id_of("01.5", "test"):
            cell.source = "pass  # no test here"
        if gid == grade_id_of("01.6", "exercise"):
            nb.cells.remove(cell)


@pytest.fixture(scope="module")
def graded(course: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[tuple[str, str], dict]]:
    """Every kind of submission, graded once with 2 jobs; returns (the grades folder, csv rows by key)."""
    subs = tmp_path_factory.mktemp("submissions")
    submit(course, subs, "alice")                                   # all correct
    submit(course, subs, "bob", {"01.2": NO_MEAN})                  # one wrong answer
    submit(course, subs, "carol", correct=False)                    # nothing answered
    submit(course, subs, "dave", {"01.3": RAISES})                  # an answer raises
    spam = "for i in range(20000):\n    print(i)\n" + answers(course)[grade_id_of("01.7", "answer")]
    submit(course, subs, "erin", {"01.4": LOOPS, "01.7": spam})     # an infinite loop; a huge output
    submit(course, subs, "frank", {"01.5": WRONG_HEAD}, edit=tamper)  # locked cells edited / deleted
    submit(course, subs, "gina", {"01.2": BY_AUTOGRAD})             # right, by a forbidden route
    submit(course, subs, "hank", {"01.7": REACHES + answers(course)[grade_id_of("01.7", "answer")]})
    (subs / "ivan").mkdir()
    (subs / "ivan" / f"{NAME}.ipynb").write_text('{"cells": [', encoding="utf-8")    # invalid JSON
    (subs / "jack").mkdir()
    (subs / "jack" / f"{NAME}.txt").write_text("my answers", encoding="utf-8")       # not a notebook
    (subs / "kate").mkdir()                                                           # nothing handed in
    (subs / "stray.ipynb").write_text("{}", encoding="utf-8")                         # outside a folder
    out = tmp_path_factory.mktemp("grades")
    assert main(["grade", str(subs), "--course", str(course), "--out", str(out), "--jobs", "2",
                 "--cell-timeout", "10"]) == 0
    with open(out / "grades.csv", encoding="utf-8", newline="") as handle:
        rows = {(r["student"], r["notebook"]): r for r in csv.DictReader(handle)}
    return out, rows


def scores(row: dict) -> dict[str, float]:
    return {k: float(row[k]) for k in POINTS}


def test_the_release_hides_every_solution_and_hidden_test(course: Path) -> None:
    release = (course / "release" / NAME / f"{NAME}.ipynb").read_text(encoding="utf-8")
    assert SOLUTION_BEGIN not in release and HIDDEN_BEGIN not in release and "graded.check" not in release
    for solution in answers(course).values():
        body = [line for line in solution.splitlines() if line.strip() and not line.startswith("def ")]
        assert not any(line in release for line in body), "a solution line is in the release"
    source = (course / "source" / NAME / f"{NAME}.ipynb").read_text(encoding="utf-8")
    assert source.count(HIDDEN_BEGIN) == len(POINTS)
    cells = nbformat.read(course / "release" / NAME / f"{NAME}.ipynb", as_version=4).cells
    points = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"].get("points") for c in cells
              if c.get("metadata", {}).get("nbgrader", {}).get("grade")}
    assert points == {grade_id_of(k, "test"): p for k, p in POINTS.items()}


def test_correct_wrong_and_unanswered(graded) -> None:
    _, rows = graded
    assert scores(rows["alice", NAME]) == POINTS and rows["alice", NAME]["status"] == "graded"
    assert rows["alice", NAME]["total"] == str(FULL) == rows["alice", NAME]["max"]
    assert scores(rows["bob", NAME]) == {**POINTS, "01.2": 0} and "01.2 wrong" in rows["bob", NAME]["status"]
    carol = rows["carol", NAME]
    assert scores(carol) == dict.fromkeys(POINTS, 0) and carol["status"].count("not answered") == len(POINTS)


def test_an_exception_or_a_loop_costs_only_that_exercise(graded) -> None:
    _, rows = graded
    assert scores(rows["dave", NAME]) == {**POINTS, "01.3": 0}
    assert "01.3 answer raised RuntimeError" in rows["dave", NAME]["status"]
    assert scores(rows["erin", NAME]) == {**POINTS, "01.4": 0} and "01.4 timed out" in rows["erin", NAME]["status"]


def test_tampering_is_undone_and_reported(graded) -> None:
    _, rows = graded
    frank = rows["frank", NAME]
    assert scores(frank) == {**POINTS, "01.5": 0}
    assert "01.5 test cell edited: restored for grading" in frank["status"]
    assert "01.6 exercise cell deleted: restored for grading" in frank["status"]


def test_forbidden_routes_and_kernel_tricks_score_nothing(graded) -> None:
    _, rows = graded
    assert scores(rows["gina", NAME]) == {**POINTS, "01.2": 0} and "ForbiddenCall" in rows["gina", NAME]["status"]
    hank = rows["hank", NAME]
    assert scores(hank) == {**POINTS, "01.7": 0} and "01.7 answer not run: uses set_custom_exc" in hank["status"]


def test_files_that_are_no_submission_get_a_row_and_a_reason(graded) -> None:
    _, rows = graded
    assert rows["ivan", NAME]["status"].startswith("not a valid notebook (invalid JSON")
    assert rows["jack", NAME]["status"] == f"not a notebook: {NAME}.txt"
    assert rows["kate", NAME]["status"] == f"missing: no {NAME}.ipynb"
    assert rows["stray", "-"]["status"].startswith("unexpected layout")
    for student in ("ivan", "jack", "kate"):
        assert rows[student, NAME]["total"] == "0" and rows[student, NAME]["max"] == str(FULL)


def test_feedback_summary_and_gradebook(graded, course: Path) -> None:
    out, rows = graded
    for student in ("alice", "bob", "carol", "dave", "erin", "frank", "gina", "hank"):
        page = out / "feedback" / student / f"{NAME}.html"
        assert page.is_file() and "<html" in page.read_text(encoding="utf-8").lower()
    assert (out / "summary.png").stat().st_size > 10_000
    from bmcourse.course.grading.record import scores as gradebook_scores

    recorded = gradebook_scores(course, "bob", NAME)  # the course's one gradebook holds the same grades
    assert recorded[grade_id_of("01.2", "test")] == (0.0, 2.0) and recorded[grade_id_of("01.1", "test")] == (1.0, 1.0)
    executed = nbformat.read(course / "executed" / "erin" / NAME / f"{NAME}.ipynb", as_version=4)
    lines = sum("".join(o.get("text", "")).count("\n") for c in executed.cells for o in c.get("outputs", []))
    assert lines < 1000  # 20,000 printed lines were cut (nbgrader's LimitOutput)


def test_an_lms_zip_grades_the_same(course: Path, graded, tmp_path: Path) -> None:
    _, rows = graded
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for student in ("alice", "bob"):
            folder = tmp_path / "src" / student
            submit(course, tmp_path / "src", student, {"01.2": NO_MEAN} if student == "bob" else None)
            handle.write(folder / f"{NAME}.ipynb", f"class-export/{student}/{NAME}.ipynb")
    out = tmp_path / "grades"
    assert main(["grade", str(archive), "--course", str(course), "--out", str(out), "--jobs", "2"]) == 0
    with open(out / "grades.csv", encoding="utf-8", newline="") as handle:
        again = {(r["student"], r["notebook"]): r for r in csv.DictReader(handle)}
    assert {k: v["total"] for k, v in again.items()} == {k: rows[k]["total"] for k in again}


def test_a_zip_that_escapes_its_folder_is_refused(course: Path, tmp_path: Path, capsys) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr(f"../{NAME}.ipynb", json.dumps({"cells": []}))
    assert main(["grade", str(archive), "--course", str(course), "--out", str(tmp_path / "g")]) == 1
    assert "outside its folder" in capsys.readouterr().err


def test_a_notebook_without_hidden_tests_is_refused(tmp_path: Path, capsys) -> None:
    nb = nbformat.read(NB01, as_version=4)
    nb.cells = [c for c in nb.cells if "hidden-test" not in c.get("metadata", {}).get("tags", [])]
    path = tmp_path / "99_no_hidden.ipynb"
    nbformat.write(nb, path)
    assert main(["assign", str(path), "--out", str(tmp_path / "c")]) == 1
    err = capsys.readouterr().err
    assert "01.1" in err and "hidden-test" in err and "99_no_hidden" in err


def test_assign_with_no_notebook_named_releases_all_six(tmp_path: Path, monkeypatch, capsys) -> None:
    from bmcourse.concepts import NOTEBOOK_FILES

    monkeypatch.chdir(ROOT)
    assert main(["assign", "--out", str(tmp_path / "course")]) == 0
    out, err = capsys.readouterr()
    assert "not assigned" not in err
    released = sorted(p.name for p in (tmp_path / "course" / "release").iterdir())
    assert released == sorted(Path(n).stem for n in NOTEBOOK_FILES.values())
    assert main(["assign", "--out", str(tmp_path / "course")]) == 0  # re-running rewrites the folder


def test_every_course_notebook_can_be_graded(tmp_path: Path) -> None:
    """Each notebook's exercises have their hidden tests, so assign takes all six (nothing left out)."""
    import nbformat as nbf

    from bmcourse.concepts import NOTEBOOK_FILES
    from bmcourse.course.grading.assign import graded_exercises, source_notebook

    for name in sorted(NOTEBOOK_FILES.values()):
        nb = nbf.read(ROOT / "notebooks" / name, as_version=4)
        exercises = graded_exercises(nb, name)
        source, listed = source_notebook(nb, name)
        assert [e.key for e in listed] == [e.key for _, e in exercises] and all(e.points >= 1 for e in listed)
        assert sum(HIDDEN_BEGIN in c.source for c in source.cells) == len(listed)


def test_fabricated_submissions_score_full_marks(course: Path, tmp_path: Path) -> None:
    fabricate(course, NAME, ["s1"], tmp_path / "subs")
    out = tmp_path / "grades"
    assert main(["grade", str(tmp_path / "subs"), "--course", str(course), "--out", str(out), "--jobs", "1"]) == 0
    assert f"s1,{NAME}," in (out / "grades.csv").read_text(encoding="utf-8")
    assert f",{FULL},{FULL},graded" in (out / "grades.csv").read_text(encoding="utf-8")


def test_the_chinese_edition_is_graded_with_feedback_in_chinese(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LANG", "C.UTF-8")  # the grading machine's own locale is English: the course decides
    monkeypatch.delenv("BMCOURSE_LANG", raising=False)
    course = tmp_path / "course"
    assert main(["assign", str(NB01), "--lang", "zh-CN", "--out", str(course), "--course-id", "zh"]) == 0
    source = nbformat.read(course / "source" / NAME / f"{NAME}.ipynb", as_version=4)
    assert source.metadata["bmcourse"] == {"language": "zh_CN"}
    assert any("损失" in c.source for c in source.cells if c.cell_type == "markdown"), "the Chinese notebook"
    subs = tmp_path / "submissions"
    submit(course, subs, "alice")
    submit(course, subs, "gina", {"01.2": BY_AUTOGRAD})
    out = tmp_path / "grades"
    assert main(["grade", str(subs), "--course", str(course), "--out", str(out), "--jobs", "1",
                 "--cell-timeout", "30"]) == 0
    with open(out / "grades.csv", encoding="utf-8", newline="") as handle:
        rows = {r["student"]: r for r in csv.DictReader(handle)}
    assert scores(rows["alice"]) == {k: float(v) for k, v in POINTS.items()}
    assert scores(rows["gina"])["01.2"] == 0.0 and sum(scores(rows["gina"]).values()) == FULL - POINTS["01.2"]
    feedback = (out / "feedback" / "gina" / f"{NAME}.html").read_text(encoding="utf-8")
    assert "本练习不允许使用它" in feedback, "the refusal is in Chinese"
    assert "本练习要求你手工实现" in feedback, "and so is the hidden test's reason (graded.BY_HAND)"
