"""Shipped reference results: package data with provenance, never written by a run."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bmcourse import reference
from bmcourse.errors import BmcourseError

ROOT = Path(__file__).resolve().parent.parent
MACHINE_PATH = re.compile(r"(?<![\w$])(/(home|root|work|tmp|Users|opt|usr|mnt|var)/|[A-Za-z]:\\)")


def test_names_and_loading_through_importlib_resources() -> None:
    assert {"ner_reference", "bench_ner_cpu", "bench_ner_cpu_plain"} <= set(reference.names())
    assert reference.load("ner_reference")["main_model"]["f1"] > 0
    assert reference.image("ner_reference").startswith(b"\x89PNG")
    with pytest.raises(BmcourseError, match="no shipped reference result 'nope'"):
        reference.load("nope")


@pytest.mark.parametrize("name", reference.names())
def test_every_result_records_its_provenance_and_no_machine_path(name: str) -> None:
    result = reference.load(name)
    missing = [key for key in reference.PROVENANCE_KEYS if key not in result]
    assert not missing, f"{name}.json lacks {missing}"
    assert set(result["model"]) >= {"name", "cased", "source"}
    assert isinstance(result["model"]["cased"], bool)
    text = json.dumps(result)
    assert not MACHINE_PATH.search(text), f"{name}.json holds a machine path: {MACHINE_PATH.search(text)}"
    assert "REFERENCE RESULTS, not this run" in reference.label(result)


def test_new_provenance_has_every_key_and_no_path(monkeypatch: pytest.MonkeyPatch) -> None:
    block = reference.provenance(model={"name": "m", "cased": True, "source": "local folder"},
                                 data_source="conll2003 from a local folder ($BMCOURSE_DATA_DIR/conll2003)",
                                 command="bmcourse bench ner")
    assert set(block) == set(reference.PROVENANCE_KEYS)
    assert block["commit"] is None or re.fullmatch(r"[0-9a-f]{7,}(\+dirty)?", block["commit"])
    assert not MACHINE_PATH.search(json.dumps(block))


def test_runs_write_to_the_results_folder_not_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BMCOURSE_RESULTS_DIR", str(tmp_path / "results"))
    assert reference.results_dir() == tmp_path / "results" and (tmp_path / "results").is_dir()
    monkeypatch.delenv("BMCOURSE_RESULTS_DIR")
    monkeypatch.setenv("BMCOURSE_CACHE_DIR", str(tmp_path / "cache"))
    assert reference.results_dir() == tmp_path / "cache" / "results"
    assert reference.shipped_dir() not in reference.results_dir().parents


def test_notebooks_never_write_into_the_package() -> None:
    for source in sorted((ROOT / "notebooks").glob("*.py")):
        text = source.read_text(encoding="utf-8")
        assert "shipped_dir" not in text and "bmcourse/reference" not in text, source.name
