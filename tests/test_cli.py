"""The ``bmcourse`` command: one line on stderr and a documented exit code for every expected error."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bmcourse import reference
from bmcourse.course import commands, redact_command, refresh
from bmcourse.course.cli import build_parser, main
from bmcourse.errors import BmcourseError

ROOT = Path(__file__).resolve().parent.parent


def real_data(env, tmp_path: Path, *names: str) -> Path:
    """A BMCOURSE_DATA_DIR in which ``names`` are local folders (one sentence each): "the real data"."""
    from bmcourse.data import REGISTRY

    root = tmp_path / "data"
    for name in names:
        folder = root / REGISTRY[name].folder
        folder.mkdir(parents=True)
        (folder / "train.jsonl").write_text('{"tokens": ["Ada"], "ner_tags": ["B-PER"]}\n', encoding="utf-8")
    env.setenv("BMCOURSE_DATA_DIR", str(root))
    return root


def one_line(err: str) -> str:
    """The single stderr line of a failure (and nothing that looks like a traceback or a usage block)."""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "usage:" not in err
    return lines[0]


def raising(error: BaseException):
    """A command that raises ``error``."""
    def command(args) -> int:
        raise error
    return command


# --- exit 1: failures -------------------------------------------------------------------------

def test_bmcourse_error_is_one_line_with_its_fix_and_exit_1(monkeypatch, capsys) -> None:
    error = BmcourseError("a tag is not IOB2", file="data/train.jsonl", line=3, fix="use B- before I-")
    assert "\n  fix:" in str(error)  # the Python message keeps its two lines ...
    monkeypatch.setattr(commands, "cmd_links", raising(error))
    assert main(["links"]) == 1
    line = one_line(capsys.readouterr().err)  # ... the command prints one
    assert line == "bmcourse: data/train.jsonl:3: a tag is not IOB2 (fix: use B- before I-)"


def test_a_missing_notebook_is_a_failure_not_a_traceback(capsys) -> None:
    assert main(["run", "no_such_notebook.ipynb"]) == 1
    assert "no such notebook: no_such_notebook.ipynb (fix:" in one_line(capsys.readouterr().err)


def test_a_missing_input_file_is_exit_1(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "missing.txt"
    assert main(["redact", str(missing)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and str(missing) in one_line(err) and "(fix:" in err


@pytest.mark.parametrize(("error", "expected"), [
    (FileNotFoundError(2, "No such file or directory", "results/x.json"),
     "bmcourse: results/x.json: No such file or directory (fix: check the path"),
    (PermissionError(13, "Permission denied", "/root/x.json"), "bmcourse: /root/x.json: Permission denied (fix: check"),
    (IsADirectoryError(21, "Is a directory", "results"), "bmcourse: results: Is a directory (fix: name a file"),
    (OSError(28, "No space left on device"), "bmcourse: No space left on device (fix: check the path"),
    (UnicodeDecodeError("utf-8", b"ok \xff", 3, 4, "invalid start byte"),
     "bmcourse: text that is not valid UTF-8 (invalid start byte at byte 3) (fix: convert"),
])
def test_unreadable_files_are_exit_1(monkeypatch, capsys, error: Exception, expected: str) -> None:
    monkeypatch.setattr(commands, "cmd_links", raising(error))
    assert main(["links"]) == 1
    assert one_line(capsys.readouterr().err).startswith(expected)


def test_bad_json_is_exit_1(monkeypatch, capsys) -> None:
    monkeypatch.setattr(reference, "load", lambda name: json.loads('{"model": oops}'))
    assert main(["reference", "list"]) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith("bmcourse: invalid JSON at line 1, column 11: Expecting value (fix:")


def test_a_bug_still_shows_its_traceback(monkeypatch) -> None:
    monkeypatch.setattr(commands, "cmd_links", raising(RuntimeError("a bug")))
    with pytest.raises(RuntimeError, match="a bug"):
        main(["links"])


# --- exit 2: usage errors ---------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    [],                                                     # no command
    ["bench", "--out", "x.json"],                          # no benchmark
    ["bench", "inference", "--seeds", "3", "--out", "x.json"],   # an option inference does not take
    ["bench", "inference", "--device", "cpu", "--out", "x.json"],
    ["bench", "transfer", "--save-model", "dir", "--out", "x.json"],
    ["bench", "transfer-lr", "--sizes", "10", "--out", "x.json"],
    ["bench", "ner", "--replay", "0.5", "--out", "x.json"],
    ["bench", "ner"],                                       # --out is required
    ["bench", "transfer", "--sizes", "10,many", "--out", "x.json"],
    ["bench", "ner", "--decode", "beam", "--out", "x.json"],
    ["redact", "--bogus"],
    ["reference", "refresh", "everything"],
])
def test_bad_options_are_one_line_and_exit_2(capsys, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("bmcourse") and "(fix: see `bmcourse" in line


def test_an_unrecognised_option_names_the_benchmark_that_refuses_it(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["bench", "inference", "--seeds", "3", "--out", "x.json"])
    assert one_line(capsys.readouterr().err) == ("bmcourse bench inference: unrecognized arguments: --seeds 3 "
                                                 "(fix: see `bmcourse bench inference --help`)")


@pytest.mark.parametrize(("argv", "expected"), [
    (["bench", "transfer", "--strategies", "full,nope", "--out", "x.json"],
     "bmcourse bench transfer: unknown strategy nope (fix: give a comma-separated list of linear_probe,"),
    (["bench", "transfer-lr", "--targets", " , ", "--out", "x.json"],
     "bmcourse bench transfer-lr: unknown name ' , ' (fix: give a comma-separated list)"),
])
def test_bad_option_values_found_after_parsing_are_exit_2(capsys, argv: list[str], expected: str) -> None:
    assert main(argv) == 2
    assert one_line(capsys.readouterr().err).startswith(expected)


# --- exit 130: Ctrl-C; 141: a closed pipe -----------------------------------------------------

def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, capsys) -> None:
    monkeypatch.setattr(commands, "cmd_links", raising(KeyboardInterrupt()))
    assert main(["links"]) == 130
    assert one_line(capsys.readouterr().err).startswith("bmcourse: interrupted (Ctrl-C) (fix: run the command again")


def test_a_closed_output_pipe_is_quiet(monkeypatch, capsys) -> None:
    monkeypatch.setattr(commands, "cmd_links", raising(BrokenPipeError(32, "Broken pipe")))
    assert main(["links"]) == 141
    assert capsys.readouterr().err == ""


def test_the_console_script_prints_no_traceback() -> None:
    """The real process: stderr is exactly one line, with the documented exit codes."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    for argv, status in ((["run", "no_such_notebook.ipynb"], 1), (["bench", "inference", "--seeds", "3"], 2)):
        done = subprocess.run([sys.executable, "-m", "bmcourse.course.cli", *argv], capture_output=True, text=True,
                              cwd=ROOT, env=env, timeout=120, check=False)
        assert done.returncode == status, done.stderr
        assert done.stdout == "" and one_line(done.stderr).startswith("bmcourse")


