"""Entity-level and token-level NER metrics on hand-made examples."""
from __future__ import annotations

import pytest

from bmcourse.errors import BmcourseError
from bmcourse.metrics import (
    CATEGORIES,
    entity_scores,
    error_categories,
    format_table,
    ner_report,
    per_type_report,
    token_accuracy,
    token_f1_with_o,
    token_report,
    type_confusion,
)

TRUE = [["B-PER", "I-PER", "O", "O", "B-LOC"],
        ["O", "B-ORG", "I-ORG", "I-ORG", "O", "O"]]


def test_perfect_prediction() -> None:
    scores = entity_scores(TRUE, TRUE)
    assert scores == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 3}
    assert entity_scores(TRUE, TRUE, strict=True)["f1"] == 1.0
    assert token_accuracy(TRUE, TRUE) == 1.0


def test_one_missed_entity() -> None:
    pred = [["B-PER", "I-PER", "O", "O", "O"], TRUE[1]]
    scores = entity_scores(TRUE, pred)
    assert scores["precision"] == 1.0
    assert scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(0.8)
    assert scores["support"] == 3


def test_all_o_pitfall() -> None:
    """Predicting O everywhere looks good per token and scores 0 on entities."""
    pred = [["O"] * len(s) for s in TRUE]
    assert token_accuracy(TRUE, pred) == pytest.approx(5 / 11)
    true = [["O"] * 18 + ["B-PER", "I-PER"]]
    pred = [["O"] * 20]
    assert token_accuracy(true, pred) == pytest.approx(0.9)
    assert token_f1_with_o(true, pred) == pytest.approx(0.9)
    assert token_accuracy(true, pred, exclude_o=True) == 0.0
    assert entity_scores(true, pred)["f1"] == 0.0
    report = ner_report(true, pred)
    assert report["f1"] == 0.0 and report["f1_strict"] == 0.0
    assert report["token_accuracy"] == pytest.approx(0.9)


def test_lenient_vs_strict_on_stray_i() -> None:
    true, pred = [["B-PER", "I-PER", "O"]], [["I-PER", "I-PER", "O"]]
    assert entity_scores(true, pred)["f1"] == 1.0
    strict = entity_scores(true, pred, strict=True)
    assert strict["f1"] == 0.0 and strict["support"] == 1
    report = ner_report(true, pred)
    assert report["f1"] == 1.0 and report["f1_strict"] == 0.0


def test_token_f1_with_o_equals_accuracy_and_sklearn_counting() -> None:
    true = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "O", "B-ORG"]]
    pred = [["B-PER", "O", "O", "B-ORG"], ["O", "B-LOC", "B-ORG"]]
    # by hand: 4 of 7 right; every error is one FP (pred tag) and one FN (true tag)
    assert token_accuracy(true, pred) == pytest.approx(4 / 7)
    assert token_f1_with_o(true, pred) == pytest.approx(4 / 7)
    rows = {r["tag"]: r for r in token_report(true, pred)}
    assert list(rows) == ["B-LOC", "B-ORG", "B-PER", "I-PER", "O"]
    assert rows["O"]["precision"] == pytest.approx(2 / 3)   # O predicted 3 times, 2 right
    assert rows["O"]["recall"] == pytest.approx(2 / 3)      # O true 3 times, 2 found
    assert rows["B-ORG"]["precision"] == pytest.approx(1 / 2) and rows["B-ORG"]["recall"] == 1.0
    assert rows["I-PER"]["f1"] == 0.0 and rows["I-PER"]["support"] == 1
    assert sum(r["support"] for r in rows.values()) == 7
    averaged = token_report(true, pred, averages=True)
    assert [r["tag"] for r in averaged[-2:]] == ["micro avg", "macro avg"]
    assert averaged[-2]["f1"] == pytest.approx(4 / 7)


def test_token_report_matches_sklearn() -> None:
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    true = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "O", "B-ORG"]]
    pred = [["B-PER", "O", "O", "B-ORG"], ["O", "B-LOC", "B-ORG"]]
    flat_t, flat_p = sum(true, []), sum(pred, [])
    expected = sklearn_metrics.classification_report(flat_t, flat_p, output_dict=True,
                                                     zero_division=0)
    for row in token_report(true, pred):
        assert row["f1"] == pytest.approx(expected[row["tag"]]["f1-score"])
        assert row["precision"] == pytest.approx(expected[row["tag"]]["precision"])
    micro = sklearn_metrics.f1_score(flat_t, flat_p, average="micro")
    assert token_f1_with_o(true, pred) == pytest.approx(micro)


def test_per_type_report_rows() -> None:
    pred = [["B-PER", "I-PER", "O", "O", "O"], TRUE[1]]
    rows = per_type_report(TRUE, pred)
    assert [r["type"] for r in rows] == ["LOC", "ORG", "PER", "micro avg", "macro avg"]
    assert set(rows[0]) == {"type", "precision", "recall", "f1", "support"}
    assert rows[0]["f1"] == 0.0 and rows[1]["f1"] == 1.0 and rows[2]["support"] == 1
    assert rows[-1]["f1"] == pytest.approx(2 / 3)
    assert all(isinstance(r["f1"], float) and isinstance(r["support"], int) for r in rows)


