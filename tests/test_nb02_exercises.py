"""Notebook 02's exercises, run from the notebook source: the reference answers pass, the
typical wrong answers fail (and the messages do not give the answer away)."""
from __future__ import annotations

import nbsource
import pytest
import torch

NB = "02"


def solved(exercise_id: str) -> dict:
    return nbsource.exercise(NB, exercise_id, solved=True)


def attempt(namespace: dict, key: str, answer: object):
    return namespace[key].check(answer)


@pytest.mark.parametrize("exercise_id, ex, answer", [
    ("02.1", "ex1", "count_entities"), ("02.2", "ex2", "align_all_subwords"),
    ("02.6", "ex6", "collate_batch"), ("02.3", "ex3", "padding_share"),
    ("02.4", "ex4", "entity_prf"), ("02.5", "ex5", "first_subword_tags"),
])
def test_placeholder_is_unanswered_and_solution_passes(exercise_id: str, ex: str, answer: str) -> None:
    nbsource.check_placeholder_then_solution(NB, exercise_id, ex, answer)


def test_02_1_counting_tagged_words_fails() -> None:
    ns = solved("02.1")

    def words_per_type(sentences):
        return dict(ns["Counter"](t[2:] for tags in sentences for t in tags if t != "O"))

    result = attempt(ns, "ex1", words_per_type)
    assert not result.passed and "💡" in result.message


def test_02_2_first_subword_only_and_b_on_continuations_fail() -> None:
    ns = solved("02.2")

    def first_only(word_ids, word_labels, label_names):
        out, previous = [], None
        for w in word_ids:
            out.append(-100 if w is None or w == previous else word_labels[w])
            previous = w
        return out

    def b_kept(word_ids, word_labels, label_names):  # continuation sub-words keep B-X
        return [-100 if w is None else word_labels[w] for w in word_ids]

    assert not attempt(ns, "ex2", first_only).passed
    assert not attempt(ns, "ex2", b_kept).passed


def _padded(features, fills, as_tensor=True):
    width = max(len(f["input_ids"]) for f in features)
    batch = {k: [list(f[k]) + [v] * (width - len(f[k])) for f in features] for k, v in fills.items()}
    return {k: torch.tensor(v) for k, v in batch.items()} if as_tensor else batch


def test_02_6_collate_wrong_padding_fails() -> None:
    ns = solved("02.6")
    right = {"input_ids": None, "attention_mask": 0, "labels": -100}

    def collate_with(**changes):
        return lambda features, pad_id: _padded(features, {**right, "input_ids": pad_id, **changes})

    labels_as_o = attempt(ns, "ex6", collate_with(labels=0))  # padding labelled O: the articles' bug
    assert not labels_as_o.passed and "labels" in labels_as_o.message
    assert not attempt(ns, "ex6", collate_with(input_ids=0)).passed  # hard-coded pad id
    assert not attempt(ns, "ex6", collate_with(attention_mask=1)).passed
    lists = attempt(ns, "ex6", lambda features, pad_id: _padded(features, {**right, "input_ids": pad_id}, False))
    assert not lists.passed and "tensor" in lists.message
    assert attempt(ns, "ex6", collate_with()).passed


def test_02_3_real_share_and_dynamic_padding_fail() -> None:
    ns = solved("02.3")
    assert not attempt(ns, "ex3", lambda lengths, width: sum(lengths) / (width * len(lengths))).passed
    assert not attempt(ns, "ex3", lambda lengths, width: 1 - sum(lengths) / (max(lengths) * len(lengths))).passed


def _token_prf(gold, pred):
    """Token-level micro precision, recall, F1 over the non-O tags (a common wrong answer)."""
    pairs = [(g, p) for gs, ps in zip(gold, pred) for g, p in zip(gs, ps)]
    tp = sum(g == p and g != "O" for g, p in pairs)
    predicted = sum(p != "O" for _, p in pairs)
    actual = sum(g != "O" for g, _ in pairs)
    precision, recall = tp / predicted, tp / actual
    return precision, recall, 2 * precision * recall / (precision + recall)


def test_02_4_precision_recall_and_token_f1_fail() -> None:
    ns = solved("02.4")
    p, r, f1 = ns["entity_prf"]
    assert abs(p - r) > 0.1  # the toy separates precision from recall
    for wrong in ((p, r, p), (p, r, r), p, r, (r, p, f1)):
        result = attempt(ns, "ex4", wrong)
        assert not result.passed and f"{f1:.4f}" not in result.message
    token = _token_prf(ns["ex4_gold"], ns["ex4_pred"])
    assert not attempt(ns, "ex4", token).passed
    assert not attempt(ns, "ex4", (p, r, token[2])).passed
    assert attempt(ns, "ex4", (p, r, f1)).passed


def test_02_5_last_subword_and_no_none_skipping_fail() -> None:
    ns = solved("02.5")

    def last_subword(word_ids, predictions, n_words):
        out = [0] * n_words
        for w, p in zip(word_ids, predictions):
            if w is not None:
                out[w] = p
        return out

    def no_skip(word_ids, predictions, n_words):  # a new word id starts a word, None included
        out, previous = [], object()
        for w, p in zip(word_ids, predictions):
            if w != previous:
                out.append(p)
            previous = w
        return out

    def shifted(word_ids, predictions, n_words):  # reads position i for word i, as if no [CLS]
        return (list(predictions) + [0] * n_words)[:n_words]

    for wrong in (last_subword, no_skip, shifted):
        assert not attempt(ns, "ex5", wrong).passed, wrong.__name__
    # the made-up cases really separate first from last sub-word
    cases = ns["ex5_cases"]
    assert any(last_subword(*case) != ns["first_subword_tags"](*case) for case in cases)
