"""Every bad input fails with a BmcourseError naming the file, the line and the fix."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from bmcourse.data import REGISTRY, load_classification, load_ner
from bmcourse.data.readers import read_conll, read_ner_jsonl
from bmcourse.errors import BmcourseError


def write_ner(folder: Path, rows: list, split: str = "train") -> Path:
    """Write NER rows (dicts, or raw strings for broken lines) as JSON lines."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{split}.jsonl"
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = {"tokens": ["Ada", "Lovelace", "lived", "in", "London", "."],
        "ner_tags": ["B-PER", "I-PER", "O", "O", "B-LOC", "O"]}


def raises(match: str, func, *args, **kwargs) -> BmcourseError:
    with pytest.raises(BmcourseError, match=match) as info:
        func(*args, **kwargs)
    assert "fix:" in str(info.value)
    return info.value


def test_good_folder_loads_with_sorted_types(data_folder: Path) -> None:
    write_ner(data_folder / "mine", [GOOD, GOOD])
    ds = load_ner("mine")
    assert ds["train"].features["ner_tags"].feature.names == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    assert len(ds["train"]) + len(ds["validation"]) + len(ds["test"]) == 2


def test_missing_file(tmp_path: Path) -> None:
    err = raises("file not found", read_ner_jsonl, tmp_path / "nope.jsonl")
    assert err.file == tmp_path / "nope.jsonl"


def test_missing_data_folder(env, tmp_path: Path) -> None:
    env.setenv("BMCOURSE_DATA_DIR", str(tmp_path / "absent"))
    raises("is not a folder", load_ner, "conll2003")


def test_folder_without_train_split(data_folder: Path) -> None:
    write_ner(data_folder / "conll2003", [GOOD], split="test")
    raises("no train split", load_ner, "conll2003")


def test_invalid_json_names_line(tmp_path: Path) -> None:
    path = write_ner(tmp_path, [GOOD, '{"tokens": ["a"], "ner_tags": ["O"]', GOOD])
    err = raises("invalid JSON", read_ner_jsonl, path)
    assert err.line == 2 and f"{path}:2:" in str(err)


def test_length_mismatch(tmp_path: Path) -> None:
    path = write_ner(tmp_path, [GOOD, {"tokens": ["a", "b"], "ner_tags": ["O"]}])
    err = raises("2 tokens but 1 ner_tags", read_ner_jsonl, path)
    assert err.line == 2


def test_unknown_tag_lists_known_tags(tmp_path: Path) -> None:
    path = write_ner(tmp_path, [{"tokens": ["Acme"], "ner_tags": ["B-COMPANY"]}])
    err = raises("unknown tag 'B-COMPANY'", read_ner_jsonl, path, types=("PER", "ORG"))
    assert "B-ORG" in str(err) and err.line == 1


def test_malformed_tag(tmp_path: Path) -> None:
    path = write_ner(tmp_path, [{"tokens": ["Acme"], "ner_tags": ["PER"]}])
    raises("unknown tag 'PER'", read_ner_jsonl, path)


def test_invalid_iob2_is_an_error_by_default(tmp_path: Path) -> None:
    path = write_ner(tmp_path, [{"tokens": ["in", "Paris"], "ner_tags": ["O", "I-LOC"]}])
    err = raises("invalid IOB2: 'I-LOC' after 'O'", read_ner_jsonl, path)
    assert "repair=True" in str(err)


def test_repair_turns_stray_i_into_b_and_counts(tmp_path: Path) -> None:
    path = write_ner(tmp_path, [{"tokens": ["in", "Paris", "and", "Rome"], "ner_tags": ["O", "I-LOC", "O", "I-LOC"]}])
    rows, repaired = read_ner_jsonl(path, repair=True)
    assert repaired == 2 and rows[0]["ner_tags"] == ["O", "B-LOC", "O", "B-LOC"]


def test_repair_is_reported_by_load_ner(data_folder: Path, capsys: pytest.CaptureFixture) -> None:
    write_ner(data_folder / "mine", [GOOD, {"tokens": ["in", "Paris"], "ner_tags": ["O", "I-LOC"]}])
    load_ner("mine", repair=True)
    assert "repaired 1 invalid I- tags" in capsys.readouterr().out


def test_empty_sentence(tmp_path: Path) -> None:
    path = write_ner(tmp_path, [GOOD, {"tokens": [], "ner_tags": []}])
    assert raises("empty sentence", read_ner_jsonl, path).line == 2


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text("\n", encoding="utf-8")
    raises("holds no rows", read_ner_jsonl, path)