def test_no_entities_anywhere() -> None:
    rows = per_type_report([["O", "O"]], [["O", "O"]])
    assert [r["type"] for r in rows] == ["micro avg", "macro avg"]
    assert entity_scores([["O"]], [["O"]]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0,
                                               "support": 0}


def test_format_table() -> None:
    rows = [{"type": "LOC", "f1": 0.5, "support": 3}, {"type": "micro avg", "f1": 2 / 3,
                                                       "support": 10}]
    text = format_table(rows, digits=2)
    assert text.splitlines() == ["type         f1  support",
                                 "------------------------",
                                 "LOC        0.50        3",
                                 "micro avg  0.67       10"]
    assert format_table(rows) == format_table(rows)
    assert "0.667" in format_table(rows)
    assert format_table([]) == "(no rows)"
    with pytest.raises(BmcourseError):
        format_table([{"a": 1}, {"b": 2}])


def test_mismatched_lengths_name_the_sentence() -> None:
    pred = [TRUE[0], TRUE[1][:-1]]
    with pytest.raises(BmcourseError, match=r"sentence 1: true has 6 tags but pred has 5"):
        entity_scores(TRUE, pred)
    with pytest.raises(BmcourseError, match="sentence 1"):
        token_accuracy(TRUE, pred)
    with pytest.raises(BmcourseError, match="2 sentences but pred has 1"):
        token_f1_with_o(TRUE, TRUE[:1])
    with pytest.raises(BmcourseError, match="lists of sentences"):
        entity_scores(TRUE[0], TRUE[0])
    with pytest.raises(BmcourseError, match="sentence 0, position 1"):
        token_accuracy([["O", "PER"]], [["O", "O"]])


WORDS = [["the", "Bank", "of", "England", "said"],      # 0: wrong boundary (ORG -> ORG)
         ["Paris", "is", "in", "France"],                # 1: correct + wrong type
         ["John", "Smith", "met", "Mary"],               # 2: missed + spurious
         ["New", "York", "Times", "story"]]              # 3: wrong type and boundary
GOLD = [["O", "B-ORG", "I-ORG", "I-ORG", "O"],
        ["B-LOC", "O", "O", "B-LOC"],
        ["B-PER", "I-PER", "O", "O"],
        ["B-ORG", "I-ORG", "I-ORG", "O"]]
PRED = [["O", "O", "O", "B-ORG", "O"],
        ["B-LOC", "O", "O", "B-ORG"],
        ["O", "O", "O", "B-PER"],
        ["B-LOC", "I-LOC", "O", "O"]]


def test_error_categories_counts_and_examples() -> None:
    result = error_categories(WORDS, GOLD, PRED)
    assert list(result) == list(CATEGORIES)
    assert {k: v["count"] for k, v in result.items()} == {
        "correct": 1, "wrong type": 1, "wrong boundary": 1, "wrong type and boundary": 1,
        "missed": 1, "spurious": 1}
    assert result["wrong boundary"]["examples"] == [
        {"sentence": 0, "text": "the Bank of England said", "gold": "Bank of England (ORG)",
         "pred": "England (ORG)"}]
    assert result["wrong type"]["examples"][0]["gold"] == "France (LOC)"
    assert result["wrong type"]["examples"][0]["pred"] == "France (ORG)"
    assert result["missed"]["examples"][0] == {"sentence": 2, "text": "John Smith met Mary",
                                              "gold": "John Smith (PER)", "pred": None}
    assert result["spurious"]["examples"][0]["gold"] is None
    assert result["spurious"]["examples"][0]["pred"] == "Mary (PER)"
    assert result["wrong type and boundary"]["examples"][0]["pred"] == "New York (LOC)"
    assert error_categories(WORDS, GOLD, PRED) == result


def test_error_categories_stray_i_and_example_limit() -> None:
    words = [["a", "b", "c"]] * 4
    gold = [["B-PER", "I-PER", "O"]] * 4
    pred = [["I-PER", "I-PER", "O"]] * 4   # invalid IOB2, still the same span
    result = error_categories(words, gold, pred, max_examples=2)
    assert result["correct"]["count"] == 4 and len(result["correct"]["examples"]) == 2
    assert sum(v["count"] for k, v in result.items() if k != "spurious") == 4
    with pytest.raises(BmcourseError, match="sentence 0: 2 words but 3 tags"):
        error_categories([["a", "b"]], gold[:1], pred[:1])


def test_type_confusion_matrix() -> None:
    labels, matrix = type_confusion(GOLD, PRED)
    assert labels == ["LOC", "ORG", "PER", "O"]
    #            LOC ORG PER  O     (predicted)
    assert matrix == [[1, 1, 0, 0],   # gold LOC: Paris ok, France -> ORG
                      [0, 0, 0, 2],   # gold ORG: both boundaries wrong -> missed
                      [0, 0, 0, 1],   # gold PER: John Smith missed
                      [1, 1, 1, 0]]   # spurious: New York LOC, England ORG, Mary PER
    assert type_confusion([["O"]], [["O"]]) == (["O"], [[0]])
