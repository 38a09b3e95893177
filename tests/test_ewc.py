"""Elastic weight consolidation (``bmcourse.transfer.ewc``): the penalty and its gradient, the
diagonal Fisher, lam = 0 as plain fine-tuning, and EWC keeping more of the source task than plain
fine-tuning on the embedded samples (a tiny tagger that first learns news, then social media)."""
from __future__ import annotations

from typing import Any

import pytest
import torch

from bmcourse import transfer as tr
from bmcourse.errors import BmcourseError

CONLL = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def _random(seed: int = 0) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Parameters, an anchor and a non-negative Fisher of two made-up shapes."""
    g = torch.Generator().manual_seed(seed)
    shapes = {"a.weight": (3, 4), "b.bias": (5,)}
    params = {n: torch.randn(s, generator=g, dtype=torch.float64) for n, s in shapes.items()}
    anchor = {n: torch.randn(s, generator=g, dtype=torch.float64) for n, s in shapes.items()}
    fisher = {n: torch.rand(s, generator=g, dtype=torch.float64) for n, s in shapes.items()}
    return params, anchor, fisher


def test_the_penalty_is_zero_at_the_anchor_and_the_hand_formula_elsewhere() -> None:
    params, anchor, fisher = _random()
    assert float(tr.ewc_penalty(anchor, anchor, fisher, 7.0)) == 0.0
    by_hand = 7.0 / 2 * sum(float((fisher[n] * (params[n] - anchor[n]) ** 2).sum()) for n in fisher)
    assert float(tr.ewc_penalty(params, anchor, fisher, 7.0)) == pytest.approx(by_hand, rel=1e-12)
    assert float(tr.ewc_penalty(params, anchor, fisher, 0.0)) == 0.0
    only_b = {"b.bias": fisher["b.bias"]}  # a parameter without Fisher is not penalised
    assert float(tr.ewc_penalty(params, anchor, only_b, 7.0)) == pytest.approx(
        3.5 * float((fisher["b.bias"] * (params["b.bias"] - anchor["b.bias"]) ** 2).sum()), rel=1e-12)


def test_the_penalty_gradient_matches_autograd_and_lam_f_times_the_distance() -> None:
    params, anchor, fisher = _random(1)
    leaves = {n: p.clone().requires_grad_(True) for n, p in params.items()}
    tr.ewc_penalty(leaves, anchor, fisher, 3.0).backward()
    hand = tr.penalty_gradient(params, anchor, fisher, 3.0)
    for name in fisher:
        torch.testing.assert_close(leaves[name].grad, hand[name], rtol=1e-12, atol=0)
        torch.testing.assert_close(hand[name], 3.0 * fisher[name] * (params[name] - anchor[name]), rtol=1e-12, atol=0)


@pytest.mark.parametrize("change, message", [
    (lambda p, a, f: (p, a, f, -1.0), "lam=-1.0"),
    (lambda p, a, f: (p, a, f, float("nan")), "lam=nan"),
    (lambda p, a, f: ({"a.weight": p["a.weight"]}, a, f, 1.0), "'b.bias' but the parameters do not"),
    (lambda p, a, f: (p, {**a, "a.weight": torch.zeros(4, 3)}, f, 1.0), "shape (4, 3) in the anchor"),
])
def test_bad_inputs_say_what_and_the_fix(change: Any, message: str) -> None:
    with pytest.raises(BmcourseError, match="fix:") as error:
        tr.ewc_penalty(*change(*_random()))
    assert message in str(error.value)


def _encoded(tokenizer: Any, n: int = 24) -> list[dict[str, Any]]:
    from bmcourse.data import load_ner
    from bmcourse.train import encode_ner

    return encode_ner(load_ner("conll2003")["train"].select(range(n)), tokenizer, quiet=True)


def test_the_fisher_is_non_negative_shaped_like_each_parameter_and_leaves_the_model_alone(
        env, tiny_model, packaged_tokenizer) -> None:
    env.setenv("BMCOURSE_PROFILE", "smoke")
    model = tiny_model(CONLL)
    model.train()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    fisher = tr.fisher_diagonal(model, _encoded(packaged_tokenizer), batch_size=8)
    assert list(fisher) == [n for n, _ in model.named_parameters()]
    for name, p in model.named_parameters():
        assert fisher[name].shape == p.shape and bool((fisher[name] >= 0).all()) and p.grad is None
        assert torch.equal(p, before[name])
    assert model.training and float(fisher["classifier.weight"].sum()) > 0
    word_rows = fisher["bert.embeddings.word_embeddings.weight"].sum(dim=1)
    assert 0 < int((word_rows > 0).sum()) < word_rows.numel()  # only the words the sentences use count
    with pytest.raises(BmcourseError, match="no features"):
        tr.fisher_diagonal(model, [])


def test_the_joint_fisher_keeps_the_source_rows_and_leaves_the_new_ones_free(tiny_model) -> None:
    source = tiny_model(CONLL)
    joint = tr.joint_tagger(source, [*CONLL, "B-person", "I-person"])
    values = {n: torch.rand(p.shape) for n, p in source.named_parameters()}
    placed = tr.on_joint(values, source, joint)
    assert torch.equal(placed["classifier.weight"][:9], values["classifier.weight"])
    assert not placed["classifier.weight"][9:].any() and not placed["classifier.bias"][9:].any()
    assert torch.equal(placed["bert.encoder.layer.0.output.dense.weight"],
                       values["bert.encoder.layer.0.output.dense.weight"])


def test_lam_zero_trains_exactly_as_plain_fine_tuning(env, tiny_model, packaged_tokenizer) -> None:
    from bmcourse.train import TrainConfig, fit

    env.setenv("BMCOURSE_PROFILE", "smoke")
    train = _encoded(packaged_tokenizer, 32)
    config = TrainConfig(epochs=2, lr=1e-3, batch_size=8, progress=False)
    plain, wrapped = tiny_model(CONLL), tiny_model(CONLL)
    fisher = {n: torch.ones_like(p) for n, p in wrapped.named_parameters()}
    anchor = {n: p.detach().clone() for n, p in wrapped.named_parameters()}
    fit(plain, train, None, config)
    fit(tr.Consolidated(wrapped, anchor, fisher, 0.0), train, None, config)
    for (name, p), q in zip(plain.named_parameters(), wrapped.parameters()):
        assert torch.equal(p, q), name
    assert not torch.equal(plain.classifier.weight, anchor["classifier.weight"])  # it did train
    pulled = tiny_model(CONLL)
    fit(tr.Consolidated(pulled, anchor, fisher, 10.0), train, None, config)
    assert not torch.equal(pulled.classifier.weight, plain.classifier.weight)  # lam > 0 changes the run


@pytest.fixture(scope="module")
def news_then_social(packaged_tokenizer) -> dict[str, Any]:
    """A tiny tagger trained on 80 embedded news sentences, those sentences (scored as the source
    task) and the embedded social-media sample (the target)."""
    import os

    from transformers import AutoModelForTokenClassification, BertConfig

    from bmcourse.config import seed_everything
    from bmcourse.data import load_ner
    from bmcourse.train import TrainConfig, encode_ner, fit

    saved = os.environ.get("BMCOURSE_PROFILE")
    os.environ["BMCOURSE_PROFILE"] = "smoke"
    try:
        news, social = load_ner("conll2003"), load_ner("wnut17")
    finally:
        os.environ.pop("BMCOURSE_PROFILE") if saved is None else os.environ.update(BMCOURSE_PROFILE=saved)
    seen = news["train"].select(range(80))
    config = BertConfig(vocab_size=packaged_tokenizer.vocab_size, pad_token_id=packaged_tokenizer.pad_token_id,
                        num_labels=len(CONLL), id2label=dict(enumerate(CONLL)),
                        label2id={n: i for i, n in enumerate(CONLL)}, hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    with torch.random.fork_rng(devices=[]):
        seed_everything(0)
        source = AutoModelForTokenClassification.from_config(config)
        fit(source, encode_ner(seen, packaged_tokenizer, quiet=True), None,
            TrainConfig(epochs=10, lr=5e-3, batch_size=16, progress=False))
    return {"source": source, "news": {"train": seen, "test": seen, "validation": seen}, "social": social}


def test_ewc_keeps_more_of_the_source_task_than_plain_fine_tuning(env, news_then_social, packaged_tokenizer) -> None:
    from bmcourse.train import encode_ner, evaluate

    env.setenv("BMCOURSE_PROFILE", "smoke")
    source, news, social = news_then_social["source"], news_then_social["news"], news_then_social["social"]
    before = evaluate(source, encode_ner(news["test"], packaged_tokenizer, training=False), progress=False)["f1"]
    run = {"epochs": 1.0, "lr": 3e-3, "seed": 0}
    plain = tr.forgetting(source, packaged_tokenizer, news, social, **run)
    zero = tr.ewc_forgetting(source, packaged_tokenizer, news, social, lam=0.0, **run)
    ewc = tr.ewc_forgetting(source, packaged_tokenizer, news, social, lam=1e5, **run)
    assert before > 0.6                          # the source task was learned ...
    assert plain["source_f1"] < before - 0.3     # ... and plain fine-tuning forgets much of it
    assert (zero["source_f1"], zero["target_f1"]) == (plain["source_f1"], plain["target_f1"])  # lam=0: plain
    assert ewc["source_f1"] > plain["source_f1"] + 0.1   # EWC keeps clearly more
    assert ewc["source_f1"] < before - 0.05      # yet the weights did move: not a frozen model
    assert ewc["fisher_sentences"] == round(0.5 * social["train"].num_rows)  # the rows replay would mix in


def test_the_fisher_rows_are_replays_rows_capped_by_a_seeded_sample() -> None:
    import random

    rows = tr.fisher_rows(1000, 40, 0.5, seed=3)
    assert rows == sorted(random.Random(3).sample(range(1000), 20))  # what forgetting(replay=0.5, seed=3) mixes in
    assert set(tr.fisher_rows(1000, 40, 0.5, seed=3, at_most=5)) <= set(rows)
    assert len(tr.fisher_rows(1000, 40, 0.5, seed=3, at_most=5)) == 5 and tr.fisher_rows(10, 40, 0.0, 0) == []


def test_reference_refresh_continual_refuses_the_embedded_samples(env, monkeypatch, capsys) -> None:
    from bmcourse import reference
    from bmcourse.bench import continual
    from bmcourse.course.cli import main

    monkeypatch.setattr(continual, "bench_continual", lambda **kwargs: pytest.fail("must not run on samples"))
    before = {path.name: path.read_bytes() for path in reference.shipped_dir().iterdir() if path.is_file()}
    assert main(["reference", "refresh", "continual"]) == 1
    assert "needs the real conll2003" in " ".join(capsys.readouterr().err.split())
    assert {path.name: path.read_bytes() for path in reference.shipped_dir().iterdir() if path.is_file()} == before


def test_lam_is_the_best_mean_of_both_validation_scores_and_the_smaller_on_a_tie() -> None:
    from bmcourse.bench.continual import choose_lambda

    sweep = [{"lam": 0.0, "source_dev_f1": 0.2, "target_dev_f1": 0.6}, {"lam": 1e6, "source_dev_f1": 0.5, "target_dev_f1": 0.5},
             {"lam": 1e7, "source_dev_f1": 0.6, "target_dev_f1": 0.4}, {"lam": 1e8, "source_dev_f1": 0.8, "target_dev_f1": 0.1}]
    assert choose_lambda(sweep) == 1e6  # 0.5 beats 0.4 and 0.45; 1e7 ties at 0.5 but is larger


def test_the_shipped_reference_compares_three_runs_at_the_replay_results_budget_and_seed() -> None:
    from bmcourse import reference
    from bmcourse.bench.continual import choose_lambda

    result, replay = reference.load("continual_reference"), reference.load("bench_transfer_cpu")
    assert result["settings"]["budget_sentences"] == replay["settings"]["budget_sentences"]
    assert result["settings"]["replay"] == replay["settings"]["replay"] and result["settings"]["seed"] == 0
    assert result["lam"] == choose_lambda(result["lam_sweep"]) == tr.EWC_LAMBDA
    for row in result["forgetting"].values():
        assert all(0 <= row[k] <= 1 for k in ("after", "after_replay", "after_ewc", "target_f1_ewc"))
