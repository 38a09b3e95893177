"""The Chinese edition cannot lag silently: every markdown cell and learner-facing string has a current
translation, a changed English cell fails naming its notebook, cell id and first changed line, the
generated notebooks match the English code cells, and translations keep code, formulas and terms."""
from __future__ import annotations

import ast
import shutil
import warnings
from pathlib import Path

import nbformat
import polib
import pytest

from bmcourse import i18n
from bmcourse.course import translate
from bmcourse.course.nbtools import course_notebooks

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = course_notebooks(ROOT / "notebooks")
IDS = [p.stem for p in NOTEBOOKS]


def test_there_are_six_notebooks_to_translate() -> None:
    assert len(NOTEBOOKS) == 6


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_every_markdown_cell_has_a_current_translation(notebook: Path) -> None:
    problems = translate.catalog_problems(notebook)
    assert not problems, ("run `bmcourse translate update`, translate what it marks, then "
                          "`bmcourse translate build` and store:\n" + "\n".join(map(str, problems)))


@pytest.mark.parametrize("domain", ["bmcourse", "notebooks"])
def test_every_learner_facing_string_has_a_translation(domain: str) -> None:
    strings = translate.package_strings() if domain == "bmcourse" else translate.notebook_strings(NOTEBOOKS)
    assert len(strings) > 20
    problems = translate.string_problems(domain, strings)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_translations_keep_code_formulas_numbers_and_glossary_terms(notebook: Path) -> None:
    problems = []
    for entry in polib.pofile(str(translate.catalog_path(notebook))):
        if entry.obsolete or not entry.msgstr:
            continue
        for problem in (translate.entry_mismatches(entry.msgid, entry.msgstr)
                        + translate.glossary_mismatches(entry.msgid, entry.msgstr, entry.tcomment or "")):
            problems.append(f"{notebook.name} cell {entry.msgctxt}: {problem}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_the_chinese_notebook_is_built_from_the_current_english_one(notebook: Path) -> None:
    english = nbformat.read(notebook, as_version=4)
    chinese = nbformat.read(translate.translated_path(notebook), as_version=4)
    assert [c.get("id") for c in chinese.cells] == [c.get("id") for c in english.cells], \
        f"cell ids differ: run `bmcourse translate build {notebook}` and store it"
    by_id = {e.msgctxt: e.msgstr for e in polib.pofile(str(translate.catalog_path(notebook))) if not e.obsolete}
    for en, zh in zip(english.cells, chinese.cells):
        if en.cell_type == "code":
            assert zh.source == en.source, f"{notebook.name} cell {en.get('id')}: code differs from the English"
            assert zh.get("outputs") or not en.get("outputs"), \
                f"notebooks/zh-CN/{notebook.name} cell {en.get('id')} has no stored output: bmcourse store it"
        else:
            assert zh.source == by_id[en["id"]], f"{notebook.name} cell {en.get('id')}: not the catalog's text"


def _copy_pair(tmp_path: Path, name: str = "02_ner_finetuning") -> Path:
    """One English notebook and its catalog in a scratch folder laid out like notebooks/."""
    notebook = tmp_path / f"{name}.ipynb"
    shutil.copy(ROOT / "notebooks" / notebook.name, notebook)
    catalog = translate.catalog_path(notebook)
    catalog.parent.mkdir(parents=True)
    shutil.copy(translate.catalog_path(ROOT / "notebooks" / notebook.name), catalog)
    return notebook


def test_changing_one_english_markdown_cell_fails_naming_notebook_cell_and_line(tmp_path: Path) -> None:
    notebook = _copy_pair(tmp_path)
    assert translate.catalog_problems(notebook) == []
    nb = nbformat.read(notebook, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "markdown" and len(c.source.splitlines()) > 3)
    lines = cell.source.splitlines()
    lines[2] = lines[2] + " A sentence added in English."
    cell.source = "\n".join(lines)
    nbformat.write(nb, notebook)
    problems = translate.catalog_problems(notebook)
    assert [(p.notebook, p.cell_id, p.reason) for p in problems] == [(notebook.name, cell["id"], "changed")]
    assert problems[0].line == lines[2]
    assert notebook.name in str(problems[0]) and cell["id"] in str(problems[0])
    # update keeps the old translation as a starting point but marks it fuzzy: still a failure
    old = {e.msgctxt: e.msgstr for e in polib.pofile(str(translate.catalog_path(notebook)))}
    counts = translate.update_catalog(notebook)
    assert counts["fuzzy"] == 1 and counts["new"] == 0
    entry = next(e for e in polib.pofile(str(translate.catalog_path(notebook))) if e.msgctxt == cell["id"])
    assert entry.fuzzy and entry.msgstr == old[cell["id"]] and "A sentence added" not in (entry.previous_msgid or "")
    assert [p.reason for p in translate.catalog_problems(notebook)] == ["fuzzy"]
    with pytest.raises(Exception, match="need a translation"):
        translate.build_translated(notebook)


def test_a_new_markdown_cell_without_translation_fails_as_missing(tmp_path: Path) -> None:
    notebook = _copy_pair(tmp_path, "01_loss_and_gradients")
    nb = nbformat.read(notebook, as_version=4)
    nb.cells.insert(3, nbformat.v4.new_markdown_cell("A new paragraph.\nIt says more."))
    nbformat.write(nb, notebook)
    problems = translate.catalog_problems(notebook)
    assert [(p.reason, p.line) for p in problems] == [("missing", "A new paragraph.")]


def test_a_translation_that_drops_code_or_a_term_is_reported() -> None:
    english = "## 3 · The `fit` loop\nThe loss $L = -\\log p$ over 12 tokens."
    good = "## 3 · `fit` 循环\n在 12 个词元上的损失 $L = -\\log p$。"
    assert translate.entry_mismatches(english, good) == []
    assert translate.glossary_mismatches(english, good) == []
    bad = "### 3 · fit 循环\n在十二个记号上的代价。"
    problems = translate.entry_mismatches(english, bad)
    assert any("inline code" in p for p in problems) and any("formula" in p for p in problems)
    assert any("numbers" in p for p in problems) and any("heading" in p for p in problems)
    assert {p.split("'")[1] for p in translate.glossary_mismatches(english, bad)} == {"loss", "token"}


def test_the_language_follows_bmcourse_lang_even_when_set_after_import(monkeypatch: pytest.MonkeyPatch) -> None:
    from bmcourse.exercises import Exercise, checkpoint

    monkeypatch.delenv("LANGUAGE", raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("BMCOURSE_LANG", "en")
    exercise = Exercise("01.1", "The sigmoid", expected=0.5)
    assert i18n.language() == "en" and checkpoint([exercise]) == "0/1 exercises passed (still open: 01.1)"
    monkeypatch.setenv("BMCOURSE_LANG", "zh_CN")  # after import, as a notebook cell would
    assert i18n.language() == "zh_CN"
    assert checkpoint([exercise]).startswith("0/1 个练习已通过")
    monkeypatch.delenv("BMCOURSE_LANG")
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")  # the locale decides without the variable
    assert i18n.language() == "zh_CN"
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")  # no catalog: English
    assert i18n.tr("{done}/{total} exercises passed") == "{done}/{total} exercises passed"


def test_a_figure_with_chinese_labels_renders_without_missing_glyphs(tmp_path: Path) -> None:
    from bmcourse.plots.layout import cjk_fallback

    font = cjk_fallback()
    if font is None:
        pytest.skip("no font with Chinese glyphs installed (Debian: apt-get install fonts-wqy-microhei)")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.set(title="微调 fine-tuning", xlabel="学习率", ylabel="损失")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph ... missing from font(s)"
        fig.savefig(tmp_path / "zh.png")
    plt.close(fig)


def test_student_copies_of_the_chinese_edition(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bmcourse.course.cli import main

    monkeypatch.chdir(ROOT)
    assert main(["student", "--lang", "zh-CN", "--out", str(tmp_path), "notebooks/01_loss_and_gradients.ipynb"]) == 0
    copy = nbformat.read(tmp_path / "01_loss_and_gradients.ipynb", as_version=4)
    chinese = nbformat.read(ROOT / "notebooks" / "zh-CN" / "01_loss_and_gradients.ipynb", as_version=4)
    assert copy.cells[0].source == chinese.cells[0].source and "损失" in copy.cells[0].source
    assert not any(c.get("outputs") for c in copy.cells if c.cell_type == "code")


def test_the_run_table_lines_up_in_chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    from bmcourse.course.commands import pad, summary_table

    assert pad("秒", 8, right=True) == "      秒" and pad("ok", 4) == "ok  "
    monkeypatch.setenv("BMCOURSE_LANG", "zh_CN")
    header, row, total = summary_table([("00_foundations.ipynb", "ok", 11.3, "6/6", "x")]).strip("\n").splitlines()
    columns = sum(2 if ord(c) > 0x2E7F else 1 for c in header.split("秒")[0] + "秒")
    assert "笔记本" in header and columns == len(row.split("11.3")[0] + "11.3")


#: Messages at a learner-facing sink that stay English on purpose: (module, the start of the message).
#: Python's own wording, errors only a notebook author meets, a prefix around an already translated text,
#: and problems that are one identifier and its value (their fix is translated).
ENGLISH_ON_PURPOSE = {
    ("bmcourse/__init__.py", "f'module {__name__!r} has no attribute"),
    ("bmcourse/data/__init__.py", "f'bmcourse: {message}'"),
    ("bmcourse/exercises.py", "f'not numeric:"),
    ("bmcourse/exercises.py", "'expect_all needs at least one checker'"),
    ("bmcourse/exercises.py", "f'exercise {self.key}: pass checker=... or expected=...'"),
    ("bmcourse/graded.py", "f'cannot resolve"),
    ("bmcourse/reference/__init__.py", "f\"atomic_open writes whole files"),
    ("bmcourse/transfer/ewc.py", "f'fisher_diagonal: batch_size="),
    ("bmcourse/transfer/ewc.py", "f'ewc_forgetting: evaluate_on="),
}
SINKS = {"print", "warn", "set_title", "set_xlabel", "set_ylabel", "suptitle", "title", "xlabel", "ylabel",
         "text", "annotate"}


def _reads_as_words(node: ast.AST) -> bool:
    """A string literal or f-string with words in it (not a bare identifier or number)."""
    def wordy(text: object) -> bool:
        return isinstance(text, str) and " " in text and any(c.isalpha() for c in text)
    if isinstance(node, ast.Constant):
        return wordy(node.value)
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(v, ast.Constant) and wordy(v.value) for v in node.values)
    if isinstance(node, ast.BinOp):
        return _reads_as_words(node.left) or _reads_as_words(node.right)
    return False


def test_every_message_a_learner_reads_goes_through_gettext() -> None:
    """Outside the maintainer side (bmcourse/course, bmcourse/bench), every printed, warned or raised
    message and every plot text with words is a ``_()`` template, so the catalog test above covers it."""
    root = Path(translate.__file__).resolve().parents[2]
    found = []
    for path in sorted((root / "bmcourse").rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if relative.startswith(("bmcourse/course/", "bmcourse/bench/")):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            raising = name[:1].isupper() and name.endswith(("Error", "Exception", "Warning", "Call"))
            for arg in node.args if name in SINKS or raising else []:
                text = ast.unparse(arg)
                if _reads_as_words(arg) and not any(relative == m and text.startswith(s) for m, s in ENGLISH_ON_PURPOSE):
                    found.append(f"{relative}:{node.lineno}: {name}({text[:70]})")
    assert not found, ("wrap these in _() with {named} placeholders, then `bmcourse translate update` and "
                       "translate them:\n" + "\n".join(found))
