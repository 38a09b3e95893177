"""Benchmarks that write JSON: ``bmcourse bench ner`` fine-tunes on the real CoNLL-2003."""
from __future__ import annotations

import os
import random
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import BmcourseError

if TYPE_CHECKING:
    import torch

SEED_RECIPE_LENGTH = 128   # the source articles pad every sentence to 128 sub-words
SEED_RECIPE_BATCH = 16


def sample_only(names: tuple[str, ...] | list[str]) -> list[str]:
    """The datasets of ``names`` that would come from the embedded samples now (no local folder, no Hub)."""
    from .data import resolve_source

    return [name for name in names if resolve_source(name)[0] == "sample"]


def require_real_data(names: tuple[str, ...] | list[str], needed_for: str, *, otherwise: str = "") -> None:
    """Refuse (``BmcourseError``) when any of ``names`` would come from the embedded samples: a model
    trained or scored on a few hundred illustration sentences must never pass for a real one.

    The fix says which variable to set and how to get the data; ``otherwise`` adds another way out."""
    from .config import is_offline, is_smoke
    from .data import REGISTRY

    missing = sample_only(names)
    if not missing:
        return
    folders = ", ".join(f"{REGISTRY[n].folder if n in REGISTRY else n}/train.jsonl" for n in missing)
    if is_smoke():
        why = "BMCOURSE_PROFILE=smoke uses only the embedded samples"
        fix = "unset BMCOURSE_PROFILE (or set it to full) and set BMCOURSE_DATA_DIR to the data folder"
    else:
        why = f"no BMCOURSE_DATA_DIR folder holds {'them' if len(missing) > 1 else 'it'} and the Hugging Face Hub is " + (
            "switched off" if is_offline() else "out of reach")
        fix = "set BMCOURSE_DATA_DIR to the data folder"
    fix += (f" holding {folders} (the course's shared data, e.g. export BMCOURSE_DATA_DIR=../shared/data; "
            "README, section Data), or go online"
            + (" (unset HF_HUB_OFFLINE and BMCOURSE_OFFLINE)" if is_offline() else "")
            + " so it loads from the Hugging Face Hub" + (f"; {otherwise}" if otherwise else ""))
    samples = "samples (a few hundred illustration sentences each) are" if len(missing) > 1 else \
        "sample (a few hundred illustration sentences) is"
    raise BmcourseError(f"{needed_for} needs the real {', '.join(missing)}, but only the embedded {samples} "
                        f"available: {why}", fix=fix)


def seed_recipe_features(split: Any, tokenizer: Any, n: int, seed: int = 0) -> list[dict]:
    """``n`` sentences encoded the articles' way: padded to 128, tags from [CLS] on, padding = O."""
    rng = random.Random(seed)
    rows = [split[i] for i in rng.sample(range(len(split)), n)]
    features = []
    for row in rows:
        enc = tokenizer(" ".join(row["tokens"]), max_length=SEED_RECIPE_LENGTH,
                        padding="max_length", truncation=True)
        tags = (list(row["ner_tags"]) + [0] * SEED_RECIPE_LENGTH)[:SEED_RECIPE_LENGTH]
        features.append({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
                         "labels": tags, "pad_id": tokenizer.pad_token_id})
    return features


def seed_recipe_throughput(model: torch.nn.Module, features: list[dict], lr: float = 2e-5,
                           device: str | None = None) -> dict[str, float]:
    """Train on padded-to-128 batches of 16 for a fixed number of steps; useful tokens per second."""
    from .train import TrainConfig, fit

    config = TrainConfig(epochs=1, lr=lr, batch_size=SEED_RECIPE_BATCH, warmup=0.0,
                         schedule="constant", clip=None, group_by_length=False, progress=False,
                         weight_decay=0.0, device=device)
    result = fit(model, features, None, config)
    return {"steps": result.steps, "seconds": result.train_seconds,
            "useful_tokens": result.useful_tokens,
            "useful_tokens_per_second": result.useful_tokens_per_second}


