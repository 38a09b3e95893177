"""bmcourse.deploy.drift: PSI, the retraining trigger (threshold + patience), the monitor on a shifted
and an in-domain stream, the stream itself, the tagger's label-free outputs, and clear errors."""
from __future__ import annotations

import math
import random

import pytest
import torch

from bmcourse import deploy
from bmcourse.errors import BmcourseError
from bmcourse.train import encode_ner, word_tags

TYPES = ["PER", "LOC"]


def _sentences(rng: random.Random, n: int, entity_share: float, confidence: float, length: int = 12):
    """``n`` synthetic (confidences, tags) sentences: each word an entity with ``entity_share``, its
    confidence around ``confidence``."""
    out = []
    for _ in range(n):
        tags = [rng.choice(("B-PER", "B-LOC")) if rng.random() < entity_share else "O" for _ in range(length)]
        out.append(([min(1.0, max(0.0, rng.gauss(confidence, 0.05))) for _ in tags], tags))
    return out


# --- PSI ----------------------------------------------------------------------------------------

def test_psi_by_hand_counts_or_shares_and_zero_for_the_same_mix() -> None:
    reference, window = [80, 15, 5], [60, 25, 15]
    by_hand = sum((w - r) * math.log(w / r) for r, w in zip((0.8, 0.15, 0.05), (0.6, 0.25, 0.15)))
    assert deploy.psi(reference, window) == pytest.approx(by_hand)
    assert deploy.psi([0.8, 0.15, 0.05], [0.6, 0.25, 0.15]) == pytest.approx(by_hand)  # shares work too
    assert deploy.psi(reference, [160, 30, 10]) == pytest.approx(0.0, abs=1e-12)  # same mix, twice the words
    assert deploy.psi(reference, window) == pytest.approx(deploy.psi(window, reference))  # symmetric
    assert deploy.psi(reference, window) > 0


def test_psi_floors_an_empty_bin_so_it_stays_finite() -> None:
    value = deploy.psi([90, 10, 0], [90, 5, 5])
    expected = sum((w - r) * math.log(w / r) for r, w in zip((0.9, 0.1, deploy.PSI_FLOOR), (0.9, 0.05, 0.05)))
    assert math.isfinite(value) and value == pytest.approx(expected)


@pytest.mark.parametrize(("reference", "window", "match"), [
    ([1, 2], [1, 2, 3], "same bins, got 2 and 3"),
    ([], [], "same bins, got 0 and 0"),
    ([1, -1], [1, 1], "reference counts must be finite, non-negative"),
    ([1, 1], [0, 0], "window counts must be finite, non-negative and not all zero"),
    ([1, float("nan")], [1, 1], "reference counts must be finite"),
])
def test_psi_refuses_bad_input_with_a_fix(reference, window, match) -> None:
    with pytest.raises(BmcourseError, match=match) as error:
        deploy.psi(reference, window)
    assert error.value.fix


# --- the trigger ---------------------------------------------------------------------------------

def test_first_trigger_needs_patience_windows_in_a_row() -> None:
    values = [0.02, 0.3, 0.01, 0.2, 0.2, 0.25, 0.3]
    assert deploy.first_trigger(values, 0.1, 1) == 1  # no patience: the first noisy window fires
    assert deploy.first_trigger(values, 0.1, 2) == 4  # the run at 1 is broken by window 2
    assert deploy.first_trigger(values, 0.1, 3) == 5
    assert deploy.first_trigger(values, 0.2, 3) == 5  # at the threshold counts
    assert deploy.first_trigger(values, 0.1, 5) is None
    assert deploy.first_trigger([], 0.1, 3) is None


@pytest.mark.parametrize(("threshold", "patience", "match"), [(0.1, 0, "patience must be at least 1"),
                                                              (float("nan"), 2, "threshold must be a finite")])
def test_first_trigger_refuses_bad_settings(threshold, patience, match) -> None:
    with pytest.raises(BmcourseError, match=match):
        deploy.first_trigger([0.5], threshold, patience)


# --- the monitor ---------------------------------------------------------------------------------

def test_the_monitor_fires_on_a_shifted_stream_and_not_on_an_in_domain_one() -> None:
    rng = random.Random(0)
    reference = _sentences(rng, 200, 0.18, 0.92)
    in_domain = [_sentences(rng, 40, 0.18, 0.92) for _ in range(20)]
    shifted = in_domain[:8] + [_sentences(rng, 40, 0.06, 0.80) for _ in range(12)]
    calm = deploy.DriftMonitor(reference, TYPES, threshold=0.1, patience=3)
    rows = [calm.observe(window) for window in in_domain]
    assert calm.fired_at is None and not any(r["retrain"] for r in rows)
    assert max(r["psi"] for r in rows) < 0.1
    watched = deploy.DriftMonitor(reference, TYPES, threshold=0.1, patience=3)
    rows = [watched.observe(window) for window in shifted]
    assert watched.fired_at == 8 + 2  # three shifted windows in a row, the trigger on the third
    assert [r["window"] for r in rows if r["retrain"]] == [10]  # it fires once
    assert all(r["confidence_drop"] > 0.05 for r in rows[8:])
    on_confidence = deploy.DriftMonitor(reference, TYPES, threshold=0.05, patience=2, statistic="confidence_drop")
    for window in shifted:
        on_confidence.observe(window)
    assert on_confidence.fired_at == 9


def test_window_stats_count_words_per_predicted_type() -> None:
    outputs = [([0.9, 0.5, 1.0], ["B-PER", "I-PER", "O"]), ([0.6], ["B-LOC"])]
    stats = deploy.window_stats(outputs, TYPES)
    assert stats["counts"] == [1, 2, 1] and stats["words"] == 4 and stats["sentences"] == 2
    assert stats["confidence"] == pytest.approx(0.75) and stats["entity_share"] == pytest.approx(0.75)


