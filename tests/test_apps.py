"""bmcourse.apps, sections 1-3: calibration, the handoff threshold, the alert monitor and retrieval."""
from __future__ import annotations

import math

import pytest
import torch

from bmcourse import apps
from bmcourse.errors import BmcourseError


def _calibrated_logits(n: int = 4000, classes: int = 5, temperature: float = 3.0, seed: int = 0):
    """Logits whose softmax at ``temperature`` is the true label distribution, and labels drawn from it."""
    gen = torch.Generator().manual_seed(seed)
    base = torch.randn(n, classes, generator=gen) * 2
    labels = torch.multinomial(base.softmax(-1), 1, generator=gen).squeeze(1)
    return base * temperature, labels


def test_fit_temperature_recovers_the_scale_of_overconfident_logits() -> None:
    logits, labels = _calibrated_logits(temperature=3.0)
    t = apps.fit_temperature(logits, labels)
    assert 2.6 < t < 3.4
    before = apps.confidence_and_prediction(logits)
    after = apps.confidence_and_prediction(logits, t)
    assert torch.equal(before[1], after[1])  # scaling never changes a prediction
    ece = lambda c, p: apps.expected_calibration_error(c, p == labels)  # noqa: E731
    assert ece(*after) < 0.03 < ece(*before)


def test_temperature_must_be_positive() -> None:
    with pytest.raises(BmcourseError, match="positive"):
        apps.confidence_and_prediction(torch.zeros(2, 3), 0.0)


def test_reliability_bins_count_every_prediction_once_including_the_edges() -> None:
    rows = apps.reliability_bins([0.0, 0.1, 0.15, 0.95, 1.0], [True, False, True, True, False], bins=10)
    assert sum(r["count"] for r in rows) == 5
    assert rows[0]["count"] == 2 and rows[1]["count"] == 1 and rows[9]["count"] == 2
    assert rows[9]["accuracy"] == 0.5 and math.isnan(rows[5]["accuracy"])
    with pytest.raises(BmcourseError, match="one confidence"):
        apps.reliability_bins([0.5], [True, False])


def test_ece_by_hand() -> None:
    # bin (0.5, 0.6]: conf 0.55 x2, one right -> gap 0.05; bin (0.9, 1]: conf 1.0 x2, both right -> 0
    assert apps.expected_calibration_error([0.55, 0.55, 1.0, 1.0], [True, False, True, True]) == pytest.approx(0.025)


def test_coverage_curve_and_threshold_pick_the_most_coverage_that_meets_the_target() -> None:
    conf = [0.99, 0.9, 0.9, 0.8, 0.6, 0.3]
    ok = [True, True, False, True, True, False]
    curve = apps.coverage_curve(conf, ok)
    assert [r["threshold"] for r in curve] == [0.3, 0.6, 0.8, 0.9, 0.99]  # ties enter together
    assert curve[-2] == {"threshold": 0.9, "coverage": 0.5, "accuracy": pytest.approx(2 / 3)}
    assert apps.pick_threshold(conf, ok, 0.8)["threshold"] == 0.6  # 4/5 right at coverage 5/6
    assert apps.pick_threshold(conf, ok, 1.0)["threshold"] == 0.99
    assert apps.pick_threshold([0.5, 0.4], [False, False], 0.5) is None
    routed = apps.routed_scores(conf, ok, 0.6)
    assert routed["to_human"] == 1 and routed["accuracy"] == pytest.approx(0.8)


def test_round_threshold_routes_the_same_requests_with_the_fewest_digits() -> None:
    conf = [0.7731, 0.77254, 0.61, 0.8, 0.9]
    assert apps.round_threshold(conf, 0.7731) == 0.773  # between 0.77254 and 0.7731, margin 1e-4 kept
    assert apps.round_threshold(conf, 0.8) == 0.78
    assert apps.round_threshold(conf, 0.61) == 0.1  # nothing below: any value up to the score works
    assert apps.round_threshold([0.50001, 0.5], 0.50001) == 0.50001  # no room for a margin: the score itself
    for t in (0.7731, 0.8, 0.61, 0.9):
        rounded = apps.round_threshold(conf, t)
        assert apps.routed_scores(conf, [True] * 5, rounded) == {**apps.routed_scores(conf, [True] * 5, t),
                                                                 "threshold": rounded}
        assert min(abs(rounded - c) for c in conf) >= 1e-4 - 1e-12


def test_confused_pairs_count_both_directions() -> None:
    rows = apps.confused_pairs([0, 0, 1, 2, 2, 1], [1, 1, 0, 2, 0, 1], ["a", "b", "c"], top=2)
    assert rows[0] == {"a": "a", "b": "b", "errors": 3, "a_as_b": 2, "b_as_a": 1}
    assert rows[1]["a"] == "a" and rows[1]["b"] == "c" and rows[1]["b_as_a"] == 1