def bench_ner(model_name: str = "auto", epochs: float = 1.0, lr: float = 2e-4, batch_size: int = 16,
              label_all_subwords: bool = False, warmup: float = 0.1, seed: int = 0,
              seed_recipe_steps: int = 30, device: str | None = None,
              decode: str = "viterbi", dropout: float | None = 0.0,
              save_model_dir: str | Path | None = None) -> dict[str, Any]:
    """Fine-tune on the real CoNLL-2003 and measure F1, time and throughput against the seed recipe.

    With ``save_model_dir`` the fine-tuned tagger is saved there (``bmcourse redact --model DIR``)."""
    from . import config as cfg
    from . import reference
    from .data import load_ner, source_label
    from .hub import quiet_transformers
    from .models import load_token_classifier, loaded_model_info
    from .train import TrainConfig, encode_ner, evaluate, fit, is_main_process, processes

    os.environ["BMCOURSE_PROFILE"] = "full"
    require_real_data(("conll2003",), "the NER benchmark")
    if save_model_dir is not None and Path(save_model_dir).exists() and not Path(save_model_dir).is_dir():
        raise BmcourseError("--save-model must name a folder, but this is a file", file=save_model_dir,
                            fix="choose a new or existing folder")
    quiet_transformers()
    cfg.seed_everything(seed)
    data = load_ner("conll2003")
    labels = data["train"].features["ner_tags"].feature.names
    overrides = {} if dropout is None else {"hidden_dropout_prob": dropout,
                                            "attention_probs_dropout_prob": dropout}
    model, tokenizer = load_token_classifier(labels, name=model_name, **overrides)
    train = encode_ner(data["train"], tokenizer, label_all_subwords=label_all_subwords)
    dev = encode_ner(data["validation"], tokenizer, training=False)
    test = encode_ner(data["test"], tokenizer, training=False)
    config = TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size, warmup=warmup, seed=seed,
                         device=device, decode=decode, progress=sys.stderr.isatty())
    pad_id = tokenizer.pad_token_id
    result = fit(model, train, dev, config, pad_id=pad_id)
    scores = evaluate(model, test, device=device, pad_id=pad_id, decode=decode, progress=False)
    argmax = scores if decode == "argmax" else evaluate(model, test, device=device, pad_id=pad_id,
                                                         progress=False)
    world = processes()[1]
    saved = None
    if save_model_dir is not None and is_main_process():
        from .models import save_model

        saved = str(save_model(model, tokenizer, save_model_dir))

    cfg.seed_everything(seed)
    fresh, _ = load_token_classifier(labels, name=model_name)
    seed_features = seed_recipe_features(data["train"], tokenizer, seed_recipe_steps * SEED_RECIPE_BATCH, seed)
    seed_run = seed_recipe_throughput(fresh, seed_features, device=device)
    return {
        "test_f1": round(scores["f1"], 4),
        "test_f1_strict": round(scores["f1_strict"], 4),
        "token_accuracy": round(scores["token_accuracy"], 4),
        "token_f1_with_o": round(scores["token_f1_with_o"], 4),
        "test_f1_argmax_decoding": round(argmax["f1"], 4),
        "dev_f1": round(result.best.get("dev_f1", float("nan")), 4),
        "train_seconds": round(result.train_seconds, 1),
        "useful_tokens_per_second": round(result.useful_tokens_per_second, 1),
        "padding_fraction": round(1 - result.useful_tokens / max(1, result.padded_tokens), 4),
        "seed_recipe_useful_tokens_per_second": round(seed_run["useful_tokens_per_second"], 1),
        "seed_recipe_steps": seed_run["steps"],
        "speedup_vs_seed_recipe": round(result.useful_tokens_per_second / seed_run["useful_tokens_per_second"], 2),
        "device": str(next(model.parameters()).device),
        "epochs": epochs,
        **({"saved_model": saved} if saved else {}),
        "settings": {"lr": lr, "batch_size": batch_size, "warmup": warmup, "schedule": "linear",
                     "label_all_subwords": label_all_subwords, "group_by_length": True,
                     "decode": decode, "dropout": dropout if dropout is not None else "model default",
                     "weight_decay": 0.01, "clip": 1.0, "seed": seed,
                     # under `accelerate launch`: batch_size is per process; one update sees them all
                     "processes": world, "global_batch_size": batch_size * world},
        "steps": result.steps,
        "data": {"train": len(data["train"]), "test": len(data["test"])},
        **reference.provenance(model=loaded_model_info(model, tokenizer),
                               data_source=source_label("conll2003", kind="ner"), command=reference.command_line()),
        "history": result.history,
    }


