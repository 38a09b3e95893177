"""PII redaction (``bmcourse.apps`` section 4 and ``bmcourse redact``): offsets, chunking, scoring, CLI."""
from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from bmcourse import apps
from bmcourse.course.cli import main
from bmcourse.errors import BmcourseError
from bmcourse.tagging import split_words
from bmcourse.train import encode_ner

LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
CITIES = {"Paris", "London", "Zürich"}
NOT_NAMES = {"Hello", "She", "He"}


class FakeTagger(apps.Tagger):
    """Capitalised words are people (consecutive ones one person), a few city names are places."""

    labels = LABELS

    def __init__(self) -> None:
        super().__init__(model=None, tokenizer=None)
        self.calls: list[list[list[str]]] = []

    def tag(self, sentences: list[list[str]], batch_size: int = 32) -> list[list[str]]:
        self.calls.append(sentences)
        out = []
        for words in sentences:
            tags, previous = [], "O"
            for word in words:
                if word in CITIES:
                    tag = "B-LOC"
                elif word[:1].isupper() and word.isalpha() and word not in NOT_NAMES:
                    tag = "I-PER" if previous in ("B-PER", "I-PER") else "B-PER"
                else:
                    tag = "O"
                tags.append(tag)
                previous = tag
            out.append(tags)
        return out


TEXT = "Hello, Ada Lovelace!  She lives in Paris."


def test_words_with_offsets_split_like_split_words() -> None:
    text = "Ada's e-mail: ada@x.org, born 10.12.1815 in London\n(UK)."
    words = apps.words_with_offsets(text)
    assert [w for w, _, _ in words] == split_words(text)
    assert all(text[start:end] == word for word, start, end in words)


def test_redact_keeps_punctuation_and_whitespace_and_offsets_index_the_input() -> None:
    result = apps.redact(TEXT, FakeTagger())
    assert result.text == "Hello, [PER]!  She lives in [LOC]."
    assert [(e.type, e.text) for e in result.entities] == [("PER", "Ada Lovelace"), ("LOC", "Paris")]
    assert all(TEXT[e.start:e.end] == e.text for e in result.entities)
    assert result.entities[0].start == TEXT.index("Ada") and result.entities[1].end == TEXT.index(".", 30)
    assert result.to_json() == {"text": result.text, "entities": [
        {"type": "PER", "start": 7, "end": 19, "text": "Ada Lovelace"},
        {"type": "LOC", "start": 35, "end": 40, "text": "Paris"}]}


def test_types_placeholder_newlines_and_non_ascii() -> None:
    tagger = FakeTagger()
    only_loc = apps.redact(TEXT, tagger, types=["LOC"])
    assert only_loc.text == "Hello, Ada Lovelace!  She lives in [LOC]." and len(only_loc.entities) == 1
    assert apps.redact(TEXT, tagger, placeholder="<{type}>").text == "Hello, <PER>!  She lives in <LOC>."
    assert apps.redact(TEXT, tagger, placeholder="█").text == "Hello, █!  She lives in █."
    text = "Zoë in Zürich\n\tmet  Ada\r\n"
    result = apps.redact(text, tagger)
    assert result.text == "[PER] in [LOC]\n\tmet  [PER]\r\n"
    assert [text[e.start:e.end] for e in result.entities] == ["Zoë", "Zürich", "Ada"]


def test_stray_inside_tags_are_repaired_before_spans_are_taken() -> None:
    class Stray(FakeTagger):
        def tag(self, sentences: list[list[str]], batch_size: int = 32) -> list[list[str]]:
            return [["I-PER", "O", "I-LOC"] for _ in sentences]

    result = apps.redact("Ada met Paris", Stray())
    assert result.text == "[PER] met [LOC]"


def test_empty_and_whitespace_only_input_skip_the_model() -> None:
    tagger = FakeTagger()
    for text in ("", "   ", "\n\t \n"):
        result = apps.redact(text, tagger)
        assert result.text == text and result.entities == []
    assert tagger.calls == []
    many = apps.redact_many(["", "Ada", " "], tagger)
    assert [r.text for r in many] == ["", "[PER]", " "] and tagger.calls == [[["Ada"]]]


