"""Source order (local > Hub > sample), the smoke rule, splits and the embedded samples."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

import bmcourse.data
from bmcourse.data import (
    REGISTRY,
    SAMPLES_DIR,
    load_classification,
    load_ner,
    resolve_source,
    source_label,
    sources_summary,
    stratified_split,
)
from bmcourse.errors import BmcourseError
from bmcourse.tagging import invalid_positions

NER_SAMPLES = {"news_ner": 300, "biomed_ner": 120, "social_ner": 120, "politics_ner": 110,
               "science_ner": 110}
TEXT_SAMPLES = {"intent": 300, "finance_sentiment": 300, "movie_sentiment": 150}


@pytest.fixture(autouse=True)
def no_remembered_hub_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no Hub fallback remembered, and leaves none behind."""
    monkeypatch.setattr(bmcourse.data, "_HUB_FAILURES", {})


def _hub_answers_with(env, loader) -> list[str]:
    """The Hub is reachable and ``loader`` stands in for it; returns the list of datasets it was asked for."""
    env.delenv("BMCOURSE_OFFLINE")
    env.setattr("bmcourse.data.hub_reachable", lambda: True)
    asked: list[str] = []

    def load_hub_rows(hub, kind):
        asked.append(hub.repo)
        return loader(hub, kind)

    env.setattr("bmcourse.data.hub.load_hub_rows", load_hub_rows)
    return asked


def test_offline_without_data_uses_sample_with_one_line_notice(env, capsys: pytest.CaptureFixture) -> None:
    ds = load_ner("conll2003")
    out = capsys.readouterr().out.strip().splitlines()
    assert out == ["bmcourse: conll2003: embedded sample 'news_ner' (offline, no BMCOURSE_DATA_DIR; illustration-sized)"]
    assert ds["train"].features["ner_tags"].feature.names[:3] == ["O", "B-PER", "I-PER"]


