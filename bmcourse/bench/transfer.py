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


def default_workers(device: str | None = None) -> int:
    """Processes for ``bench transfer``'s runs: one per CPU core when training on the CPU (its runs are
    small: two one-thread processes on two cores did 1.39x the runs per hour of one two-thread process,
    with the same F1), else one (a GPU takes the runs one after another)."""
    import os

    from ..config import device as default_device

    if (device or default_device()) != "cpu":
        return 1
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


_DATA: dict[str, Any] = {}  # per process: each dataset is read once


def _data(name: str) -> Any:
    from ..data import load_ner

    if name not in _DATA:
        _DATA[name] = load_ner(name)
    return _DATA[name]


def _start_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """One run of ``bench transfer`` from its description (plain data, so a worker process can take it):
    an ``adapt`` run (a strategy-table row or a few-shot point) or a ``forgetting`` run. Returns its
    result and the seconds it took."""
    import time

    from .. import transfer as tr
    from ..train import encode_ner, evaluate

    started = time.perf_counter()
    data = _data(job["target"])
    if job["kind"] == "forgetting":
        from ..models import load_token_classifier

        source_data = _data("conll2003")
        source, tokenizer = load_token_classifier(source_data["train"].features["ner_tags"].feature.names,
                                                  name=job["source_folder"])
        out: dict[str, Any] = tr.forgetting(source, tokenizer, source_data, data, replay=job["replay"],
                                            epochs=job["epochs"], device=job["device"])
        return {"result": out, "seconds": time.perf_counter() - started}
    point = job.get("n") is not None  # a few-shot point: its sample (and augmentation), scored on the fixed sample
    split = data["train"]
    if point:
        split = tr.few_shot(split, job["n"], job["seed"], quiet=True)
        if job["augmentation"] == "mention_replacement":
            split = tr.augment_with_mentions(split, copies=1, seed=job["seed"])
    scored = tr.fixed_sample(data["test"], job["eval_sample"]) if point or job.get("also_sample") else None
    runs_for = job["epochs"] or tr.epochs_for(split.num_rows, job.get("budget", tr.BUDGET))
    result, model, tokenizer = tr.adapt(job["target"], data, job["strategy"], job["init"],
                                        source_folder=job["source_folder"], train_split=split,
                                        epochs=runs_for, seed=job["seed"], name=job["name"], device=job["device"],
                                        mapping=job.get("mapping"), scored_split=scored if point else None)
    out = {"result": result_row(result)}
    if job.get("also_sample"):  # the table's run that is also a few-shot point: scored on that sample too
        out["sample_f1"] = evaluate(model, encode_ner(scored, tokenizer, training=False), device=job["device"],
                                    progress=False)["f1"]
    return {**out, "seconds": time.perf_counter() - started}


