"""Alignment, encoding, batching, the optimiser recipe and fit/evaluate/predict on the sample."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bmcourse.data import load_ner
from bmcourse.errors import BmcourseError
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
def sample() -> tuple:
    """The news sample (train/validation) and its label names."""
    data = load_ner("conll2003", source="sample")
    return data, data["train"].features["ner_tags"].feature.names


@pytest.fixture()
def tiny(sample, tiny_model, packaged_tokenizer) -> tuple:
    """A fresh one-layer random BERT for the news labels, the packaged tokenizer and the sample."""
    data, labels = sample
    return tiny_model(labels), packaged_tokenizer, data


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
    features = [{"input_ids": [5, 6, 7], "attention_mask": [1, 1, 1], "labels": [-100, 1, -100]},
                {"input_ids": [5, 6], "attention_mask": [1, 1], "labels": [-100, 0]}]
    batch = collate(features, pad_id=1)  # RoBERTa-style pad id: never a default 0
    assert batch["input_ids"].tolist() == [[5, 6, 7], [5, 6, 1]]
    assert batch["labels"].tolist() == [[-100, 1, -100], [-100, 0, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]


def test_collate_takes_the_pad_id_recorded_by_the_encoder_and_refuses_to_guess(packaged_tokenizer) -> None:
    features = encode_ner([["Ada", "Lovelace"], ["Paris"]], packaged_tokenizer)
    assert {f["pad_id"] for f in features} == {packaged_tokenizer.pad_token_id}
    batch = collate(features)
    assert batch["input_ids"][1, -1].item() == packaged_tokenizer.pad_token_id
    bare = [{k: v for k, v in f.items() if k != "pad_id"} for f in features]
    with pytest.raises(BmcourseError, match="no pad id"):
        collate(bare)


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


def test_collate_equals_transformers_token_classification_collator(packaged_tokenizer) -> None:
    """The package's collate (notebook 02 writes it by hand first) pads exactly as transformers'
    DataCollatorForTokenClassification: the same ids, mask and -100 labels, tensor for tensor."""
    from transformers import DataCollatorForTokenClassification

    features = encode_ner([["Ada", "Lovelace", "visited", "Zürich"], ["Paris"], ["A", "B", "C"]], packaged_tokenizer)
    ours = collate(features)
    keys = ("input_ids", "attention_mask", "labels")
    theirs = DataCollatorForTokenClassification(packaged_tokenizer, return_tensors="pt")(
        [{k: f[k] for k in keys} for f in features])
    for key in keys:
        assert torch.equal(ours[key], theirs[key]), key


def test_schedule_is_transformers_linear_warmup_one_step_earlier() -> None:
    """warmup_linear (notebook 01) is get_linear_schedule_with_warmup's factor taken one step earlier
    during warm-up (the first update already moves, at lr/W, instead of at 0) and the same after it."""
    from transformers import get_linear_schedule_with_warmup

    total, warmup = 10, 3
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    factor = get_linear_schedule_with_warmup(optimizer, warmup, total).lr_lambdas[0]
    ours = [warmup_linear(s, total, warmup) for s in range(total + 2)]
    theirs = [factor(s) for s in range(total + 2)]
    assert ours[:warmup] == pytest.approx(theirs[1:warmup + 1]) and ours[warmup:] == pytest.approx(theirs[warmup:])


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
    model, tokenizer, data = tiny
    train = encode_ner(data["train"], tokenizer)
    dev = encode_ner(data["validation"], tokenizer, training=False)
    before = evaluate(model, dev, progress=False, device="cpu")["loss"]
    config = TrainConfig(epochs=2, lr=3e-3, batch_size=16, eval_every=10, progress=False,
                         device="cpu", checkpoint_dir=str(tmp_path / "best"))
    result = fit(model, train, dev, config, tokenizer=tokenizer)
    steps = 2 * -(-len(train) // 16)
    assert [r["step"] for r in result.history] == [*range(10, steps, 10), steps]
    assert result.history[-1]["dev_loss"] < before
    assert result.best["dev_f1"] == max(r["dev_f1"] for r in result.history)
    assert (tmp_path / "best" / "model.safetensors").is_file()
    assert evaluate(model, dev, progress=False, device="cpu")["f1"] == pytest.approx(result.best["dev_f1"])
    assert 0 < result.useful_tokens <= result.padded_tokens and result.useful_tokens_per_second > 0


def test_fit_checkpoint_loads_with_its_tokenizer(tiny, tmp_path: Path) -> None:
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    model, tokenizer, data = tiny
    train = encode_ner(data["train"].select(range(32)), tokenizer)
    config = TrainConfig(epochs=1, batch_size=16, progress=False, device="cpu",
                         checkpoint_dir=str(tmp_path / "best"))
    with pytest.raises(BmcourseError, match="tokenizer"):
        fit(model, train, train, config)
    fit(model, train, train, config, tokenizer=tokenizer)
    loaded = AutoModelForTokenClassification.from_pretrained(tmp_path / "best")
    reloaded = AutoTokenizer.from_pretrained(tmp_path / "best")
    assert reloaded("Ada Lovelace")["input_ids"] == tokenizer("Ada Lovelace")["input_ids"]
    assert loaded.config.id2label == model.config.id2label


def test_early_stopping_when_dev_stops_improving(tiny) -> None:
    model, tokenizer, data = tiny
    train = encode_ner(data["train"], tokenizer)
    dev = encode_ner(data["validation"], tokenizer, training=False)
    config = TrainConfig(epochs=3, lr=0.0, batch_size=16, eval_every=4, patience=2, progress=False, device="cpu")
    result = fit(model, train, dev, config)
    assert result.stopped_early and [r["step"] for r in result.history] == [4, 8, 12]


def test_sequence_classification_with_a_frozen_encoder(tiny_model, packaged_tokenizer) -> None:
    from bmcourse.data import load_classification
    from bmcourse.models import count_parameters
    from bmcourse.train import encode_classification

    data = load_classification("financial_phrasebank", source="sample")
    model = tiny_model(data["train"].features["label"].names, kind="sequence")
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("classifier"))
    trainable, total = count_parameters(model)
    assert 0 < trainable < total / 100
    train = encode_classification(data["train"], packaged_tokenizer)
    dev = encode_classification(data["validation"], packaged_tokenizer)
    result = fit(model, train, dev, TrainConfig(epochs=1, lr=1e-3, batch_size=32, progress=False, device="cpu"))
    assert set(result.history[-1]) >= {"dev_loss", "dev_accuracy", "dev_macro_f1"}
    assert predict(model, dev[:3], progress=False, device="cpu")[0] in ("negative", "neutral", "positive")


def test_encode_ner_aligns_split_words_with_the_real_tokenizer(packaged_tokenizer) -> None:
    """A word split into several sub-words: only its first sub-word carries the label (first-sub-word
    rule); with label_all_subwords its continuations get I-X, never B-X."""
    from datasets import ClassLabel, Dataset, Features, Sequence, Value

    words = ["Lovelace", "visited", "Chiclayo"]
    split = Dataset.from_dict({"tokens": [words], "ner_tags": [[1, 0, 3]]},
                              features=Features({"tokens": Sequence(Value("string")),
                                                 "ner_tags": Sequence(ClassLabel(names=LABELS))}))
    (feature,) = encode_ner([words], packaged_tokenizer, label_names=LABELS)
    subwords = packaged_tokenizer.convert_ids_to_tokens(feature["input_ids"])
    word_ids = feature["word_ids"]
    assert word_ids.count(0) > 1 and word_ids.count(2) > 1, subwords  # both names really split
    assert feature["word_labels"] == [0, 0, 0]  # a list of word lists has no gold labels

    (first,) = encode_ner(split, packaged_tokenizer)
    (every,) = encode_ner(split, packaged_tokenizer, label_all_subwords=True)
    expected_first, expected_every, previous = [], [], None
    for w in word_ids:
        if w is None:
            expected_first.append(-100)
            expected_every.append(-100)
        elif w != previous:
            expected_first.append([1, 0, 3][w])
            expected_every.append([1, 0, 3][w])
        else:
            expected_first.append(-100)
            expected_every.append([2, 0, 4][w])  # B-PER -> I-PER, B-LOC -> I-LOC
        previous = w
    assert first["labels"] == expected_first and every["labels"] == expected_every
    assert subwords[0] == "[CLS]" and first["labels"][0] == -100


def test_truncated_training_features_keep_word_labels_consistent_and_are_not_scored(tiny) -> None:
    model, tokenizer, data = tiny
    features = encode_ner(data["train"], tokenizer, max_length=12, quiet=True)
    cut = [f for f in features if f.get("words_cut")]
    assert cut
    for f in features:
        kept = 1 + max(w for w in f["word_ids"] if w is not None)
        assert len(f["word_labels"]) == kept  # gold covers exactly the words that survived
        assert f.get("words_cut", 0) == len(data["train"][f["sentence"]]["tokens"]) - kept
        firsts = [i for i, label in enumerate(f["labels"]) if label != -100]
        assert [f["labels"][i] for i in firsts] == f["word_labels"]
    with pytest.raises(BmcourseError, match="(?s)truncated for training.*training=False"):
        evaluate(model, features, progress=False, device="cpu")


def test_grad_accum_steps_the_optimizer_once_per_k_micro_batches(tiny) -> None:
    model, tokenizer, data = tiny
    train = encode_ner(data["train"].select(range(40)), tokenizer)  # 5 micro-batches of 8 per epoch
    updates = []
    original = torch.optim.AdamW.step

    def counting_step(self, *args, **kwargs):
        updates.append(1)
        return original(self, *args, **kwargs)

    torch.optim.AdamW.step = counting_step
    try:
        result = fit(model, train, None, TrainConfig(epochs=2, batch_size=8, grad_accum=2, progress=False,
                                                     device="cpu"))
    finally:
        torch.optim.AdamW.step = original
    assert result.steps == len(updates) == 2 * 3  # ceil(5 / 2) updates per epoch
    with pytest.raises(BmcourseError, match="grad_accum"):
        fit(model, train, None, TrainConfig(grad_accum=0, progress=False, device="cpu"))


def test_fit_alone_leaves_the_callers_model_as_it_was_given(tiny) -> None:
    """Accelerate's preparation must not stay on the model: same object, same forward, same device."""
    model, tokenizer, data = tiny
    forward = model.forward
    fit(model, encode_ner(data["train"].select(range(16)), tokenizer), None,
        TrainConfig(max_steps=2, batch_size=8, progress=False, device="cpu"))
    assert model.forward == forward and next(model.parameters()).device.type == "cpu"


