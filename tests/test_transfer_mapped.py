"""Notebook 03's like-for-like comparison and LoRA by hand: ``mapped_scores`` scores an adapted tagger
on the coarse mapped types as zero-shot is scored, ``adapt(mapping=...)`` records it, and
``lora_layer`` is peft's LoRA on one linear layer (base frozen, B zero at the start)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bmcourse import transfer
from bmcourse.errors import BmcourseError

CONLL = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
MAPPING = {"politician": "PER", "person": "PER", "country": "LOC"}


def test_mapped_scores_forgive_a_fine_type_mistake_within_one_coarse_type() -> None:
    gold = [["B-politician", "I-politician", "O", "B-country"], ["B-enzyme", "O"]]
    pred = [["B-person", "I-person", "O", "B-country"], ["O", "O"]]  # politician read as person; enzyme unmapped
    assert transfer.mapped_scores(gold, pred, MAPPING)["f1"] == 1.0
    wrong_span = [["B-politician", "O", "O", "B-country"], ["O", "O"]]
    assert transfer.mapped_scores(gold, wrong_span, MAPPING)["f1"] == pytest.approx(0.5)


def test_adapt_with_a_mapping_scores_both_and_without_one_keeps_none(tmp_path: Path, tiny_model,
                                                                    packaged_tokenizer) -> None:
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence, Value

    from bmcourse.models import save_model

    labels = ["O", "B-politician", "I-politician", "B-person", "I-person", "B-country", "I-country"]
    index = {n: i for i, n in enumerate(labels)}
    rows = [(["Ada", "met", "Tom", "."], ["B-politician", "O", "B-person", "O"]), (["in", "Oslo"], ["O", "B-country"])]
    features = Features({"tokens": Sequence(Value("string")), "ner_tags": Sequence(ClassLabel(names=labels))})
    split = Dataset.from_dict({"tokens": [r[0] for r in rows * 2],
                               "ner_tags": [[index[t] for t in r[1]] for r in rows * 2]}, features=features)
    data = DatasetDict({name: split for name in ("train", "validation", "test")})
    folder = save_model(tiny_model(CONLL), packaged_tokenizer, tmp_path / "tiny")
    plain, _, _ = transfer.adapt("t", data, "linear_probe", "pretrained", epochs=1, batch_size=4, name=str(folder))
    mapped, _, _ = transfer.adapt("t", data, "linear_probe", "pretrained", epochs=1, batch_size=4, name=str(folder),
                                  mapping=MAPPING)
    assert plain.mapped_f1 is None and 0.0 <= mapped.mapped_f1 <= 1.0
    assert mapped.test_f1 == pytest.approx(plain.test_f1)  # the same run, scored the same way on its own types


def test_lora_layer_freezes_a_copy_of_the_base_and_starts_at_the_base_output() -> None:
    torch.manual_seed(0)
    base = torch.nn.Linear(6, 5)
    layer = transfer.lora_layer(base, rank=2, alpha=6)
    assert layer.base_layer is not base and torch.equal(layer.base_layer.weight, base.weight)
    trainable = {n for n, p in layer.named_parameters() if p.requires_grad}
    assert trainable == {"lora_A.default.weight", "lora_B.default.weight"}
    assert layer.lora_A["default"].weight.shape == (2, 6) and layer.lora_B["default"].weight.shape == (5, 2)
    assert layer.scaling["default"] == 3.0
    x = torch.randn(3, 6)
    assert torch.equal(layer(x), base(x))  # B starts at zero
    with torch.no_grad():
        layer.lora_B["default"].weight.normal_()
    A, B = layer.lora_A["default"].weight, layer.lora_B["default"].weight
    torch.testing.assert_close(layer(x), base(x) + 3.0 * x @ A.T @ B.T)
    with pytest.raises(BmcourseError, match="needs a torch.nn.Linear"):
        transfer.lora_layer(torch.nn.Conv1d(2, 2, 1))
