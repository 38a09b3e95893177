"""The adaptation strategies of notebook 03 and ``adapt``, one run of one of them: which
parameters train (linear probe, the top layers, everything, BitFit's biases, LoRA through peft),
from which start (the raw encoder or the source tagger), scored for F1, time and peak memory.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..errors import BmcourseError
from ..i18n import tr as _

STRATEGIES = ("linear_probe", "partial", "full", "bitfit", "lora")
INITS = ("pretrained", "source")

#: Learning rate per strategy, chosen on validation data by ``bmcourse bench transfer-lr`` (the
#: best mean dev F1 over its targets in ``LR_GRID``; result shipped as ``reference/transfer_lr.json``
#: and checked by a test). Frozen or nearly frozen models need far larger steps than ``full``.
STRATEGY_LR = {"linear_probe": 0.092, "partial": 0.0015, "full": 0.0005, "bitfit": 0.005, "lora": 0.005}
#: The candidates ``bench transfer-lr`` tries per strategy (about x2.5 apart around common practice).
LR_GRID = {"linear_probe": (2e-3, 5e-3, 1.5e-2), "partial": (2e-4, 5e-4, 1.5e-3), "full": (1e-4, 2e-4, 5e-4),
           "bitfit": (2e-3, 5e-3, 1.5e-2), "lora": (8e-4, 2e-3, 5e-3)}
PARTIAL_LAYERS = 2
LORA_RANK = 8


def encoder_layers(model: Any) -> list[Any]:
    base = getattr(model, model.base_model_prefix)
    return list(base.encoder.layer)


def head_names(model: Any) -> list[str]:
    return [n for n, _ in model.named_parameters() if n.startswith("classifier")]


def bitfit_parameters(model: Any) -> list[str]:
    """Names of the parameters BitFit trains: every bias, and the task head."""
    return [n for n, _ in model.named_parameters() if n.endswith(".bias") or n.startswith("classifier")]


def apply_strategy(model: Any, strategy: str, *, layers: int = PARTIAL_LAYERS, rank: int = LORA_RANK) -> Any:
    """Make only ``strategy``'s parameters trainable (``lora`` wraps the model with ``peft``);
    returns the model to train."""
    if strategy not in STRATEGIES:
        raise BmcourseError(_("unknown strategy {strategy}").format(strategy=repr(strategy)),
                            fix=_("use one of {choices}").format(choices=", ".join(STRATEGIES)))
    if strategy == "lora":
        return lora_model(model, rank)
    if strategy == "full":
        trainable = {n for n, _ in model.named_parameters()}
    elif strategy == "linear_probe":
        trainable = set(head_names(model))
    elif strategy == "bitfit":
        trainable = set(bitfit_parameters(model))
    else:  # partial: the top `layers` transformer blocks and the head
        top = encoder_layers(model)[-layers:]
        ids = {id(p) for block in top for p in block.parameters()}
        trainable = {n for n, p in model.named_parameters() if id(p) in ids} | set(head_names(model))
    for name, p in model.named_parameters():
        p.requires_grad_(name in trainable)
    return model


def lora_model(model: Any, rank: int) -> Any:
    try:
        from peft import LoraConfig, TaskType, get_peft_model
    except ImportError as err:  # pragma: no cover - peft is a declared dependency
        raise BmcourseError(_("LoRA needs the peft package"), fix="pip install peft") from err
    config = LoraConfig(task_type=TaskType.TOKEN_CLS, r=rank, lora_alpha=2 * rank, lora_dropout=0.0,
                        target_modules=["query", "value"])
    return get_peft_model(model, config)


def lora_layer(layer: Any, rank: int = LORA_RANK, alpha: float | None = None) -> Any:
    """peft's LoRA beside a copy of one ``torch.nn.Linear`` (weight and bias frozen; ``A`` random and
    ``B`` zero, as peft starts them; scaling ``alpha / rank``, default alpha ``2 * rank`` as
    :func:`lora_model`): the library version of LoRA by hand on one layer (notebook 03)."""
    import copy

    import torch
    from peft import LoraConfig, inject_adapter_in_model

    if not isinstance(layer, torch.nn.Linear):
        raise BmcourseError(_("lora_layer needs a torch.nn.Linear, got {got}").format(got=type(layer).__name__),
                            fix=_("pass one linear layer, e.g. model.base_model.encoder.layer[0].attention.self.query"))
    holder = torch.nn.ModuleDict({"layer": copy.deepcopy(layer)})
    config = LoraConfig(r=rank, lora_alpha=2 * rank if alpha is None else alpha, lora_dropout=0.0,
                        target_modules=["layer"])
    return inject_adapter_in_model(config, holder)["layer"]


def trainable_share(model: Any) -> tuple[int, int, float]:
    """``(trainable, total, percent)`` parameters; LoRA's total counts the frozen base model too."""
    from ..models import count_parameters

    trainable, total = count_parameters(model)
    return trainable, total, 100.0 * trainable / total