def test_shards_give_every_process_the_same_number_of_batches() -> None:
    from bmcourse.train import shard_batches

    batches = [[i] for i in range(5)]
    assert shard_batches(batches, 0, 1) is batches
    shares = [shard_batches(batches, r, 2) for r in range(2)]
    assert shares == [[[0], [2], [4]], [[1], [3], [0]]]  # padded from the start, as DDP needs equal steps


# --- gradient accumulation ------------------------------------------------------------------

ACCUM_TOLERANCE = 1e-6  # weights after one AdamW step (lr 1e-3): equal up to float rounding


def _one_step_weights(tiny_model, packaged_tokenizer, *, batch_size: int, grad_accum: int,
                      adversarial: float) -> dict[str, torch.Tensor]:
    """The weights after one optimizer step of ``fit`` on four same-length sentences (one
    sub-word per word, so every micro-batch has as many labelled tokens and the mean loss of the
    whole batch is the mean of the micro-batches' means); no dropout, no shuffling of sizes."""
    from datasets import ClassLabel, Dataset, Features, Sequence, Value

    from bmcourse.train import TrainConfig, encode_ner, fit

    words = [["john", "lives", "in", "paris"], ["mary", "went", "to", "london"],
             ["the", "cat", "sat", "down"], ["bob", "met", "alice", "today"]]
    tags = [[1, 0, 0, 3], [1, 0, 0, 3], [0, 0, 0, 0], [1, 0, 1, 0]]
    features = Features({"tokens": Sequence(Value("string")), "ner_tags": Sequence(ClassLabel(names=LABELS))})
    encoded = encode_ner(Dataset.from_dict({"tokens": words, "ner_tags": tags}, features=features),
                         packaged_tokenizer, quiet=True)
    assert len({len(f["input_ids"]) for f in encoded}) == 1  # same length: no padding anywhere
    model = tiny_model(LABELS, seed=5, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    fit(model, encoded, None, TrainConfig(max_steps=1, batch_size=batch_size, grad_accum=grad_accum, lr=1e-3,
                                          warmup=0.0, schedule="constant", group_by_length=False,
                                          progress=False, adversarial=adversarial, device="cpu"))
    return {name: p.detach().clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("adversarial", [0.0, 0.5], ids=["plain", "fgm"])
def test_two_accumulated_micro_batches_equal_one_doubled_batch(tiny_model, packaged_tokenizer,
                                                               adversarial: float) -> None:
    """One step with ``grad_accum=2`` on batches of 2 equals one step on the batch of 4, with and
    without FGM (whose adversarial loss goes through ``accelerator.backward`` too)."""
    doubled = _one_step_weights(tiny_model, packaged_tokenizer, batch_size=4, grad_accum=1, adversarial=adversarial)
    accumulated = _one_step_weights(tiny_model, packaged_tokenizer, batch_size=2, grad_accum=2,
                                    adversarial=adversarial)
    start = {n: p.detach() for n, p in tiny_model(LABELS, seed=5).named_parameters()}
    assert any(not torch.equal(start[n], doubled[n]) for n in doubled)  # the step moved the weights
    worst = max(float((doubled[n] - accumulated[n]).abs().max()) for n in doubled)
    assert worst <= ACCUM_TOLERANCE, f"largest weight difference {worst:.2e}"


def test_loop_cost_times_the_same_batches_three_ways_and_leaves_the_model_alone(tiny) -> None:
    from bmcourse.bench.loopcost import first_batches, loop_cost

    model, tokenizer, data = tiny
    features = encode_ner(data["train"], tokenizer)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    config = TrainConfig(epochs=1, lr=1e-3, batch_size=8, progress=False, device="cpu")
    cost = loop_cost(model, features, config, tokenizer.pad_token_id, steps=4, repeats=2)
    assert cost["steps"] == 4 and all(len(cost[n]["all_seconds"]) == 2 for n in ("fit", "plain_loop", "microbenchmark"))
    tokens = {name: cost[name]["useful_tokens"] for name in ("fit", "plain_loop", "microbenchmark")}
    wanted = sum(sum(features[i]["attention_mask"]) for b in first_batches(features, config, 4) for i in b)
    assert set(tokens.values()) == {wanted}, tokens  # the same four batches, whoever trains them
    assert all(cost[name]["seconds"] > 0 for name in tokens)
    assert cost["fit_time_vs_plain_loop"] == pytest.approx(cost["fit"]["seconds"] / cost["plain_loop"]["seconds"],
                                                           rel=0.05)  # the seconds shown are rounded
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "copies train, not the model"
    assert loop_cost(model, features, config, tokenizer.pad_token_id, steps=10**6, repeats=1)["steps"] == \
        len(first_batches(features, config, 10**6))


def test_token_budget_batches_cover_everything_once_within_the_budget() -> None:
    from bmcourse.train import token_budget_batches

    lengths = [(i * 7) % 50 + 1 for i in range(300)]
    batches = token_budget_batches(lengths, 200, seed=3)
    assert sorted(i for b in batches for i in b) == list(range(300))
    assert all(len(b) * max(lengths[i] for i in b) <= 200 for b in batches)
    assert batches == token_budget_batches(lengths, 200, seed=3) != token_budget_batches(lengths, 200, seed=4)
    sizes = {max(lengths[i] for i in b): len(b) for b in batches}
    assert sizes[min(sizes)] > sizes[max(sizes)]  # short sentences travel in larger batches
    assert token_budget_batches([60], 10) == [[0]]  # a sentence longer than the budget still trains, alone
    with pytest.raises(BmcourseError, match="holds no sentence"):
        token_budget_batches(lengths, 0)


def test_the_learning_rate_scales_with_the_square_root_of_the_batch() -> None:
    from bmcourse.train import scaled_lr

    assert scaled_lr(1e-4, 64, 16) == pytest.approx(2e-4)
    assert scaled_lr(1e-4, 16, 16) == pytest.approx(1e-4) and scaled_lr(1e-4, 4, 16) == pytest.approx(5e-5)


def test_adamw_runs_fused_where_the_device_has_the_kernel(tiny) -> None:
    model = tiny[0]
    assert make_optimizer(model, 1e-4).defaults["fused"] is True  # CPU has a fused AdamW in this torch
    assert not make_optimizer(model, 1e-4, fused=False).defaults["fused"]


def test_fit_by_token_budget_scales_the_rate_and_learns(tiny) -> None:
    model, tokenizer, data = tiny
    train = encode_ner(data["train"], tokenizer)
    dev = encode_ner(data["validation"], tokenizer, training=False)
    before = evaluate(model, dev, progress=False, device="cpu")["loss"]
    result = fit(model, train, dev, TrainConfig(epochs=2, lr=3e-3, batch_size=16, batch_tokens=1024,
                                                progress=False, device="cpu"))
    mean_batch = len(train) / result.batches_per_epoch
    assert result.batches_per_epoch < -(-len(train) // 16) and mean_batch > 16  # short sentences: bigger batches
    assert result.lr == pytest.approx(3e-3 * (mean_batch / 16) ** 0.5)
    assert result.history[-1]["dev_loss"] < before
    assert fit(model, train, None, TrainConfig(epochs=1, batch_tokens="auto", progress=False, device="cpu")).lr == \
        TrainConfig().lr  # "auto" on a CPU: batch_size sentences, the rate as given
    with pytest.raises(BmcourseError, match="not a token budget"):
        fit(model, train, None, TrainConfig(batch_tokens=-5, progress=False, device="cpu"))


def test_a_compile_that_fails_is_reported_by_loop_cost_not_raised(tiny, monkeypatch: pytest.MonkeyPatch) -> None:
    from bmcourse.bench.loopcost import loop_cost

    def no_compiler(*args, **kwargs):
        raise RuntimeError("no C++ compiler found\nmore detail")

    monkeypatch.setattr(torch, "compile", no_compiler)
    model, tokenizer, data = tiny
    features = encode_ner(data["train"], tokenizer)
    config = TrainConfig(epochs=1, lr=1e-3, batch_size=8, progress=False, device="cpu")
    cost = loop_cost(model, features, config, tokenizer.pad_token_id, steps=2, repeats=1, compiled=True)
    assert cost["compile"] == "torch.compile failed: RuntimeError: no C++ compiler found"
    assert "fit_compiled" not in cost and cost["fit"]["seconds"] > 0