def test_help_documents_the_exit_codes(capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert "exit status:" in out
    for code in ("0 ", "1 ", "2 ", "130 "):
        assert f"\n  {code}" in out


# --- every documented invocation still parses -------------------------------------------------

@pytest.mark.parametrize(("line", "expected"), [
    ("bench ner --out bench.json", {"model": "auto", "epochs": 1.0, "lr": 2e-4, "decode": "viterbi"}),
    ("bench ner --lr 5e-5 --dropout -1 --decode argmax --out plain.json",
     {"lr": 5e-5, "dropout": -1.0, "decode": "argmax"}),
    ("bench ner --out bench.json --save-model my_tagger/", {"save_model": "my_tagger/"}),
    ("bench transfer --out transfer.json --targets wnut17,ncbi_disease --strategies linear_probe,lora "
     "--inits pretrained,source --sizes 10,25,50,100,1000000000 --seeds 3 --budget 500 --eval-sample 300 "
     "--replay 0.5", {"sizes": (10, 25, 50, 100, 10**9), "seeds": 3, "budget": 500, "eval_sample": 300}),
    ("bench transfer --out transfer.json", {"sizes": (10, 25, 50, 100, 10**9), "epochs": None, "budget": None}),
    ("bench transfer-lr --out lr.json", {"targets": None, "strategies": None, "budget": None}),
    ("bench inference --out inference.json", {"model": None, "latency_sentences": 200}),
    ("bench inference --model my_tagger/ --latency-sentences 5 --out inference.json",
     {"model": "my_tagger/", "latency_sentences": 5}),
    ("redact --types PER,LOC --json messages.txt", {"types": "PER,LOC", "json": True, "files": ["messages.txt"]}),
    ("run --profile smoke --out runs", {"profile": "smoke", "notebooks": []}),
    ("student --out student/ --keep-outputs", {"keep_outputs": True}),
    ("reference refresh transfer", {"what": "transfer"}),
    ("reference list", {"action": "list"}),
])
def test_documented_invocations_parse(line: str, expected: dict) -> None:
    args = build_parser().parse_args(line.split())
    assert {key: getattr(args, key) for key in expected} == expected


def test_the_refresh_recipes_parse() -> None:
    for recipes in (refresh.BENCH_RECIPES, refresh.TRANSFER_RECIPES, refresh.INFERENCE_RECIPES):
        for command in recipes.values():
            build_parser().parse_args([*command, "--out", "x.json"])


def test_bench_transfer_passes_its_options_through(env, tmp_path: Path, capsys) -> None:
    import bmcourse.bench

    monkeypatch = env
    real_data(env, tmp_path, "conll2003", "wnut17")
    seen: dict = {}

    def fake(**kwargs):
        seen.update(kwargs)
        kwargs["on_target"]({"partial": True})
        return {"total_seconds": 1.0}

    monkeypatch.setattr(bmcourse.bench, "bench_transfer", fake)
    out = tmp_path / "transfer.json"
    assert main(["bench", "transfer", "--targets", "wnut17", "--strategies", "lora", "--sizes", "5,10",
                 "--seeds", "2", "--eval-sample", "0", "--workers", "3", "--out", str(out)]) == 0
    assert (seen["targets"], seen["strategies"], seen["sizes"], seen["seeds"]) == (("wnut17",), ("lora",), (5, 10), 2)
    assert seen["workers"] == 3
    assert seen["eval_sample"] is None and seen["budget"] == bmcourse.bench.BUDGET  # 0: the whole split
    assert json.loads(out.read_text(encoding="utf-8")) == {"total_seconds": 1.0}
    assert "wrote" in capsys.readouterr().out


# --- no silent toy models: commands refuse the embedded samples -------------------------------

class FakeTagger:
    """``Ada`` is a person, ``Rome`` a place."""

    types = ["PER", "LOC"]
    progress = False

    def tag(self, sentences: list[list[str]], batch_size: int = 32) -> list[list[str]]:
        return [[{"Ada": "B-PER", "Rome": "B-LOC"}.get(word, "O") for word in words] for words in sentences]


@pytest.fixture
def tagger_loads(env, monkeypatch) -> list:
    """``apps.load_tagger`` replaced by the fake; the list records each load's folder."""
    from bmcourse import apps

    asked: list = []
    monkeypatch.setattr(apps, "load_tagger", lambda folder=None, *, progress=True: asked.append(folder) or FakeTagger())
    return asked


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "in.txt"
    path.write_text("Ada lives in Rome\nnothing here\n", encoding="utf-8")
    return path


def test_redact_refuses_a_tagger_trained_on_the_sample(tagger_loads: list, text_file: Path, capsys) -> None:
    assert main(["redact", str(text_file)]) == 1
    out, err = capsys.readouterr()
    line = one_line(err)
    assert out == "" and tagger_loads == []  # refused before anything is trained or written
    assert "needs the real conll2003, but only the embedded sample" in line
    for hint in ("set BMCOURSE_DATA_DIR", "conll2003/train.jsonl", "../shared/data", "--model DIR",
                 "bench ner --save-model", "--demo-tagger"):
        assert hint in line


def test_redact_demo_tagger_says_so_on_stderr_and_in_every_json_line(tagger_loads: list, text_file: Path,
                                                                    capsys) -> None:
    assert main(["redact", "--demo-tagger", str(text_file)]) == 0
    out, err = capsys.readouterr()
    assert out == "[PER] lives in [LOC]\nnothing here\n"
    assert one_line(err) == redact_command.DEMO_NOTICE and "DEMONSTRATION TAGGER" in err
    assert main(["redact", "--demo-tagger", "--json", str(text_file)]) == 0
    out, err = capsys.readouterr()
    objects = [json.loads(line) for line in out.splitlines()]
    assert len(objects) == 2 and all(obj["tagger"] == redact_command.DEMO_TAGGER for obj in objects)
    assert redact_command.DEMO_TAGGER.startswith("demonstration (trained on the embedded sample; not for real redaction")
    assert objects[0]["entities"][0] == {"type": "PER", "start": 0, "end": 3, "text": "Ada"}
    assert one_line(err) == redact_command.DEMO_NOTICE
    assert tagger_loads == [None, None]


def test_redact_with_real_data_or_a_model_is_not_marked(env, tagger_loads: list, text_file: Path, tmp_path: Path,
                                                       capsys) -> None:
    assert main(["redact", "--json", "--model", str(tmp_path), str(text_file)]) == 0  # a saved tagger: no data check
    out, err = capsys.readouterr()
    assert err == "" and all("tagger" not in json.loads(line) for line in out.splitlines())
    real_data(env, tmp_path, "conll2003")
    for flags in ([], ["--demo-tagger"]):  # with the real data the course's tagger is the real one
        assert main(["redact", "--json", *flags, str(text_file)]) == 0
        out, err = capsys.readouterr()
        assert err == "" and all("tagger" not in json.loads(line) for line in out.splitlines())
    assert tagger_loads == [str(tmp_path), None, None]


def test_redact_in_the_smoke_profile_says_so(env, tagger_loads: list, text_file: Path, tmp_path: Path,
                                             capsys) -> None:
    real_data(env, tmp_path, "conll2003")
    env.setenv("BMCOURSE_PROFILE", "smoke")
    assert main(["redact", str(text_file)]) == 1
    assert "BMCOURSE_PROFILE=smoke uses only the embedded samples" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize(("argv", "module", "function", "needs"), [
    (["bench", "inference"], "bmcourse.bench", "bench_inference", "conll2003"),
    (["bench", "inference", "--model", "my_tagger"], "bmcourse.bench", "bench_inference", "conll2003"),
    (["bench", "transfer"], "bmcourse.bench", "bench_transfer",
     "conll2003, wnut17, ncbi_disease, crossner_politics, crossner_science"),
    (["bench", "transfer", "--targets", "wnut17"], "bmcourse.bench", "bench_transfer", "conll2003, wnut17"),
    (["bench", "transfer-lr"], "bmcourse.bench", "bench_transfer_lr", "crossner_politics, wnut17"),
    (["bench", "ner"], "bmcourse.data", "load_ner", "conll2003"),
    (["bench", "epoch-time"], "bmcourse.data", "load_ner", "conll2003"),
])
def test_benchmarks_refuse_the_embedded_samples(env, monkeypatch, tmp_path: Path, capsys, argv: list[str],
                                                module: str, function: str, needs: str) -> None:
    import importlib

    target = importlib.import_module(module)
    monkeypatch.setattr(target, function, raising(AssertionError("must not run")))
    out = tmp_path / "bench.json"
    assert main([*argv, "--out", str(out)]) == 1
    line = one_line(capsys.readouterr().err)
    assert f"needs the real {needs}, but only the embedded sample" in line and "set BMCOURSE_DATA_DIR" in line
    assert not out.exists()


@pytest.mark.parametrize("what", ["ner", "foundations", "applications", "deployment", "bench", "transfer",
                                  "inference"])
def test_reference_refresh_refuses_the_embedded_samples(env, monkeypatch, capsys, what: str) -> None:
    monkeypatch.setattr(commands, "cmd_run", raising(AssertionError("must not run a notebook")))
    before = {path.name: path.read_bytes() for path in reference.shipped_dir().iterdir() if path.is_file()}
    assert main(["reference", "refresh", what]) == 1
    assert "needs the real" in one_line(capsys.readouterr().err)
    after = {path.name: path.read_bytes() for path in reference.shipped_dir().iterdir() if path.is_file()}
    assert after == before


def test_each_notebook_reference_names_every_dataset_its_notebook_loads() -> None:
    import re

    for what, (notebook, _, _, datasets) in refresh.NOTEBOOK_REFERENCES.items():
        source = (ROOT / "notebooks" / notebook).with_suffix(".py").read_text(encoding="utf-8")
        loaded = set(re.findall(r"load_(?:ner|classification)\(\s*[\"']([\w-]+)[\"']", source))
        assert loaded and loaded <= set(datasets), (what, loaded - set(datasets))


def test_bench_transfer_compare_exits_1_when_a_conclusion_differs(tmp_path: Path, capsys) -> None:
    import copy

    ref = reference.load("bench_transfer_cpu")
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(ref), encoding="utf-8")
    new.write_text(json.dumps(ref), encoding="utf-8")
    assert main(["bench", "transfer-compare", str(old), str(new), "--out", str(tmp_path / "t.md")]) == 0
    assert "every conclusion is the same" in capsys.readouterr().out and (tmp_path / "t.md").is_file()
    changed = copy.deepcopy(ref)
    changed["forgetting"]["wnut17"]["after_replay"] = 0.0
    new.write_text(json.dumps(changed), encoding="utf-8")
    assert main(["bench", "transfer-compare", str(old), str(new)]) == 1
    assert "1 conclusion(s) differ" in capsys.readouterr().out


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_a_token_budget_that_is_not_one_is_refused_by_the_parser(value: str, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["bench", "ner", "--batch-tokens", value, "--out", "x.json"])
    assert "is not a token budget" in capsys.readouterr().err