def write_json(payload: dict[str, Any], out: str | Path) -> Path:
    """Write ``payload`` as indented JSON, atomically (``reference.write_json``: whole or not at all),
    creating the folder; under ``accelerate launch`` only the main process writes (the others
    return the same path)."""
    from .reference import write_json as write_whole
    from .train import is_main_process

    out = Path(out)
    if is_main_process():
        write_whole(payload, out)
    return out


# --- bmcourse bench transfer ------------------------------------------------------------------

DEFAULT_TARGETS = ("wnut17", "ncbi_disease", "crossner_politics", "crossner_science")
DEFAULT_SIZES = (10, 25, 50, 100, 10**9)  # 10**9: all of the training split
BUDGET = 500        # sentence presentations per run: every run gets the same compute
EVAL_SAMPLE = 300   # few-shot and augmentation runs are scored on this fixed test sample


def epochs_for(sentences: int, budget: int = BUDGET, most: float = 10.0) -> float:
    """Epochs so a run sees about ``budget`` sentences: at most ``most`` passes over a tiny split,
    a fraction of one pass over a large one (every run then costs about the same)."""
    return float(min(most, budget / max(1, sentences)))


class _Phases:
    """Wall-clock seconds per phase of a benchmark: says where the time goes."""

    def __init__(self) -> None:
        import time

        self.clock = time.perf_counter
        self.seconds: dict[str, float] = {}

    def add(self, phase: str, since: float) -> float:
        now = self.clock()
        self.seconds[phase] = round(self.seconds.get(phase, 0.0) + now - since, 1)
        return now


def _row(result: Any) -> dict[str, Any]:
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in vars(result).items()}