def bench_transfer(targets: tuple[str, ...] = DEFAULT_TARGETS, strategies: tuple[str, ...] | None = None,
                   inits: tuple[str, ...] | None = None, sizes: tuple[int, ...] = DEFAULT_SIZES,
                   seeds: int = 3, epochs: float | None = None, budget: int = BUDGET,
                   eval_sample: int | None = EVAL_SAMPLE, replay: float = 0.5, augment_up_to: int = 25,
                   augment_init: str = "source", device: str | None = None, name: str = "auto",
                   progress: bool = False, log: Any = print, on_target: Any = None,
                   workers: int | None = None) -> dict[str, Any]:
    """Zero-shot, the strategy table, few-shot curves (with mention-replacement augmentation at
    the small sizes) and forgetting with and without replay, per target; returns the JSON payload.
    ``on_target(payload)`` is called after each target with the results so far.

    The runs of a target are independent: ``workers`` processes (default :func:`default_workers`) take
    them, each with its share of the threads; every run is seeded as when run alone."""
    from concurrent.futures import ProcessPoolExecutor
    from contextlib import nullcontext
    from multiprocessing import get_context

    import torch

    from .. import reference
    from .. import transfer as tr
    from ..data import load_ner, source_label
    from ..models import loaded_model_info, model_info
    from ..train import encode_ner, evaluate

    strategies = strategies or tr.STRATEGIES
    inits = inits or tr.INITS
    workers = workers or default_workers(device)
    threads = max(1, torch.get_num_threads() // workers)
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
    worker_seconds: dict[str, float] = {}

    def run_epochs(n: int) -> float:
        return epochs or epochs_for(n, budget)

    def payload() -> dict[str, Any]:
        return {"rows": rows, "zero_shot": zero, "few_shot": few, "forgetting": forget,
                "source": {**{k: v for k, v in info.items() if k != "folder"}, "test_f1": round(before, 4)},
                "seconds_per_target": seconds, "seconds_per_phase": phases.seconds,
                "worker_seconds_per_phase": {k: round(v, 1) for k, v in worker_seconds.items()},
                "total_seconds": round(phases.clock() - started, 1),
                "settings": {"targets": list(targets), "strategies": list(strategies), "inits": list(inits),
                             "sizes": list(sizes), "seeds": seeds, "budget_sentences": budget,
                             "epochs": epochs or f"min(10, {budget} / training sentences)",
                             "few_shot_scored_on": f"a fixed sample of {eval_sample} test sentences"
                             if eval_sample else "the whole test split",
                             "strategy_lr": tr.STRATEGY_LR, "replay": replay,
                             "augment_up_to": augment_up_to, "augment_init": augment_init,
                             "workers": workers, "threads_per_worker": threads if workers > 1 else torch.get_num_threads(),
                             "train_seconds_measured": "per run, inside its worker process"
                             + (f" ({workers} running at once, {threads} thread(s) each)" if workers > 1 else "")},
                **reference.provenance(model={**model_info(name), "cased": loaded_model_info(source, tokenizer)["cased"]},
                                       data_source="; ".join(source_label(x, kind="ner")
                                                             for x in ("conll2003", *targets)),
                                       command=reference.command_line())}

    pool: Any = (ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=_start_worker,
                                     initargs=(threads,)) if workers > 1 else nullcontext())
    with pool:
        def results(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
            """The jobs' results in their order: from the worker processes, or run here one by one."""
            return list((pool.map if workers > 1 else map)(run_job, jobs))

        for target in targets:
            t0 = t = phases.clock()
            data = _data(target)
            labels = data["train"].features["ner_tags"].feature.names
            n_train = data["train"].num_rows
            mapping = tr.label_mapping(labels, source_labels)
            zero[target] = tr.zero_shot(source, tokenizer, data["test"], mapping, device=device)
            t = phases.add("zero-shot", t)
            zero_f1 = zero[target]["test_f1"]
            log(f"{target}: zero-shot F1 {'-' if zero_f1 is None else f'{zero_f1:.4f}'} on mapped types {mapping.mapped}; "
                f"unmapped {zero[target]['unmapped']}")
            common = {"target": target, "source_folder": info["folder"], "name": name, "device": device,
                      "eval_sample": eval_sample}
            # The table's full fine-tuning on all of the training split with seed 0 is the same run as the
            # few-shot curve's "all" point for seed 0 (same sentences in the same order, epochs, rate and
            # seed): it is scored on the few-shot sample too and reused there, not trained twice.
            reuse = seeds > 0 and max(sizes) >= n_train
            table = [{**common, "kind": "adapt", "phase": "strategy table", "strategy": s, "init": i, "seed": 0,
                      "epochs": run_epochs(n_train), "mapping": mapping.mapped or None,  # + zero-shot's task
                      "also_sample": reuse and s == "full"} for s in strategies for i in inits]
            points, done = [], set()
            for n in sizes:
                if min(n, n_train) in done:
                    continue  # a second size at or above the split's size is the same "all" run
                done.add(min(n, n_train))
                if n > n_train:
                    log(f"{target}: size {n} is larger than the training split ({n_train} sentences): using all of it")
                for seed in range(seeds):
                    variants = [("none", inits)]
                    if n <= augment_up_to and augment_init in inits:
                        variants.append(("mention_replacement", (augment_init,)))
                    for augmentation, run_inits in variants:
                        points += [{**common, "kind": "adapt", "phase": "few-shot curves and augmentation",
                                    "strategy": "full", "init": i, "seed": seed, "n": min(n, n_train),
                                    "augmentation": augmentation} for i in run_inits]
            shared = {job["init"] for job in table if job["also_sample"]}
            points = [p for p in points if not (p["seed"] == 0 and p["augmentation"] == "none"
                                                and p["n"] == n_train and p["init"] in shared)]
            for p in points:  # epochs follow the sentences the run trains on (the worker counts them)
                p["epochs"], p["budget"] = epochs, budget
            forgetting = [{**common, "kind": "forgetting", "phase": "forgetting and replay", "replay": r,
                           "epochs": run_epochs(n_train)} for r in (0.0, replay)]
            jobs = table + points + forgetting
            done_jobs = results(jobs)
            t = phases.add(f"runs (strategy table, few-shot, forgetting) on {workers} worker(s)", t)
            for job, out in zip(jobs, done_jobs):
                worker_seconds[job["phase"]] = worker_seconds.get(job["phase"], 0.0) + out["seconds"]
            for job, out in zip(table, done_jobs[:len(table)]):
                row = out["result"]
                rows.append(row)
                log(f"{target} {job['strategy']:12} init={job['init']:10} F1 {row['test_f1']:.4f} "
                    f"({row['trainable_pct']:.2f}% trainable, {row['train_seconds']:.0f} s)")
                if job["also_sample"]:
                    few.append({"target": target, "n": n_train, "seed": 0, "init": job["init"], "augmentation": "none",
                                "test_f1": round(out["sample_f1"], 4), "train_seconds": round(row["train_seconds"], 2),
                                "shared_with": "strategy table (full, seed 0)"})
            for job, out in zip(points, done_jobs[len(table):len(table) + len(points)]):
                few.append({"target": target, "n": job["n"], "seed": job["seed"], "init": job["init"],
                            "augmentation": job["augmentation"], "test_f1": round(out["result"]["test_f1"], 4),
                            "train_seconds": round(out["result"]["train_seconds"], 2)})
            few.sort(key=lambda r: (targets.index(r["target"]), r["n"], r["seed"], r["augmentation"] != "none",
                                    inits.index(r["init"])))
            log(f"{target}: few-shot sizes {sorted(done)} done")
            after, replayed = (out["result"] for out in done_jobs[-2:])
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