def test_non_utf8_names_line(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes((json.dumps(GOOD) + "\n").encode() + '{"tokens": ["Sepp\xe4l\xe4"], "ner_tags": ["B-PER"]}\n'.encode("latin-1"))
    err = raises("not UTF-8", read_ner_jsonl, path)
    assert err.line == 2 and "iconv" in str(err)


def test_unknown_dataset_lists_known_names(env) -> None:
    err = raises("unknown dataset 'conll2030'", load_ner, "conll2030")
    assert "conll2003" in str(err) and "banking77" in str(err)


def test_wrong_loader_for_kind(env) -> None:
    raises("is a classification dataset", load_ner, "sst2")


def without_sample(env, name: str) -> None:
    """Every registered dataset ships a sample; pretend ``name`` does not (undone after the test)."""
    env.setitem(REGISTRY, name, replace(REGISTRY[name], sample=None))


def test_offline_without_data_or_sample_says_what_to_set(env) -> None:
    without_sample(env, "crossner_politics")
    err = raises("not available", load_ner, "crossner_politics")
    assert "BMCOURSE_DATA_DIR" in str(err) and "BMCOURSE_OFFLINE" in str(err)


def test_smoke_profile_refuses_datasets_without_sample(env, data_folder: Path) -> None:
    write_ner(data_folder / "mine", [GOOD])
    env.setenv("BMCOURSE_PROFILE", "smoke")
    raises("no embedded sample", load_ner, "mine")
    without_sample(env, "crossner_science")
    raises("no embedded sample", load_ner, "crossner_science")


def test_bad_profile(env) -> None:
    env.setenv("BMCOURSE_PROFILE", "fast")
    raises("not a profile", load_ner, "conll2003")


def test_conll_columns(tmp_path: Path) -> None:
    path = tmp_path / "train.txt"
    path.write_text("-DOCSTART- -X- O\n\nAda NNP B-PER\nLovelace NNP I-PER\n\n\nRome NNP B-LOC\n", encoding="utf-8")
    rows, repaired = read_conll(path)
    assert [r["tokens"] for r in rows] == [["Ada", "Lovelace"], ["Rome"]] and repaired == 0


def test_conll_missing_column_names_line(tmp_path: Path) -> None:
    path = tmp_path / "train.txt"
    path.write_text("Ada B-PER\nLovelace\n", encoding="utf-8")
    assert raises("expected `token ... tag`", read_conll, path).line == 2


def test_conll_bad_tag_reports_sentence_start(tmp_path: Path) -> None:
    path = tmp_path / "train.txt"
    path.write_text("Ada B-PER\n\nin O\nRome I-LOC\n", encoding="utf-8")
    assert raises("invalid IOB2", read_conll, path).line == 3


def test_classification_unknown_label(data_folder: Path) -> None:
    folder = data_folder / "financial_phrasebank_allagree"
    folder.mkdir()
    (folder / "train.jsonl").write_text('{"text": "Sales rose .", "label": "bullish"}\n', encoding="utf-8")
    err = raises("unknown label 'bullish'", load_classification, "financial_phrasebank")
    assert "negative, neutral, positive" in str(err) and err.line == 1


def test_classification_empty_text(data_folder: Path) -> None:
    folder = data_folder / "intents"
    folder.mkdir()
    (folder / "train.jsonl").write_text('{"text": " ", "label": "a"}\n', encoding="utf-8")
    raises("non-empty string", load_classification, "intents")


def test_decode_utf8_is_the_one_utf8_rule(tmp_path) -> None:
    """data.readers.decode_utf8 (used by the dataset readers and bmcourse redact): a BOM is dropped, lines
    split at \\n, \\r\\n or \\r only, and a bad byte names the source, line, column and byte offset."""
    from bmcourse.data.readers import decode_utf8, text_lines

    assert text_lines(decode_utf8(b"\xef\xbb\xbfa\r\nb\u2028c\rd\n".replace(b"\\u2028", "\u2028".encode()), "x")) == \
        ["a", "b\u2028c", "d"]
    with pytest.raises(BmcourseError) as caught:
        decode_utf8(b"ok\nab\xe9c\n", tmp_path / "f.txt", note="; nothing was written")
    message = str(caught.value)
    assert "f.txt:2:" in message and "column 3" in message and "at byte 5" in message
    assert "0xe9" in message and "nothing was written" in message
