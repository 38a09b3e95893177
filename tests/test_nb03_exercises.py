"""Notebook 03's exercises, run from the notebook source: the reference answers pass and the
typical wrong answers fail, with messages that do not give the answer away."""
from __future__ import annotations

import nbsource
import pytest

NB = "03"


@pytest.mark.parametrize("exercise_id, ex, answer", [
    ("03.1", "ex1", "to_source_tags"), ("03.2", "ex2", "bitfit_names"), ("03.3", "ex3", "lora_params"),
    ("03.4", "ex4", "lora_gap"), ("03.5", "ex5", "source_gain"), ("03.6", "ex6", "recovered"),
])
def test_placeholder_is_unanswered_and_solution_passes(exercise_id: str, ex: str, answer: str) -> None:
    nbsource.check_placeholder_then_solution(NB, exercise_id, ex, answer)


def test_03_1_keeping_unmapped_entities_or_dropping_prefixes_fails() -> None:
    ns = nbsource.exercise(NB, "03.1", solved=True)
    check = ns["ex1"].check
    keep_unmapped = lambda tags, m: [t if t == "O" else f"{t[:2]}{m.get(t[2:], t[2:])}" for t in tags]  # noqa: E731
    all_begin = lambda tags, m: ["O" if t == "O" or t[2:] not in m else f"B-{m[t[2:]]}" for t in tags]  # noqa: E731
    types_only = lambda tags, m: [m.get(t[2:], "O") if t != "O" else "O" for t in tags]  # noqa: E731
    for wrong in (keep_unmapped, all_begin, types_only):
        assert not check(wrong).passed


def test_03_2_biases_without_the_head_or_every_parameter_fails() -> None:
    ns = nbsource.exercise(NB, "03.2", solved=True)
    check = ns["ex2"].check
    biases = lambda model: [n for n, _ in model.named_parameters() if n.endswith(".bias")]  # noqa: E731
    everything = lambda model: [n for n, _ in model.named_parameters()]  # noqa: E731
    for wrong in (biases, everything):
        assert not check(wrong).passed


def test_03_3_forgetting_the_head_or_a_matrix_fails() -> None:
    ns = nbsource.exercise(NB, "03.3", solved=True)
    config, r = ns["ex3_config"], ns["tr"].LORA_RANK
    d, layers, labels = config.hidden_size, config.num_hidden_layers, config.num_labels
    head = d * labels + labels
    for wrong in (layers * 2 * 2 * d * r, layers * 2 * d * r + head, layers * 2 * d * r * 2 + d * labels,
                  layers * 4 * 2 * d * r + head):
        result = ns["ex3"].check(wrong)
        assert not result.passed and str(ns["lora_params"]) not in result.message


def test_03_4_wrong_sign_or_wrong_init_fails() -> None:
    ns = nbsource.exercise(NB, "03.4", solved=True)
    gap = ns["lora_gap"]
    ref = ns["REF"]
    pretrained = {t: next(r["test_f1"] for r in ref["rows"] if (r["target"], r["strategy"], r["init"]) == (t, "full", "pretrained"))
                  - next(r["test_f1"] for r in ref["rows"] if (r["target"], r["strategy"], r["init"]) == (t, "lora", "pretrained"))
                  for t in gap}
    assert not ns["ex4"].check({t: -g for t, g in gap.items()}).passed
    assert pretrained != gap and not ns["ex4"].check(pretrained).passed


def test_03_5_wrong_sign_or_all_sizes_fails() -> None:
    ns = nbsource.exercise(NB, "03.5", solved=True)
    gain, tr, ref = ns["source_gain"], ns["tr"], ns["REF"]
    every_size = {t: tr.mean_and_spread(tr.paired_differences(ref["few_shot"], t, up_to=10**9))[0] for t in gain}
    assert not ns["ex5"].check({t: -g for t, g in gain.items()}).passed
    assert not ns["ex5"].check(every_size).passed


def test_03_6_absolute_points_or_the_complement_fails() -> None:
    ns = nbsource.exercise(NB, "03.6", solved=True)
    forget = ns["REF"]["forgetting"]
    points = {t: f["after_replay"] - f["after"] for t, f in forget.items() if f["before"] > f["after"]}
    complement = {t: 1 - share for t, share in ns["recovered"].items()}
    for wrong in (points, complement):
        assert not ns["ex6"].check(wrong).passed
