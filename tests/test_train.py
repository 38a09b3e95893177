"""Alignment, encoding, batching, the optimiser recipe and fit/evaluate/predict on the sample."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bmcourse.data import load_ner
from bmcourse.errors import BmcourseError
from bmcourse.models import load_token_classifier
from bmcourse.tagging import align_labels, inside_label_ids, word_chunks, word_predictions
from bmcourse.train import (
    TrainConfig,
    batch_indices,
    collate,
    encode_ner,
    evaluate,
    fit,
    make_optimizer,
    predict,
    warmup_linear,
)

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def test_align_first_subword_and_specials() -> None:
    word_ids = [None, 0, 0, 1, 2, 2, 2, None]
    assert align_labels(word_ids, [1, 0, 3]) == [-100, 1, -100, 0, 3, -100, -100, -100]


def test_align_every_subword_turns_b_into_i() -> None:
    inside = inside_label_ids(LABELS)
    assert inside == [0, 2, 2, 4, 4]
    assert align_labels([None, 0, 0, 1, None], [1, 3], True, inside) == [-100, 1, 2, 3, -100]


def test_word_predictions_read_first_subword() -> None:
    assert word_predictions([None, 0, 0, 1, 2, 2, None], [9, 1, 2, 0, 3, 4, 9]) == [1, 0, 3]
    assert word_predictions([None, 0, None], [9, 1, 9], n_words=3) == [1, 0, 0]


def test_word_chunks_fit_budget() -> None:
    assert word_chunks([3, 3, 3, 1], 6) == [(0, 2), (2, 4)]
    assert word_chunks([10, 1], 4) == [(0, 1), (1, 2)]


@pytest.fixture(scope="module")
def tiny():
    """The packaged model, the news sample and its labels."""
    import os

    os.environ.setdefault("BMCOURSE_OFFLINE", "1")
    data = load_ner("conll2003", source="sample")
    labels = data["train"].features["ner_tags"].feature.names
    model, tokenizer = load_token_classifier(labels, name="offline")
    return model, tokenizer, data


def test_training_truncation_is_counted(tiny, capsys: pytest.CaptureFixture) -> None:
    _, tokenizer, data = tiny
    features = encode_ner(data["train"], tokenizer, max_length=12)
    assert all(len(f["input_ids"]) <= 12 for f in features) and len(features) == len(data["train"])
    assert "truncated" in capsys.readouterr().out


def test_inference_chunks_lose_no_words(tiny) -> None:
    model, tokenizer, data = tiny
    features = encode_ner(data["validation"], tokenizer, max_length=12, training=False)
    assert len(features) > len(data["validation"])
    tags = predict(model, features, progress=False, device="cpu")
    assert [len(t) for t in tags] == [len(s) for s in data["validation"]["tokens"]]


def test_collate_pads_labels_with_ignore_index() -> None:
    batch = collate([{"input_ids": [1, 2, 3], "attention_mask": [1, 1, 1], "labels": [-100, 1, -100]},
                     {"input_ids": [1, 2], "attention_mask": [1, 1], "labels": [-100, 0]}])
    assert batch["labels"].tolist() == [[-100, 1, -100], [-100, 0, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]


def test_batches_cover_everything_once_and_group_lengths() -> None:
    lengths = [(i * 7) % 50 + 1 for i in range(200)]
    batches = batch_indices(lengths, 8, seed=1)
    assert sorted(i for b in batches for i in b) == list(range(200))
    assert batches == batch_indices(lengths, 8, seed=1)
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches)
    random = batch_indices(lengths, 8, seed=1, group_by_length=False)
    assert spread < sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in random) / 4


def test_optimizer_has_no_decay_on_bias_and_layernorm(tiny) -> None:
    model = tiny[0]
    groups = make_optimizer(model, 1e-4, 0.01).param_groups
    names = {id(p): n for n, p in model.named_parameters()}
    undecayed = [names[id(p)] for p in groups[1]["params"]]
    assert groups[1]["weight_decay"] == 0.0 and groups[0]["weight_decay"] == 0.01
    assert all(n.endswith("bias") or "LayerNorm" in n for n in undecayed)
    assert any("LayerNorm" in n for n in undecayed)


def test_schedule_warms_up_then_decays() -> None:
    factors = [warmup_linear(s, 10, 2) for s in range(10)]
    assert factors[:2] == [0.5, 1.0] and factors[-1] == pytest.approx(0.125) and factors[2] == 1.0


def test_frozen_model_is_refused(tiny) -> None:
    model = tiny[0]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        with pytest.raises(BmcourseError, match="no trainable parameters"):
            make_optimizer(model, 1e-4)
    finally:
        for p in model.parameters():
            p.requires_grad_(True)


def test_fit_learns_keeps_history_and_best_checkpoint(tiny, tmp_path: Path) -> None:
    _, tokenizer, data = tiny
    labels = data["train"].features["ner_tags"].feature.names
    torch.manual_seed(0)
    model, _ = load_token_classifier(labels, name="offline")
    train = encode_ner(data["train"], tokenizer)
    dev = encode_ner(data["validation"], tokenizer, training=False)
    before = evaluate(model, dev, progress=False, device="cpu")["loss"]
    config = TrainConfig(epochs=2, lr=3e-4, batch_size=16, eval_every=10, progress=False,
                         device="cpu", checkpoint_dir=str(tmp_path / "best"))
    result = fit(model, train, dev, config)
    assert [r["step"] for r in result.history] == [10, 20, 30, 36]
    assert result.history[-1]["dev_loss"] < before
    assert result.best["dev_f1"] == max(r["dev_f1"] for r in result.history)
    assert (tmp_path / "best" / "model.safetensors").is_file()
    assert evaluate(model, dev, progress=False, device="cpu")["f1"] == pytest.approx(result.best["dev_f1"])
    assert 0 < result.useful_tokens <= result.padded_tokens and result.useful_tokens_per_second > 0


def test_early_stopping_when_dev_stops_improving(tiny) -> None:
    _, tokenizer, data = tiny
    labels = data["train"].features["ner_tags"].feature.names
    model, _ = load_token_classifier(labels, name="offline")
    train = encode_ner(data["train"], tokenizer)
    dev = encode_ner(data["validation"], tokenizer, training=False)
    config = TrainConfig(epochs=3, lr=0.0, batch_size=16, eval_every=4, patience=2, progress=False, device="cpu")
    result = fit(model, train, dev, config)
    assert result.stopped_early and [r["step"] for r in result.history] == [4, 8, 12]


def test_sequence_classification_with_a_frozen_encoder() -> None:
    import os

    from bmcourse.data import load_classification
    from bmcourse.models import count_parameters, load_sequence_classifier
    from bmcourse.train import encode_classification

    os.environ.setdefault("BMCOURSE_OFFLINE", "1")
    data = load_classification("financial_phrasebank", source="sample")
    model, tokenizer = load_sequence_classifier(data["train"].features["label"].names, name="offline")
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("classifier"))
    trainable, total = count_parameters(model)
    assert 0 < trainable < total / 100
    train = encode_classification(data["train"], tokenizer)
    dev = encode_classification(data["validation"], tokenizer)
    result = fit(model, train, dev, TrainConfig(epochs=1, lr=1e-3, batch_size=32, progress=False, device="cpu"))
    assert set(result.history[-1]) >= {"dev_loss", "dev_accuracy", "dev_macro_f1"}
    assert predict(model, dev[:3], progress=False, device="cpu")[0] in ("negative", "neutral", "positive")
