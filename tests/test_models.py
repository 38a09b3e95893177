"""Model loading: the packaged offline model, label maps, refusals, clear Hub errors."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bmcourse.errors import BmcourseError
from bmcourse.models import load_sequence_classifier, load_token_classifier, offline_model_path, resolve_model

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def test_offline_default_token_classifier_gives_logits(env) -> None:
    model, tokenizer = load_token_classifier(LABELS)
    batch = tokenizer(["Ada Lovelace met Babbage in London .", "Hi"], padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**batch).logits
    assert logits.shape == (2, batch["input_ids"].shape[1], len(LABELS))
    assert model.config.id2label[1] == "B-PER" and model.config.label2id["I-LOC"] == 4
    assert Path(model.config._name_or_path) == offline_model_path()


def test_sequence_classifier_with_classlabel_names(env) -> None:
    model, tokenizer = load_sequence_classifier(["negative", "neutral", "positive"], name="offline")
    with torch.no_grad():
        logits = model(**tokenizer(["Profit rose ."], return_tensors="pt")).logits
    assert logits.shape == (1, 3)


def test_hub_model_offline_fails_with_offline_alternative(env) -> None:
    with pytest.raises(BmcourseError, match="needs the Hub") as info:
        resolve_model("bert-base-cased-not-cached-anywhere")
    assert "name='offline'" in str(info.value)


def test_bmcourse_model_env_overrides(env) -> None:
    env.setenv("BMCOURSE_MODEL", str(offline_model_path()))
    assert resolve_model() == str(offline_model_path())


def test_pickle_only_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04")
    with pytest.raises(BmcourseError, match="pickle checkpoints are refused"):
        resolve_model(str(tmp_path))


def test_duplicate_labels_refused(env) -> None:
    with pytest.raises(BmcourseError, match="distinct"):
        load_token_classifier(["O", "O"])


def test_mean_pooling_classifier_reads_the_mean_of_real_tokens_only(env) -> None:
    model, tokenizer = load_sequence_classifier(["a", "b", "c"], pooling="mean")
    assert model.config.num_labels == 3 and model.config.id2label[2] == "c"
    assert not any("pooler" in name for name, _ in model.named_parameters())
    model.eval()
    batch = tokenizer(["my card is lost", "where is the card I ordered two weeks ago"], padding=True,
                      return_tensors="pt")
    with torch.no_grad():
        both = model(**batch, labels=torch.tensor([0, 2]))
        alone = model(**tokenizer(["my card is lost"], return_tensors="pt")).logits
    assert both.logits.shape == (2, 3) and both.loss.ndim == 0
    assert torch.allclose(both.logits[0], alone[0], atol=1e-5)  # padding does not move the mean
    ids = tokenizer(["my card is lost"], return_tensors="pt")["input_ids"]
    with torch.no_grad():  # word embeddings instead of ids (what attributions differentiate through)
        embedded = model(inputs_embeds=model.encoder.get_input_embeddings()(ids)).logits
    assert torch.allclose(embedded, alone, atol=1e-5)
    with pytest.raises(BmcourseError, match="pooling"):
        load_sequence_classifier(["a", "b"], pooling="max")
