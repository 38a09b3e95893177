"""Real datasets from BMCOURSE_DATA_DIR (CI: ../shared/data): sizes and label sets."""
from __future__ import annotations

from pathlib import Path

import pytest

from bmcourse.data import load_classification, load_ner

CONLL_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def test_conll2003_sizes_and_labels(real_data_dir: Path) -> None:
    ds = load_ner("conll2003")
    assert ds.num_rows == {"train": 14041, "validation": 3250, "test": 3453}
    assert ds["train"].features["ner_tags"].feature.names == CONLL_LABELS
    assert ds["train"][0]["tokens"][:3] == ["EU", "rejects", "German"]
    assert ds["train"][0]["ner_tags"][:3] == [3, 0, 7]  # B-ORG, O, B-MISC


@pytest.mark.parametrize("name,types,train", [
    ("wnut17", ["corporation", "creative-work", "group", "location", "person", "product"], 3394),
    ("ncbi_disease", ["Disease"], 5424),
    ("crossner_politics", ["country", "election", "event", "location", "misc", "organisation",
                           "person", "politicalparty", "politician"], 200),
])
def test_ner_sets_load_with_their_labels(real_data_dir: Path, name: str, types: list, train: int) -> None:
    ds = load_ner(name)
    names = ds["train"].features["ner_tags"].feature.names
    assert names == ["O"] + [f"{p}-{t}" for t in types for p in "BI"]
    assert len(ds["train"]) == train
    used = {names[t] for split in ds.values() for tags in split["ner_tags"] for t in tags}
    assert used == set(names)


@pytest.mark.parametrize("name,labels,total", [
    ("sst2", ["negative", "positive"], 67349 + 872),
    ("financial_phrasebank", ["negative", "neutral", "positive"], 2264),
])
def test_classification_sets_load_with_their_labels(real_data_dir: Path, name: str, labels: list, total: int) -> None:
    ds = load_classification(name)
    assert ds["train"].features["label"].names == labels
    assert sum(ds.num_rows.values()) == total and set(ds) == {"train", "validation", "test"}


def test_banking77_has_77_intents_and_a_stratified_validation(real_data_dir: Path) -> None:
    ds = load_classification("banking77")
    assert ds["train"].features["label"].num_classes == 77
    assert len(ds["test"]) == 3080 and len(ds["train"]) + len(ds["validation"]) == 10003
    assert len(set(ds["validation"]["label"])) == 77