def bench_transfer(targets: tuple[str, ...] = DEFAULT_TARGETS, strategies: tuple[str, ...] | None = None,
                   inits: tuple[str, ...] | None = None, sizes: tuple[int, ...] = DEFAULT_SIZES,
                   seeds: int = 3, epochs: float | None = None, budget: int = BUDGET,
                   eval_sample: int | None = EVAL_SAMPLE, replay: float = 0.5, augment_up_to: int = 25,
                   augment_init: str = "source", device: str | None = None, name: str = "auto",
                   progress: bool = False, log: Any = print, on_target: Any = None) -> dict[str, Any]:
    """Zero-shot, the strategy table, few-shot curves (with mention-replacement augmentation at
    the small sizes) and forgetting with and without replay, per target; returns the JSON payload.
    ``on_target(payload)`` is called after each target with the results so far."""
    from . import reference
    from . import transfer as tr
    from .data import load_ner, source_label
    from .models import loaded_model_info, model_info
    from .train import encode_ner, evaluate

    strategies = strategies or tr.STRATEGIES
    inits = inits or tr.INITS
    phases = _Phases()
    started = t = phases.clock()
    source, tokenizer, info = tr.source_tagger(name=name, progress=progress, device=device)
    source_data = load_ner("conll2003")
    source_labels = source_data["train"].features["ner_tags"].feature.names
    source_test = encode_ner(source_data["test"], tokenizer, training=False)
    before = evaluate(source, source_test, device=device, progress=False)["f1"]
    t = phases.add("source tagger (load or train) and its CoNLL-2003 test F1", t)
    log(f"source tagger ({'cached' if info['cached'] else 'trained'}): CoNLL-2003 test F1 {before:.4f}")
    rows, zero, few, forget, seconds = [], {}, [], {}, {}

    def run_epochs(n: int) -> float:
        return epochs or epochs_for(n, budget)

    def payload() -> dict[str, Any]:
        return {"rows": rows, "zero_shot": zero, "few_shot": few, "forgetting": forget,
                "source": {**{k: v for k, v in info.items() if k != "folder"}, "test_f1": round(before, 4)},
                "seconds_per_target": seconds, "seconds_per_phase": phases.seconds,
                "total_seconds": round(phases.clock() - started, 1),
                "settings": {"targets": list(targets), "strategies": list(strategies), "inits": list(inits),
                             "sizes": list(sizes), "seeds": seeds, "budget_sentences": budget,
                             "epochs": epochs or f"min(10, {budget} / training sentences)",
                             "few_shot_scored_on": f"a fixed sample of {eval_sample} test sentences"
                             if eval_sample else "the whole test split",
                             "strategy_lr": tr.STRATEGY_LR, "replay": replay,
                             "augment_up_to": augment_up_to, "augment_init": augment_init},
                **reference.provenance(model={**model_info(name), "cased": loaded_model_info(source, tokenizer)["cased"]},
                                       data_source="; ".join(source_label(x, kind="ner")
                                                             for x in ("conll2003", *targets)),
                                       command=reference.command_line())}

    for target in targets:
        t0 = t = phases.clock()
        data = load_ner(target)
        labels = data["train"].features["ner_tags"].feature.names
        n_train = data["train"].num_rows
        mapping = tr.label_mapping(labels, source_labels)
        zero[target] = tr.zero_shot(source, tokenizer, data["test"], mapping, device=device)
        t = phases.add("zero-shot", t)
        zero_f1 = zero[target]["test_f1"]
        log(f"{target}: zero-shot F1 {'-' if zero_f1 is None else f'{zero_f1:.4f}'} on mapped types {mapping.mapped}; "
            f"unmapped {zero[target]['unmapped']}")
        for strategy in strategies:
            for init in inits:
                result, _, _ = tr.adapt(target, data, strategy, init, source_folder=info["folder"],
                                        epochs=run_epochs(n_train), seed=0, name=name, device=device,
                                        progress=progress)
                rows.append(_row(result))
                log(f"{target} {strategy:12} init={init:10} F1 {result.test_f1:.4f} "
                    f"({result.trainable_pct:.2f}% trainable, {result.train_seconds:.0f} s)")
        t = phases.add("strategy table", t)
        scored = tr.fixed_sample(data["test"], eval_sample)
        done: set[int] = set()
        for n in sizes:
            if min(n, n_train) in done:
                continue  # a second size at or above the split's size is the same "all" run
            done.add(min(n, n_train))
            if n > n_train:
                log(f"{target}: size {n} is larger than the training split ({n_train} sentences): using all of it")
            for seed in range(seeds):
                subset = tr.few_shot(data["train"], n, seed, quiet=True)
                variants = [("none", subset, inits)]
                if n <= augment_up_to and augment_init in inits:
                    variants.append(("mention_replacement", tr.augment_with_mentions(subset, copies=1, seed=seed),
                                     (augment_init,)))
                for augmentation, split, run_inits in variants:
                    for init in run_inits:
                        result, _, _ = tr.adapt(target, data, "full", init, source_folder=info["folder"],
                                                train_split=split, epochs=run_epochs(split.num_rows), seed=seed,
                                                name=name, device=device, scored_split=scored)
                        few.append({"target": target, "n": subset.num_rows, "seed": seed, "init": init,
                                    "augmentation": augmentation, "test_f1": round(result.test_f1, 4),
                                    "train_seconds": round(result.train_seconds, 2)})
            log(f"{target}: few-shot n={min(n, n_train)} done")
        t = phases.add("few-shot curves and augmentation", t)
        after = tr.forgetting(source, tokenizer, source_data, data, replay=0.0, epochs=run_epochs(n_train),
                              device=device)
        replayed = tr.forgetting(source, tokenizer, source_data, data, replay=replay,
                                 epochs=run_epochs(n_train), device=device)
        t = phases.add("forgetting and replay", t)
        forget[target] = {"before": round(before, 4), "after": round(after["source_f1"], 4),
                          "after_replay": round(replayed["source_f1"], 4), "replay": replay,
                          "replayed_sentences": replayed["replayed_sentences"],
                          "target_f1": round(after["target_f1"], 4),
                          "target_f1_replay": round(replayed["target_f1"], 4),
                          "train_seconds": round(after["train_seconds"], 1),
                          "train_seconds_replay": round(replayed["train_seconds"], 1)}
        log(f"{target}: CoNLL F1 before {before:.4f}, after {after['source_f1']:.4f}, "
            f"after with replay {replayed['source_f1']:.4f}")
        seconds[target] = round(t - t0, 1)
        if on_target:
            on_target(payload())
    return payload()