def test_local_folder_wins_over_sample(data_folder: Path) -> None:
    folder = data_folder / "conll2003"
    folder.mkdir()
    row = {"tokens": ["Oslo"], "ner_tags": ["B-LOC"]}
    for split in ("train", "validation", "test"):
        (folder / f"{split}.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    assert resolve_source("conll2003")[0] == "local"
    assert load_ner("conll2003").num_rows == {"train": 1, "validation": 1, "test": 1}


def test_smoke_profile_uses_sample_even_with_data_folder(env, data_folder: Path) -> None:
    (data_folder / "conll2003").mkdir()
    (data_folder / "conll2003" / "train.jsonl").write_text('{"tokens": ["a"], "ner_tags": ["O"]}\n')
    env.setenv("BMCOURSE_PROFILE", "smoke")
    assert resolve_source("conll2003")[0] == "sample"


def test_hub_unreachable_falls_through_to_sample(env) -> None:
    env.delenv("BMCOURSE_OFFLINE")
    env.setattr("bmcourse.data.hub_reachable", lambda: False)
    where, description = resolve_source("wnut17")
    assert where == "sample" and "Hub unreachable" in description


def test_hub_error_falls_through_with_one_true_notice(env, capsys: pytest.CaptureFixture) -> None:
    def broken(hub, kind):
        raise ConnectionError("no route to host")

    asked = _hub_answers_with(env, broken)
    assert resolve_source("ncbi_disease")[0] == "hub"  # before the load: the Hub answers
    ds = load_ner("ncbi_disease")
    out = capsys.readouterr().out.strip().splitlines()
    assert out == ["bmcourse: ncbi_disease: embedded sample 'biomed_ner' (Hub failed (ConnectionError), "
                   "no BMCOURSE_DATA_DIR; illustration-sized)"]  # one line, and it does not claim the Hub
    assert ds["train"].features["ner_tags"].feature.names == ["O", "B-Disease", "I-Disease"]
    assert ds["train"].num_rows == load_ner("ncbi_disease", source="sample")["train"].num_rows
    capsys.readouterr()
    # After the fallback every report says where the rows came from, and later loads do not flip to the Hub.
    where, description = resolve_source("ncbi_disease")
    assert where == "sample" and "Hub failed (ConnectionError)" in description
    assert "Hub" not in source_label("ncbi_disease", kind="ner").replace("Hub failed", "")
    assert "ncbi_disease" in sources_summary()["embedded samples"]
    load_ner("ncbi_disease")
    assert asked == ["ncbi/ncbi_disease"]
    assert "Hugging Face Hub" not in capsys.readouterr().out
    assert resolve_source("wnut17")[0] == "hub"  # only the dataset that failed is remembered


def test_hub_error_with_a_data_folder_says_which_folder_is_missing(env, data_folder: Path,
                                                                   capsys: pytest.CaptureFixture) -> None:
    def broken(hub, kind):
        raise ConnectionError("no route to host")

    _hub_answers_with(env, broken)  # env is data_folder's monkeypatch: BMCOURSE_DATA_DIR stays set
    load_ner("wnut17")
    assert "(Hub failed (ConnectionError), no wnut17/ in BMCOURSE_DATA_DIR; illustration-sized)" \
        in capsys.readouterr().out


def test_hub_rows_are_validated_and_encoded(env, capsys: pytest.CaptureFixture) -> None:
    env.delenv("BMCOURSE_OFFLINE")
    env.setattr("bmcourse.data.hub_reachable", lambda: True)
    rows = {"train": [{"id": "0", "text": "great film", "label": "positive"}],
            "validation": [{"id": "0", "text": "dull", "label": "negative"}]}
    env.setattr("bmcourse.data.hub.load_hub_rows", lambda hub, kind: rows)
    ds = load_classification("sst2")
    assert ds["train"]["label"] == [1] and "stanfordnlp/sst2" in capsys.readouterr().out


def test_stratified_split_is_deterministic_and_keeps_shares() -> None:
    rows = [{"id": str(i), "text": f"t{i}", "label": "a" if i % 4 else "b"} for i in range(200)]
    first = stratified_split(rows, {"validation": 0.1, "test": 0.1}, seed=3)
    again = stratified_split(rows, {"validation": 0.1, "test": 0.1}, seed=3)
    assert first == again
    assert {k: len(v) for k, v in first.items()} == {"train": 160, "validation": 20, "test": 20}
    assert Counter(r["label"] for r in first["test"]) == {"a": 15, "b": 5}
    texts = [r["text"] for part in first.values() for r in part]
    assert sorted(texts) == sorted(r["text"] for r in rows)


def test_sources_summary_in_smoke_is_machine_independent(env) -> None:
    env.setenv("BMCOURSE_PROFILE", "smoke")
    summary = sources_summary()
    assert summary["embedded samples"] == [n for n, i in REGISTRY.items() if i.sample]


@pytest.mark.parametrize("folder,minimum", NER_SAMPLES.items())
def test_ner_samples_are_valid_and_big_enough(folder: str, minimum: int) -> None:
    name = next(n for n, i in REGISTRY.items() if i.sample == folder)
    ds = load_ner(name, source="sample")
    assert sum(ds.num_rows.values()) >= minimum and set(ds) == {"train", "validation", "test"}
    names = ds["train"].features["ner_tags"].feature.names
    for split in ds.values():
        for tags in split["ner_tags"]:
            assert not invalid_positions([names[t] for t in tags])
        seen = {names[t][2:] for tags in split["ner_tags"] for t in tags if names[t].startswith("B-")}
        assert seen == set(REGISTRY[name].types)  # every entity type occurs in every split
    assert (SAMPLES_DIR / folder / "meta.json").is_file()


@pytest.mark.parametrize("folder,minimum", TEXT_SAMPLES.items())
def test_classification_samples_are_big_enough(folder: str, minimum: int) -> None:
    name = next(n for n, i in REGISTRY.items() if i.sample == folder)
    ds = load_classification(name, source="sample")
    assert sum(ds.num_rows.values()) >= minimum and set(ds) == {"train", "validation", "test"}
    assert set(ds["test"]["label"]) == set(range(ds["test"].features["label"].num_classes))


def test_sample_intents_are_real_banking77_names(real_data_dir: Path) -> None:
    real = load_classification("banking77", source="local")["train"].features["label"].names
    sample = load_classification("banking77", source="sample")["train"].features["label"].names
    assert len(sample) >= 10 and set(sample) <= set(real)


def test_a_bug_in_hub_loading_is_not_hidden_by_the_fallback(env) -> None:
    env.delenv("BMCOURSE_OFFLINE")
    env.setattr("bmcourse.data.hub_reachable", lambda: True)

    def buggy(hub, kind):
        raise KeyError("ner_tags")  # a column problem, not the network

    env.setattr("bmcourse.data.hub.load_hub_rows", buggy)
    with pytest.raises(KeyError, match="ner_tags"):
        load_ner("ncbi_disease")


def test_explicit_hub_source_never_falls_back(env, capsys: pytest.CaptureFixture) -> None:
    env.delenv("BMCOURSE_OFFLINE")
    env.setattr("bmcourse.data.hub_reachable", lambda: True)

    def down(hub, kind):
        raise ConnectionError("no route to host")

    env.setattr("bmcourse.data.hub.load_hub_rows", down)
    with pytest.raises(BmcourseError, match=r"could not load 'ncbi_disease' from the Hub \(ConnectionError"):
        load_ner("ncbi_disease", source="hub")
    assert "embedded sample" not in capsys.readouterr().out


def _stray_i_rows(hub, kind) -> dict[str, list[dict]]:
    return {"train": [{"id": "0", "tokens": ["mild"], "ner_tags": ["O"]},
                      {"id": "1", "tokens": ["Acute", "asthma"], "ner_tags": ["I-Disease", "I-Disease"]}]}


def test_repaired_hub_rows_are_counted_and_reported(env, capsys: pytest.CaptureFixture) -> None:
    _hub_answers_with(env, _stray_i_rows)
    ds = load_ner("ncbi_disease", repair=True)
    out = capsys.readouterr().out
    assert "repaired 1 invalid I- tags into B- tags in hub:ncbi/ncbi_disease/train" in out
    names = ds["train"].features["ner_tags"].feature.names
    assert [names[t] for t in ds["train"][1]["ner_tags"]] == ["B-Disease", "I-Disease"]


def test_invalid_iob2_from_the_hub_fails_naming_dataset_split_row_and_fix(env, capsys: pytest.CaptureFixture) -> None:
    _hub_answers_with(env, _stray_i_rows)
    with pytest.raises(BmcourseError) as caught:
        load_ner("ncbi_disease")  # repair=False, the default: as strict as a local file
    message = str(caught.value)
    assert message.startswith("ncbi_disease from the Hub (ncbi/ncbi_disease), split 'train', row 2: invalid IOB2: "
                              "'I-Disease' at the start"), message
    assert "fix: load it with load_ner('ncbi_disease', repair=True)" in message
    assert capsys.readouterr().out == ""  # nothing announced the Hub rows that were refused


def test_an_unknown_hub_tag_fails_even_with_repair(env) -> None:
    _hub_answers_with(env, lambda hub, kind: {"train": [{"id": "0", "tokens": ["flu"], "ner_tags": ["B-Virus"]}]})
    with pytest.raises(BmcourseError, match=r"ncbi_disease from the Hub \(ncbi/ncbi_disease\), split 'train', "
                                            r"row 1: unknown tag 'B-Virus'(.|\n)*fix: use one of: O, B-Disease"):
        load_ner("ncbi_disease", repair=True)


def test_generated_splits_keep_original_ids_and_name_rare_labels(capsys: pytest.CaptureFixture) -> None:
    rows = [{"id": str(i), "text": f"t{i}", "label": "common"} for i in range(40)]
    rows.append({"id": "40", "text": "odd one", "label": "rare"})
    parts = stratified_split(rows, {"validation": 0.1, "test": 0.1}, seed=0)
    ids = sorted(int(r["id"]) for part in parts.values() for r in part)
    assert ids == list(range(41))  # every original id kept once, none renumbered
    assert all(r["text"] == f"t{r['id']}" for part in parts.values() for r in part if r["label"] == "common")
    assert "label 'rare' has only 1 example(s): none reaches the generated validation and test split" \
        in capsys.readouterr().out


def test_hub_row_conversion_reads_a_local_parquet_repo(env, tmp_path: Path) -> None:
    """load_hub_rows on a local parquet folder laid out like a Hub repo: ClassLabel ids become strings."""
    from datasets import ClassLabel, Dataset, Features, List, Value

    from bmcourse.data.hub import load_hub_rows
    from bmcourse.data.registry import HubSource

    env.setenv("BMCOURSE_CACHE_DIR", str(tmp_path / "cache"))
    names = ["O", "B-Disease", "I-Disease"]
    features = Features({"words": List(Value("string")), "tags": List(ClassLabel(names=names))})
    repo = tmp_path / "repo" / "data"
    repo.mkdir(parents=True)
    Dataset.from_dict({"words": [["Acute", "asthma", "."]], "tags": [[1, 2, 0]]},
                      features=features).to_parquet(str(repo / "train-00000-of-00001.parquet"))
    Dataset.from_dict({"words": [["fine"]], "tags": [[0]]},
                      features=features).to_parquet(str(repo / "test-00000-of-00001.parquet"))
    source = HubSource(str(tmp_path / "repo"), revision=None, columns={"tokens": "words", "ner_tags": "tags"})
    rows = load_hub_rows(source, "ner")
    assert set(rows) == {"train", "test"}
    assert rows["train"] == [{"id": "0", "tokens": ["Acute", "asthma", "."],
                              "ner_tags": ["B-Disease", "I-Disease", "O"]}]


def test_data_name_says_when_the_embedded_sample_stands_in(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Result lines (notebook headlines) name the data they used: the sample is never called BANKING77."""
    from bmcourse.data import data_name

    monkeypatch.setenv("BMCOURSE_PROFILE", "smoke")
    assert data_name("banking77", kind="classification") == "the embedded sample of banking77"
    monkeypatch.setenv("BMCOURSE_PROFILE", "full")
    monkeypatch.setenv("BMCOURSE_OFFLINE", "1")
    (tmp_path / "banking77").mkdir()
    (tmp_path / "banking77" / "train.jsonl").write_text('{"text": "hi", "label": "greeting"}\n')
    monkeypatch.setenv("BMCOURSE_DATA_DIR", str(tmp_path))
    assert data_name("banking77", kind="classification") == "banking77"