def test_the_monitor_and_stats_refuse_bad_input() -> None:
    good = [([0.9], ["O"])]
    with pytest.raises(BmcourseError, match="statistic='f1' is not monitored"):
        deploy.DriftMonitor(good, TYPES, statistic="f1")
    with pytest.raises(BmcourseError, match="patience must be at least 1"):
        deploy.DriftMonitor(good, TYPES, patience=0)
    with pytest.raises(BmcourseError, match="a window holds no words"):
        deploy.DriftMonitor(good, TYPES).observe([([], [])])
    with pytest.raises(BmcourseError, match=r"tags of types \['ORG'\] are not among") as error:
        deploy.window_stats([([0.9], ["B-ORG"])], TYPES)
    assert "types_of" in error.value.fix


# --- the stream ----------------------------------------------------------------------------------

def test_drift_stream_ramps_the_shifted_share_and_repeats_only_when_a_pool_runs_out() -> None:
    stream = deploy.drift_stream(500, 500, windows=8, size=10, shift_at=3, ramp=4, seed=1)
    shares = [sum(pool == "shifted" for pool, _ in window) / 10 for window in stream]
    assert shares == [0, 0, 0, 0.2, 0.5, 0.8, 1.0, 1.0]  # round(share * size): 2.5 rounds to 2
    assert all(len(window) == 10 for window in stream)
    rows = [row for window in stream for row in window]
    assert len(set(rows)) == len(rows)  # pools large enough: no sentence twice
    calm = deploy.drift_stream(500, 0, windows=4, size=10, shift_at=None)
    assert all(pool == "in" for window in calm for pool, _ in window)
    small = deploy.drift_stream(5, 5, windows=3, size=10, shift_at=None)
    assert sorted(i for window in small for _, i in window) == sorted(list(range(5)) * 6)  # whole passes
    assert deploy.drift_stream(50, 50, windows=5, size=4, shift_at=2, seed=7) == \
        deploy.drift_stream(50, 50, windows=5, size=4, shift_at=2, seed=7)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"windows": 0, "size": 10, "shift_at": None}, "windows, size and ramp must be at least 1"),
    ({"windows": 5, "size": 10, "shift_at": 5}, "shift_at=5 is outside the stream's 5 windows"),
    ({"windows": 5, "size": 10, "shift_at": 2, "ramp": 0}, "windows, size and ramp must be at least 1"),
])
def test_drift_stream_refuses_bad_settings(kwargs, match) -> None:
    with pytest.raises(BmcourseError, match=match):
        deploy.drift_stream(10, 10, **kwargs)
    with pytest.raises(BmcourseError, match="a pool is empty"):
        deploy.drift_stream(10, 0, windows=5, size=10, shift_at=2)


# --- the tagger's outputs ------------------------------------------------------------------------

def test_word_outputs_are_the_softmax_top_and_argmax_at_first_subwords(tiny_model, packaged_tokenizer) -> None:
    labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    model = tiny_model(labels, seed=3).eval()
    sentences = [["Angela", "Merkel", "visited", "Paris", "."], ["Nothing", "here"]]
    features = encode_ner(sentences, packaged_tokenizer, training=False, quiet=True)
    outputs = deploy.word_outputs(model, features, progress=False)
    assert [len(c) for c, _ in outputs] == [5, 2] and [len(t) for _, t in outputs] == [5, 2]
    for (confidence, tags), feature in zip(outputs, features):
        with torch.no_grad():
            ids = torch.tensor([feature["input_ids"]])
            probs = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0].softmax(-1)
        firsts = [i for i, w in enumerate(feature["word_ids"]) if w is not None
                  and (i == 0 or feature["word_ids"][i - 1] != w)]
        assert confidence == pytest.approx(probs[firsts].max(-1).values.tolist(), abs=1e-5)
        assert tags == [labels[int(i)] for i in probs[firsts].argmax(-1)]
    with pytest.raises(BmcourseError, match="no features"):
        deploy.word_outputs(model, [], progress=False)
    # a word the tokenizer drops (a zero-width space) still gets its place: O, and no confidence
    features = encode_ner([["Paris", "\u200b", "today"]], packaged_tokenizer, training=False, quiet=True)
    [(confidence, tags)] = deploy.word_outputs(model, features, progress=False)
    assert len(tags) == 3 and tags[1] == "O" and math.isnan(confidence[1]) and not math.isnan(confidence[2])
    gold, pred = word_tags(model, features, progress=False)
    assert tags == pred[0]  # the same tags evaluate() scores
    stats = deploy.window_stats([(confidence, tags)], ["PER", "LOC"])
    assert stats["words"] == 3 and stats["confidence"] == pytest.approx((confidence[0] + confidence[2]) / 2)


# --- the shipped reference's route ---------------------------------------------------------------

def test_reference_refresh_drift_refuses_the_samples(env, capsys) -> None:
    from bmcourse.course import refresh
    from bmcourse.course.cli import main

    assert "drift" in refresh.BENCH_WHATS
    env.setenv("BMCOURSE_PROFILE", "smoke")
    before = (refresh.Path(refresh.__file__).parents[1] / "reference" / "drift_reference.json").read_bytes()
    assert main(["reference", "refresh", "drift"]) == 1
    assert "the drift reference needs the real conll2003, wnut17" in capsys.readouterr().err
    assert (refresh.Path(refresh.__file__).parents[1] / "reference" / "drift_reference.json").read_bytes() == before