@contextmanager
def peak_memory() -> Iterator[dict[str, float]]:
    """Measure the peak extra memory of the block: CUDA's allocator peak on a GPU, else the
    process's resident-set growth sampled every 20 ms (``result["peak_memory_mb"]``)."""
    import torch

    result: dict[str, float] = {}
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.memory_allocated()
        yield result
        result["peak_memory_mb"] = (torch.cuda.max_memory_allocated() - start) / 2**20
        return
    import psutil

    process = psutil.Process()
    start = process.memory_info().rss
    peak = [start]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], process.memory_info().rss)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        done.set()
        thread.join()
        peak[0] = max(peak[0], process.memory_info().rss)
        result["peak_memory_mb"] = (peak[0] - start) / 2**20


@dataclass
class AdaptResult:
    """One adaptation run: what was trained, how well, how fast, with how much memory.

    Entity F1 is in ``test_f1`` for a run scored on the test split and in ``dev_f1`` for one scored
    on validation (choosing settings); the other is None, so a dev F1 is never read as a test F1.
    Either may come from a fixed sample of its split (``adapt``'s ``scored_split``).
    """

    target: str
    strategy: str
    init: str
    trainable_params: int
    trainable_pct: float
    test_f1: float | None
    train_seconds: float
    peak_memory_mb: float
    lr: float
    epochs: float
    train_sentences: int
    dev_f1: float | None = None
    mapped_f1: float | None = None  # test F1 on the types mapped to the source's (adapt's ``mapping``)


def target_model(labels: Sequence[str], init: str, *, source_folder: str | None = None,
                 name: str = "auto") -> tuple[Any, Any]:
    """A token classifier for the target's labels: from the raw pre-trained encoder
    (``init="pretrained"``) or from the source tagger's encoder with a new head (``init="source"``)."""
    from ..models import load_token_classifier

    if init == "pretrained":  # a checkpoint that already has a head of another size gets a fresh one
        return load_token_classifier(labels, name=name, ignore_mismatched_sizes=True)
    if init == "source":
        if not source_folder:
            raise BmcourseError(_("init='source' needs the source tagger's folder"),
                                fix=_("pass source_folder=source_tagger()[2]['folder']"))
        return load_token_classifier(labels, name=source_folder, ignore_mismatched_sizes=True)
    raise BmcourseError(_("unknown init {init}").format(init=repr(init)),
                        fix=_("use one of {choices}").format(choices=", ".join(INITS)))


def adapt(target: str, data: Any, strategy: str, init: str, *, source_folder: str | None = None,
          train_split: Any = None, epochs: float = 3.0, lr: float | None = None, batch_size: int = 16,
          seed: int = 0, name: str = "auto", device: str | None = None, progress: bool = False,
          evaluate_on: str = "test", scored_split: Any = None,
          mapping: dict[str, str] | None = None) -> tuple[AdaptResult, Any, Any]:
    """Adapt to ``target`` with one strategy from one starting point; score entity F1 on
    ``evaluate_on`` (``"validation"`` when choosing settings), or on ``scored_split`` (a fixed
    sample of that split) when given; with ``mapping`` (target type -> source type), also on the
    mapped types (``mapped_f1``, as zero-shot is scored). Returns the result (its ``test_f1`` or
    ``dev_f1``, by the split scored), model, tokenizer."""
    from .. import metrics
    from ..config import seed_everything
    from ..train import TrainConfig, encode_ner, evaluate, fit, word_tags
    from .source import mapped_scores

    if evaluate_on not in ("test", "validation"):
        raise BmcourseError(_("evaluate_on={evaluate_on} is not a split adapt scores").format(
                                evaluate_on=repr(evaluate_on)),
                            fix=_("use 'test', or 'validation' when choosing settings"))
    labels = data["train"].features["ner_tags"].feature.names
    split = data["train"] if train_split is None else train_split
    lr = STRATEGY_LR[strategy] if lr is None else lr
    seed_everything(seed)
    model, tokenizer = target_model(labels, init, source_folder=source_folder, name=name)
    model = apply_strategy(model, strategy)
    trainable, _total, pct = trainable_share(model)
    train = encode_ner(split, tokenizer, quiet=True)
    scored = encode_ner(data[evaluate_on] if scored_split is None else scored_split, tokenizer, training=False)
    config = TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, progress=progress,
                         device=device)
    with peak_memory() as memory:
        result = fit(model, train, None, config)
    mapped_f1 = None
    if mapping is None:
        scores = evaluate(model, scored, device=device, progress=False)
    else:  # one prediction pass, scored twice: on the target's own types and on the mapped ones
        gold, pred = word_tags(model, scored, device=device, progress=False)
        scores = metrics.ner_report(gold, pred)
        mapped_f1 = mapped_scores(gold, pred, mapping)["f1"]
    on_test = evaluate_on == "test"
    return (AdaptResult(target, strategy, init, trainable, round(pct, 4),
                        test_f1=scores["f1"] if on_test else None, dev_f1=None if on_test else scores["f1"],
                        train_seconds=result.train_seconds, peak_memory_mb=memory["peak_memory_mb"], lr=lr,
                        epochs=epochs, train_sentences=split.num_rows, mapped_f1=mapped_f1), model, tokenizer)
