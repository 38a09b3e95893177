"""bmcourse.deploy.distill: the distillation loss against its formula, the truncated student, a tiny
distillation on the embedded samples, and ``bmcourse bench distill``'s route."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from bmcourse.deploy import distill
from bmcourse.errors import BmcourseError

LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def _logits(seed: int, shape=(3, 7, 9)) -> torch.Tensor:
    return 3 * torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _labels(seed: int, shape=(3, 7), classes: int = 9) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, classes, shape, generator=gen)
    labels[torch.rand(shape, generator=gen) < 0.4] = -100  # special tokens, continuation sub-words, padding
    labels[0, 0] = 1  # at least one kept position
    return labels


def by_hand(student, teacher, labels, temperature, alpha) -> float:
    """The formula written out position by position with plain Python sums."""
    soft, hard, n = 0.0, 0.0, 0
    for b in range(labels.shape[0]):
        for t in range(labels.shape[1]):
            gold = int(labels[b, t])
            if gold == -100:
                continue
            s = [float(v) / temperature for v in student[b, t]]
            q = [float(v) / temperature for v in teacher[b, t]]
            log_zs, log_zq = math.log(sum(math.exp(v) for v in s)), math.log(sum(math.exp(v) for v in q))
            soft += sum(math.exp(qi - log_zq) * ((qi - log_zq) - (si - log_zs)) for si, qi in zip(s, q))
            raw = [float(v) for v in student[b, t]]
            hard += math.log(sum(math.exp(v) for v in raw)) - raw[gold]
            n += 1
    return alpha * temperature ** 2 * soft / n + (1 - alpha) * hard / n


def test_zero_when_the_student_is_the_teacher_and_only_the_teacher_counts() -> None:
    logits, labels = _logits(0), _labels(0)
    for temperature in (1.0, 2.0, 5.0):
        assert float(distill.kd_loss(logits, logits.clone(), labels, temperature=temperature, alpha=1.0)) == \
            pytest.approx(0.0, abs=1e-12)
    assert float(distill.kd_loss(logits, logits.clone(), labels, alpha=0.5)) > 0  # the gold term remains


@pytest.mark.parametrize("temperature,alpha", [(1.0, 0.5), (2.0, 0.5), (4.0, 0.9), (3.0, 0.0), (2.0, 1.0)])
def test_matches_the_formula_written_by_hand(temperature: float, alpha: float) -> None:
    student, teacher, labels = _logits(1), _logits(2), _labels(3)
    got = float(distill.kd_loss(student, teacher, labels, temperature=temperature, alpha=alpha))
    assert got == pytest.approx(by_hand(student, teacher, labels, temperature, alpha), rel=1e-6)


def test_positions_labelled_minus_100_are_ignored() -> None:
    student, teacher, labels = _logits(4), _logits(5), _labels(6)
    before = distill.kd_loss(student, teacher, labels)
    ignored = labels == -100
    assert ignored.any()
    changed_s, changed_t = student.clone(), teacher.clone()
    changed_s[ignored] += 50 * torch.randn_like(changed_s[ignored])
    changed_t[ignored] -= 30
    assert torch.equal(distill.kd_loss(changed_s, changed_t, labels), before)
    none_kept = torch.full_like(labels, -100)
    zero = distill.kd_loss(student.clone().requires_grad_(True), teacher, none_kept)
    assert zero.item() == 0.0 and zero.requires_grad  # a batch with nothing to learn still backpropagates


def test_the_soft_term_is_scaled_by_t_squared() -> None:
    student, teacher, labels = _logits(7), _logits(8), _labels(9)
    kept = labels != -100
    for temperature in (1.0, 2.0, 4.0):
        kl = F.kl_div(F.log_softmax(student[kept] / temperature, -1), F.softmax(teacher[kept] / temperature, -1),
                      reduction="batchmean")
        loss = distill.kd_loss(student, teacher, labels, temperature=temperature, alpha=1.0)
        assert float(loss) == pytest.approx(temperature ** 2 * float(kl), rel=1e-9)
    # what T^2 is for: the soft term's gradient keeps its size as T grows (it would shrink by ~1/T^2)
    near = teacher + 0.1 * _logits(10)
    sizes = []
    for temperature in (4.0, 8.0):
        s = near.clone().requires_grad_(True)
        distill.kd_loss(s, teacher, labels, temperature=temperature, alpha=1.0).backward()
        sizes.append(float(s.grad.norm()))
    assert 0.5 < sizes[1] / sizes[0] < 1.5


def test_bad_settings_and_shapes_are_refused() -> None:
    student, teacher, labels = _logits(0), _logits(1), _labels(2)
    with pytest.raises(BmcourseError, match="temperature=0"):
        distill.kd_loss(student, teacher, labels, temperature=0)
    with pytest.raises(BmcourseError, match=r"alpha=1.5 must lie in \[0, 1\]"):
        distill.kd_loss(student, teacher, labels, alpha=1.5)
    with pytest.raises(BmcourseError, match="differ in shape"):
        distill.kd_loss(student, teacher[..., :5], labels)
    with pytest.raises(BmcourseError, match="do not match the logits"):
        distill.kd_loss(student, teacher, labels[:, :3])


# --- the student ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pair():
    """The packaged 6-layer MiniLM with a fresh head (the teacher here) and a 2-layer student from it."""
    from bmcourse.config import seed_everything
    from bmcourse.models import load_token_classifier

    seed_everything(0)
    teacher, tokenizer = load_token_classifier(LABELS, name="offline")
    student, _ = distill.truncated_student(LABELS, 2, name="offline")
    return teacher, student, tokenizer


def test_the_truncated_student_keeps_the_first_layers_of_the_safetensors_checkpoint(pair) -> None:
    from safetensors import safe_open

    from bmcourse.models import count_parameters, offline_model_path

    teacher, student, _ = pair
    assert distill.checkpoint_layers("offline") == teacher.config.num_hidden_layers == 6
    assert student.config.num_hidden_layers == len(student.bert.encoder.layer) == 2
    assert count_parameters(student)[1] < count_parameters(teacher)[1]
    assert distill.size_on_disk_mb(student) < distill.size_on_disk_mb(teacher)
    with safe_open(str(offline_model_path() / "model.safetensors"), "pt") as weights:
        key = next(k for k in weights.keys() if k.endswith("encoder.layer.1.attention.self.query.weight"))
        assert torch.equal(student.bert.encoder.layer[1].attention.self.query.weight, weights.get_tensor(key))
    for layers in (0, 6, 7):
        with pytest.raises(BmcourseError, match="keep between 1 and 5 layers"):
            distill.truncated_student(LABELS, layers, name="offline")


def test_the_student_must_share_labels_and_vocabulary(pair, tiny_model) -> None:
    teacher, student, _ = pair
    with pytest.raises(BmcourseError, match="labels"):
        distill.Distiller(tiny_model(LABELS[:5]), teacher)
    other = tiny_model(LABELS)
    other.config.vocab_size = 1000
    with pytest.raises(BmcourseError, match="vocabulary"):
        distill.Distiller(other, teacher)
    assert distill.Distiller(student, teacher).config is student.config


def test_a_tiny_distillation_on_the_embedded_samples(pair, monkeypatch) -> None:
    import copy

    from bmcourse.data import load_ner
    from bmcourse.train import TrainConfig, encode_ner

    monkeypatch.setenv("BMCOURSE_PROFILE", "smoke")
    teacher, student, tokenizer = pair
    student, before = copy.deepcopy(student), {k: v.clone() for k, v in teacher.state_dict().items()}
    split = load_ner("conll2003")["train"].select(range(24))
    train = encode_ner(split, tokenizer, quiet=True)
    teacher.requires_grad_(True)
    result = distill.distil(student, teacher, train, None, TrainConfig(max_steps=2, batch_size=8, progress=False,
                                                                      device="cpu"), temperature=2.0, alpha=0.5)
    assert result.steps == 2 and math.isfinite(result.history[-1]["train_loss"])
    assert all(p.requires_grad for p in teacher.parameters())  # the teacher's flags are given back
    assert all(torch.equal(v, before[k]) for k, v in teacher.state_dict().items())  # and it did not learn
    soft = distill.soft_labels(teacher, train[0], temperature=2.0)
    assert soft.shape == (len(split[0]["tokens"]), len(LABELS))
    assert torch.allclose(soft.sum(-1), torch.ones(len(soft)))
    test = encode_ner(load_ner("conll2003")["test"].select(range(6)), tokenizer, training=False, quiet=True)
    rows = distill.measure_taggers({"teacher": teacher, "student": student}, test, latency_sentences=3, rounds=1)
    assert [r["model"] for r in rows] == ["teacher", "student"]
    assert rows[1]["layers"] == 2 and rows[1]["parameters"] < rows[0]["parameters"]
    assert all(r["p50_ms"] > 0 and 0 <= r["test_f1"] <= 1 for r in rows)
    shown = distill.size_table(rows)
    assert not any("ms" in value for row in shown for value in row.values())  # no timing in the compared table
    assert "×" in distill.speed_table(rows)[1]["speed-up (p50)"]
    with pytest.raises(BmcourseError, match="no sentences"):
        distill.measure_taggers({"student": student}, [])


def test_alpha_zero_is_ordinary_fine_tuning(pair, monkeypatch) -> None:
    """With alpha = 0 the teacher's term is gone: distil trains exactly as fit on the gold tags."""
    import copy

    from bmcourse.data import load_ner
    from bmcourse.train import TrainConfig, encode_ner, fit

    monkeypatch.setenv("BMCOURSE_PROFILE", "smoke")
    teacher, student, tokenizer = pair
    train = encode_ner(load_ner("conll2003")["train"].select(range(16)), tokenizer, quiet=True)
    config = TrainConfig(max_steps=2, batch_size=8, progress=False, device="cpu", seed=1)
    gold, distilled = copy.deepcopy(student), copy.deepcopy(student)
    fit(gold, train, None, config)
    distill.distil(distilled, teacher, train, None, config, temperature=3.0, alpha=0.0)
    for (name, a), b in zip(gold.named_parameters(), distilled.parameters()):
        assert torch.allclose(a, b, atol=1e-6), name


def test_bench_distill_has_a_route_and_refuses_the_samples(env, capsys) -> None:
    from bmcourse.course import refresh
    from bmcourse.course.cli import build_parser, main

    for command in refresh.DISTILL_RECIPES.values():
        args = build_parser().parse_args([*command, "--out", "x.json"])
        assert (args.layers, args.temperature, args.alpha) == (2, 2.0, 0.5)
    assert "distill" in refresh.BENCH_WHATS
    env.setenv("BMCOURSE_PROFILE", "smoke")
    assert main(["bench", "distill", "--out", "x.json"]) == 1
    assert "needs the real conll2003" in capsys.readouterr().err