LR_TARGETS = ("crossner_politics", "wnut17")  # bench transfer-lr chooses the learning rates on these


def bench_transfer_lr(targets: tuple[str, ...] = LR_TARGETS,
                      strategies: tuple[str, ...] | None = None, init: str = "pretrained",
                      budget: int = BUDGET, eval_sample: int | None = EVAL_SAMPLE, seed: int = 0,
                      extend: int = 2, device: str | None = None, name: str = "auto", log: Any = print
                      ) -> dict[str, Any]:
    """Choose each strategy's learning rate on validation data (never test): dev F1 for every
    rate of ``transfer.LR_GRID``; the best mean over ``targets`` wins. While the best is the
    largest rate tried, up to ``extend`` larger ones (x2.5 each) are tried too."""
    import time

    from . import reference
    from . import transfer as tr
    from .data import load_ner, source_label
    from .models import model_info

    strategies = strategies or tr.STRATEGIES
    started = time.perf_counter()
    folder = tr.source_tagger(name=name, progress=False, device=device)[2]["folder"] if init == "source" else None
    data = {target: load_ner(target) for target in targets}
    dev = {target: tr.fixed_sample(data[target]["validation"], eval_sample) for target in targets}
    runs: list[dict[str, Any]] = []

    def mean_dev_f1(strategy: str, lr: float) -> float:
        for target in targets:
            if not any(r["strategy"] == strategy and r["lr"] == lr and r["target"] == target for r in runs):
                result, _, _ = tr.adapt(target, data[target], strategy, init, source_folder=folder, lr=lr,
                                        seed=seed, epochs=epochs_for(data[target]["train"].num_rows, budget),
                                        name=name, device=device, evaluate_on="validation",
                                        scored_split=dev[target])
                runs.append({"target": target, "strategy": strategy, "lr": lr,
                             "dev_f1": round(result.dev_f1, 4), "train_seconds": round(result.train_seconds, 1)})
                log(f"{target} {strategy:12} lr={lr:g} dev F1 {result.dev_f1:.4f}")
        return sum(r["dev_f1"] for r in runs if r["strategy"] == strategy and r["lr"] == lr) / len(targets)

    chosen, tried = {}, {}
    for strategy in strategies:
        grid = list(tr.LR_GRID[strategy])
        means = {lr: mean_dev_f1(strategy, lr) for lr in grid}
        while max(means, key=lambda lr: (means[lr], -lr)) == grid[-1] and len(grid) < len(tr.LR_GRID[strategy]) + extend:
            grid.append(float(f"{grid[-1] * 2.5:.2g}"))  # the best rate is the largest tried: go one step further
            means[grid[-1]] = mean_dev_f1(strategy, grid[-1])
        chosen[strategy] = max(means, key=lambda lr: (means[lr], -lr))
        tried[strategy] = {str(lr): round(m, 4) for lr, m in means.items()}
    return {"runs": runs, "chosen": chosen, "mean_dev_f1": tried, "total_seconds": round(time.perf_counter() - started, 1),
            "settings": {"targets": list(targets), "init": init, "budget_sentences": budget, "seed": seed,
                         "extend": extend,
                         "scored_on": f"a fixed sample of {eval_sample} validation sentences"
                         if eval_sample else "the whole validation split", "grid": tr.LR_GRID},
            **reference.provenance(model=model_info(name),
                                   data_source="; ".join(source_label(x, kind="ner") for x in targets),
                                   command=reference.command_line())}