def test_unknown_type_and_bad_placeholder_are_clear_errors() -> None:
    with pytest.raises(BmcourseError, match="PERSON.*PER, ORG, LOC, MISC"):
        apps.redact(TEXT, FakeTagger(), types=["PERSON"])
    with pytest.raises(BmcourseError, match="placeholder"):
        apps.redact(TEXT, FakeTagger(), placeholder="[{kind}]")


def test_a_long_text_is_tagged_in_chunks_and_loses_no_word(tiny_model, packaged_tokenizer) -> None:
    class Recording(apps.Tagger):
        def tag(self, sentences: list[list[str]], batch_size: int = 32) -> list[list[str]]:
            self.tags = super().tag(sentences, batch_size)
            return self.tags

    tagger = Recording(tiny_model(LABELS), packaged_tokenizer)
    text = " ".join(["Ada Lovelace visited Paris, and 1,815 engineers (at least) cheered!"] * 80)
    words = [w for w, _, _ in apps.words_with_offsets(text)]
    assert len(words) > 1000
    assert len(encode_ner([words], packaged_tokenizer, training=False, max_length=128)) > 8  # chunked
    result, _, _ = apps.redact_many([text, "", "Zoë"], tagger, batch_size=4)
    assert [len(t) for t in tagger.tags] == [len(words), 1]  # one tag per word, none lost
    assert all(text[e.start:e.end] == e.text for e in result.entities)
    assert all(a.end <= b.start for a, b in zip(result.entities, result.entities[1:]))
    kept, at = [], 0  # every character outside the entities is still there, in order
    for entity in result.entities:
        kept.append(text[at:entity.start])
        at = entity.end
    kept.append(text[at:])
    position = 0
    for piece in kept:
        position = result.text.index(piece, position) + len(piece)
    assert len(result.text) == len(text) - sum(e.end - e.start for e in result.entities) + sum(
        len(f"[{e.type}]") for e in result.entities)


def test_load_tagger_reads_a_saved_folder_and_refuses_bad_ones(tmp_path: Path, tiny_model,
                                                               packaged_tokenizer) -> None:
    from bmcourse.models import save_model

    folder = save_model(tiny_model(LABELS), packaged_tokenizer, tmp_path / "tagger")
    tagger = apps.load_tagger(folder)
    assert tagger.labels == LABELS and tagger.types == ["PER", "ORG", "LOC", "MISC"]
    with pytest.raises(BmcourseError, match="no such model folder") as missing:
        apps.load_tagger(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(missing.value) and "--save-model" in str(missing.value)
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(BmcourseError, match="model.safetensors"):
        apps.load_tagger(tmp_path / "half")


def test_gold_entities_and_span_report_on_a_hand_example() -> None:
    text, gold = apps.gold_entities(["Ada", "Lovelace", "left", "London", "."],
                                    ["B-PER", "I-PER", "O", "B-LOC", "O"])
    assert text == "Ada Lovelace left London ."
    assert gold == [apps.Entity("PER", 0, 12, "Ada Lovelace"), apps.Entity("LOC", 18, 24, "London")]
    pred = [apps.Entity("PER", 0, 3, "Ada"), apps.Entity("LOC", 18, 24, "London")]
    rows = {row["type"]: row for row in apps.span_report([gold], [pred])}
    assert rows["overall"] == {"type": "overall", "precision": 0.5, "recall": 0.5, "f1": 0.5,
                               "support": 2, "predicted": 2}
    assert (rows["PER"]["f1"], rows["LOC"]["f1"], rows["LOC"]["support"]) == (0.0, 1.0, 1)
    assert list(rows) == ["LOC", "PER", "overall"]
    assert apps.span_report([[]], [[]])[-1]["f1"] == 0.0
    cases = apps.missed_and_spurious([text, "nothing"], [gold, []], [pred, []])
    assert cases == [{"text": text, "missed": ["Ada Lovelace (PER)"], "spurious": ["Ada (PER)"]}]
    predicted = apps.redact(text, FakeTagger()).entities  # scores redact directly
    assert apps.span_report([gold], [predicted])[-1]["f1"] == 1.0


# --- the command -------------------------------------------------------------------------------

@pytest.fixture
def fake_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list:
    """``bmcourse redact`` with the fake tagger; the list records the --model each load asked for.

    The real CoNLL-2003 counts as present (a local folder, full profile): without it the course's
    tagger would be a demonstration one, which the command refuses (tests/test_cli.py)."""
    conll = tmp_path / "data" / "conll2003"
    conll.mkdir(parents=True)
    (conll / "train.jsonl").write_text('{"tokens": ["Ada"], "ner_tags": ["B-PER"]}\n', encoding="utf-8")
    monkeypatch.setenv("BMCOURSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BMCOURSE_PROFILE", "full")
    asked: list = []

    def load(folder=None, *, progress=True):
        asked.append(folder)
        return FakeTagger()

    monkeypatch.setattr(apps, "load_tagger", load)
    return asked


def test_redact_command_plain_and_json(tmp_path: Path, fake_cli: list, capsys) -> None:
    lines = [TEXT, "", "Zoë in Zürich"]
    path = tmp_path / "in.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["redact", str(path)]) == 0
    assert capsys.readouterr().out == "Hello, [PER]!  She lives in [LOC].\n\n[PER] in [LOC]\n"
    assert main(["redact", "--json", "--types", "LOC", str(path), str(path)]) == 0
    objects = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(objects) == 6 and objects[1] == {"text": "", "entities": []}
    assert objects[2]["text"] == "Zoë in [LOC]"
    for obj, line in zip(objects, lines * 2):
        assert all(line[e["start"]:e["end"]] == e["text"] and e["type"] == "LOC" for e in obj["entities"])
    assert fake_cli == [None, None]


def test_redact_command_reads_stdin_and_passes_the_model(monkeypatch, tmp_path: Path, fake_cli: list,
                                                         capsys) -> None:
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(buffer=io.BytesIO("Ada in Zürich\r\nok\n".encode())))
    assert main(["redact", "--model", str(tmp_path), "--batch-size", "2"]) == 0
    assert capsys.readouterr().out == "[PER] in [LOC]\nok\n"
    assert fake_cli == [str(tmp_path)]