def test_stream_is_seeded_and_puts_more_negatives_in_the_bad_periods() -> None:
    labels = ["negative"] * 20 + ["neutral"] * 60 + ["positive"] * 20
    a = apps.simulate_stream(labels, length=600, periods=[(100, 200), (400, 450)], seed=3)
    b = apps.simulate_stream(labels, length=600, periods=[(100, 200), (400, 450)], seed=3)
    assert a.rows == b.rows and len(a) == 600 and sum(a.bad) == 150
    neg = [labels[r] == "negative" for r in a.rows]
    inside = sum(n for n, bad in zip(neg, a.bad) if bad) / 150
    outside = sum(n for n, bad in zip(neg, a.bad) if not bad) / 450
    assert inside > 0.45 and outside < 0.3
    with pytest.raises(BmcourseError, match="not inside"):
        apps.simulate_stream(labels, length=10, periods=[(5, 20)])
    with pytest.raises(BmcourseError, match="both"):
        apps.simulate_stream(["neutral"] * 5, length=10, periods=[])


def test_rolling_share_and_alert_scores_by_hand() -> None:
    assert apps.rolling_share([1, 0, 1, 1, 0, 0], 2) == [1.0, 0.5, 0.5, 1.0, 0.5, 0.0]
    alerts = [False, True, True, False, False, False, True, False, False, False]
    assert apps.alert_episodes(alerts) == [(1, 3), (6, 7)]
    scores = apps.alert_scores(alerts, [(0, 3), (8, 9)], grace=1)
    assert scores["precision"] == 0.5 and scores["recall"] == 0.5 and scores["delays"] == [1, None]
    assert scores["false_alarms"] == 1
    with pytest.raises(BmcourseError, match="window"):
        apps.rolling_share([True], 0)


def test_recall_at_k_knn_vote_and_per_class_sample() -> None:
    neighbours = [[1, 0, 0], [2, 2, 1], [0, 1, 1]]
    assert apps.recall_at_k([0, 1, 1], neighbours, 1) == 0.0
    assert apps.recall_at_k([0, 1, 1], neighbours, 2) == pytest.approx(2 / 3)
    assert apps.recall_at_k([0, 1, 1], neighbours, 3) == 1.0
    assert apps.knn_vote(neighbours, [[0.9, 0.5, 0.5], [0.6, 0.5, 0.9], [0.5, 0.4, 0.4]], 3) == [0, 2, 1]
    assert apps.knn_vote([[3, 4]], [[0.5, 0.5]], 2) == [3]  # a tie goes to the nearer neighbour
    rows = apps.per_class_sample([0, 0, 0, 1, 1, 2], 2, seed=1)
    assert len(rows) == 5 and {0, 1, 2} <= {[0, 0, 0, 1, 1, 2][r] for r in rows} and rows == sorted(rows)
    with pytest.raises(BmcourseError, match="neighbour"):
        apps.recall_at_k([0], [], 1)


def test_sentence_embeddings_ignore_padding_and_nearest_skips_itself(packaged_tokenizer) -> None:
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=packaged_tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = BertModel(config)
    texts = ["card arrived", "how do i top up my account with a card from another country", "exchange rate"]
    together = apps.sentence_embeddings(model, packaged_tokenizer, texts, device="cpu")
    alone = apps.sentence_embeddings(model, packaged_tokenizer, texts[:1], device="cpu")
    assert together.shape == (3, 32)
    assert torch.allclose(together[0], alone[0], atol=1e-5)
    assert torch.allclose(together.norm(dim=-1), torch.ones(3))
    scores, ids = apps.nearest(together, together, 5, exclude_self=True)
    assert ids.shape == (3, 2) and all(i not in row for i, row in enumerate(ids.tolist()))


def test_class_logits_match_the_model_in_any_order(tiny_model, packaged_tokenizer) -> None:
    from bmcourse.train import encode_classification

    model = tiny_model(["a", "b", "c"], kind="sequence")
    features = encode_classification(["short", "a much longer text than the first one", "mid size text"],
                                     packaged_tokenizer)
    logits = apps.class_logits(model, features, batch_size=2, device="cpu")
    model.eval()
    with torch.no_grad():
        one = model(input_ids=torch.tensor([features[1]["input_ids"]])).logits[0]
    assert logits.shape == (3, 3) and torch.allclose(logits[1], one, atol=1e-5)
    with pytest.raises(BmcourseError, match="no features"):
        apps.class_logits(model, [])


def test_class_report_by_hand() -> None:
    rows = apps.class_report([0, 0, 1, 2], [0, 1, 1, 1], ["neg", "neu", "pos"])
    assert rows[0] == {"class": "neg", "precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert rows[1]["precision"] == pytest.approx(1 / 3) and rows[2]["f1"] == 0.0
    assert rows[-1]["class"] == "macro average" and rows[-1]["support"] == 4


def test_cautious_threshold_asks_for_more_evidence_than_the_point_estimate() -> None:
    assert apps.wilson_lower_bound(0, 0) == 0.0
    assert apps.wilson_lower_bound(95, 100) < 0.95 < apps.wilson_lower_bound(9500, 10000) + 0.01
    assert apps.wilson_lower_bound(10, 10) < apps.wilson_lower_bound(1000, 1000) <= 1.0
    gen = torch.Generator().manual_seed(0)
    conf = torch.rand(2000, generator=gen)
    correct = torch.rand(2000, generator=gen) < conf  # right with probability = confidence
    plain = apps.pick_threshold(conf, correct, 0.9)
    cautious = apps.pick_threshold(conf, correct, 0.9, cautious=True)
    assert plain["accuracy"] >= 0.9 and cautious["threshold"] > plain["threshold"]
    assert cautious["coverage"] < plain["coverage"]
