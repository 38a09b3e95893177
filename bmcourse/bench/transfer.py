"""``bmcourse bench transfer`` and ``bench transfer-lr``: the domain-transfer experiments of
notebook 03 on the real data (zero-shot, the strategy table, few-shot curves with augmentation,
forgetting with replay), and each strategy's learning rate chosen on validation data.
"""
from __future__ import annotations

from typing import Any

from ..transfer import BUDGET, EVAL_SAMPLE, epochs_for
from .common import Phases, result_row

DEFAULT_TARGETS = ("wnut17", "ncbi_disease", "crossner_politics", "crossner_science")
DEFAULT_SIZES = (10, 25, 50, 100, 10**9)  # 10**9: all of the training split


def bench_transfer(targets: tuple[str, ...] = DEFAULT_TARGETS, strategies: tuple[str, ...] | None = None,
                   inits: tuple[str, ...] | None = None, sizes: tuple[int, ...] = DEFAULT_SIZES,
                   seeds: int = 3, epochs: float | None = None, budget: int = BUDGET,
                   eval_sample: int | None = EVAL_SAMPLE, replay: float = 0.5, augment_up_to: int = 25,
                   augment_init: str = "source", device: str | None = None, name: str = "auto",
                   progress: bool = False, log: Any = print, on_target: Any = None) -> dict[str, Any]:
    """Zero-shot, the strategy table, few-shot curves (with mention-replacement augmentation at
    the small sizes) and forgetting with and without replay, per target; returns the JSON payload.
    ``on_target(payload)`` is called after each target with the results so far."""
    from .. import reference
    from .. import transfer as tr
    from ..data import load_ner, source_label
    from ..models import loaded_model_info, model_info
    from ..train import encode_ner, evaluate

    strategies = strategies or tr.STRATEGIES
    inits = inits or tr.INITS
    phases = Phases()
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
        scored = tr.fixed_sample(data["test"], eval_sample)
        # The table's full fine-tuning on all of the training split with seed 0 is the same run as the
        # few-shot curve's "all" point for seed 0 (same sentences in the same order, epochs, rate and
        # seed): it is scored on the few-shot sample too and reused there, not trained twice.
        shared: dict[str, dict[str, Any]] = {}
        reuse = seeds > 0 and max(sizes) >= n_train
        for strategy in strategies:
            for init in inits:
                result, model, tokenizer_ = tr.adapt(target, data, strategy, init, source_folder=info["folder"],
                                                     epochs=run_epochs(n_train), seed=0, name=name, device=device,
                                                     progress=progress, mapping=mapping.mapped or None)  # + zero-shot's task
                rows.append(result_row(result))
                log(f"{target} {strategy:12} init={init:10} F1 {result.test_f1:.4f} "
                    f"({result.trainable_pct:.2f}% trainable, {result.train_seconds:.0f} s)")
                if reuse and strategy == "full":
                    sample_f1 = evaluate(model, encode_ner(scored, tokenizer_, training=False), device=device,
                                         progress=False)["f1"]
                    shared[init] = {"test_f1": round(sample_f1, 4), "train_seconds": round(result.train_seconds, 2),
                                    "shared_with": "strategy table (full, seed 0)"}
                del model
        t = phases.add("strategy table", t)
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
                        if seed == 0 and augmentation == "none" and subset.num_rows == n_train and init in shared:
                            few.append({"target": target, "n": n_train, "seed": 0, "init": init,
                                        "augmentation": "none", **shared[init]})
                            continue
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

    from .. import reference
    from .. import transfer as tr
    from ..data import load_ner, source_label
    from ..models import model_info

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