def test_redact_command_bad_input_writes_nothing(tmp_path: Path, fake_cli: list, capsys) -> None:
    good, bad = tmp_path / "good.txt", tmp_path / "bad.txt"
    good.write_text("Ada\n", encoding="utf-8")
    bad.write_bytes(b"ok line\n\xff\xfe bad")
    assert main(["redact", str(good), str(bad)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and str(bad) in err and "byte 8" in err and "Traceback" not in err
    assert fake_cli == []  # decoding comes before loading the model
    assert main(["redact", "--types", "PERSON", str(good)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "PER, ORG, LOC, MISC" in err


def test_redact_command_missing_model_folder(tmp_path: Path, capsys) -> None:
    text = tmp_path / "in.txt"
    text.write_text("Ada\n", encoding="utf-8")
    assert main(["redact", "--model", str(tmp_path / "missing"), str(text)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and str(tmp_path / "missing") in err and "bench ner --save-model" in err


def test_bench_ner_save_model_is_passed_through(monkeypatch, tmp_path: Path, capsys) -> None:
    import bmcourse.bench

    seen = {}

    def fake_bench(**kwargs):
        seen.update(kwargs)
        numbers = ("test_f1", "test_f1_strict", "token_accuracy", "train_seconds", "useful_tokens_per_second",
                   "seed_recipe_useful_tokens_per_second", "speedup_vs_seed_recipe", "epochs")
        return {**dict.fromkeys(numbers, 1.0), "device": "cpu", "saved_model": kwargs["save_model_dir"],
                "model": {"name": "tiny", "cased": True, "source": "local folder"}}

    monkeypatch.setattr(bmcourse.bench, "bench_ner", fake_bench)
    out = tmp_path / "bench.json"
    assert main(["bench", "ner", "--save-model", str(tmp_path / "tagger"), "--out", str(out)]) == 0
    assert seen["save_model_dir"] == str(tmp_path / "tagger")
    assert json.loads(out.read_text(encoding="utf-8"))["saved_model"] == str(tmp_path / "tagger")
    assert "redact --model" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["bench", "transfer", "--save-model", str(tmp_path), "--out", str(out)])
