"""``bmcourse reference list|refresh``: show the shipped reference results, or measure them anew.

``refresh`` runs a notebook in the full profile (``NOTEBOOK_REFERENCES``) or a benchmark recipe
(``BENCH_RECIPES``, ``TRANSFER_RECIPES``, ``INFERENCE_RECIPES``, ``DISTILL_RECIPES``) on the real data
only, and replaces the shipped files whole, after every file of the run has been written: never a
sample number, never half a refresh.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from . import bench_commands, commands

#: ``bmcourse reference refresh WHAT``: the notebook run in the full profile, the result it writes,
#: and the datasets it loads (each must be the real one: a refresh never ships sample numbers).
NOTEBOOK_REFERENCES = {
    "ner": ("02_ner_finetuning.ipynb", "ner_reference", (".json", ".png"), ("conll2003",)),
    "foundations": ("00_foundations.ipynb", "foundations_reference", (".json",), ("sst2", "conll2003")),
    "applications": ("04_applications.ipynb", "applications_reference", (".json",),
                     ("banking77", "financial_phrasebank", "conll2003")),
    "deployment": ("05_deployment_and_trust.ipynb", "deployment_reference", (".json",),
                   ("banking77", "conll2003", "wnut17")),
}
BENCH_RECIPES = {  # shipped name -> bench command (the tuned default and the articles' plain recipe)
    "bench_ner_cpu": ["bench", "ner"],
    "bench_ner_cpu_plain": ["bench", "ner", "--lr", "5e-5", "--dropout", "-1", "--decode", "argmax"],
}
#: ``bmcourse reference refresh transfer``: learning rates on validation data first, then the bench
#: (which reads them from ``transfer.STRATEGY_LR``: update it from the new ``transfer_lr.json``).
TRANSFER_RECIPES = {"transfer_lr": ["bench", "transfer-lr"], "bench_transfer_cpu": ["bench", "transfer"]}
INFERENCE_RECIPES = {"bench_inference_cpu": ["bench", "inference"]}  # ``reference refresh inference``
#: ``bmcourse reference refresh continual``: plain fine-tuning, replay and EWC (``bench.continual``).
CONTINUAL_REFERENCE = "continual_reference"
DISTILL_RECIPES = {"distill_reference": ["bench", "distill"]}  # ``reference refresh distill``
#: ``bmcourse reference refresh drift``: notebook 05's drift monitor on the real streams (``bench.drift``).
DRIFT_REFERENCE = "drift_reference"
#: What ``reference refresh WHAT`` accepts besides the notebook references.
BENCH_WHATS = ("bench", "transfer", "inference", "continual", "distill", "drift")


def cmd_reference(args: argparse.Namespace) -> int:
    """List the shipped reference results, or refresh them from new full runs (maintainers)."""
    import tempfile

    from bmcourse import reference
    from bmcourse.bench import require_real_data

    if args.action == "list":
        for name in reference.names():
            print(f"{name:24} {reference.label(reference.load(name))}")
        return 0
    target = reference.shipped_dir()
    os.environ["BMCOURSE_PROFILE"] = "full"  # what a refresh runs (and checks the data for)
    if args.what in NOTEBOOK_REFERENCES:
        notebook, name, suffixes, datasets = NOTEBOOK_REFERENCES[args.what]
        require_real_data(datasets, f"refreshing the shipped {name}")
        before = os.environ.get("BMCOURSE_RESULTS_DIR")
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["BMCOURSE_RESULTS_DIR"] = tmp
            try:
                status = commands.cmd_run(argparse.Namespace(notebooks=[str(commands.NOTEBOOKS / notebook)],
                                                             profile="full", out=args.out, timeout=args.timeout))
            finally:
                if before is None:
                    os.environ.pop("BMCOURSE_RESULTS_DIR", None)
                else:
                    os.environ["BMCOURSE_RESULTS_DIR"] = before
            if status:
                return status
            written = [Path(tmp) / f"{name}{suffix}" for suffix in suffixes]
            contents = [path.read_bytes() for path in written]  # every file there before one is replaced
            for path, content in zip(written, contents):
                with reference.atomic_open(target / path.name, "wb") as handle:  # whole or not at all
                    handle.write(content)
        print(f"refreshed {', '.join(str(target / p.name) for p in written)}")
        return 0
    if args.what == "continual":
        return refresh_continual(target)
    if args.what == "drift":
        return refresh_drift(target)
    recipes = {"transfer": TRANSFER_RECIPES, "inference": INFERENCE_RECIPES,
               "distill": DISTILL_RECIPES}.get(args.what, BENCH_RECIPES)
    for name, command in recipes.items():
        status = bench_commands.run([*command, "--out", str(target / f"{name}.json")])
        if status:
            return status
    return 0


def refresh_continual(target: Path) -> int:
    """``reference refresh continual``: forgetting with plain fine-tuning, replay and EWC on the real
    targets (EWC's strength chosen on validation data first); the shipped file is replaced whole."""
    from bmcourse import reference
    from bmcourse.bench import require_real_data
    from bmcourse.bench.continual import CHOOSE_ON, CONTINUAL_TARGETS, bench_continual

    require_real_data(("conll2003", CHOOSE_ON, *CONTINUAL_TARGETS), f"refreshing the shipped {CONTINUAL_REFERENCE}")
    partial = reference.results_dir() / f"{CONTINUAL_REFERENCE}.json"  # each target as it ends; shipped at the end
    payload = bench_continual(log=lambda line: print(line, flush=True),
                              on_target=lambda so_far: reference.write_json(so_far, partial))
    path = reference.write_json(payload, target / f"{CONTINUAL_REFERENCE}.json")
    print(f"refreshed {path} ({payload['total_seconds']:.0f} s)")
    return 0


def refresh_drift(target: Path) -> int:
    """``reference refresh drift``: the drift monitor on a news stream and one shifting to social media,
    with notebook 05's full-profile settings; the shipped file is replaced whole."""
    from bmcourse import reference
    from bmcourse.bench.drift import bench_drift

    payload = bench_drift()  # refuses the embedded samples
    path = reference.write_json(payload, target / f"{DRIFT_REFERENCE}.json", ensure_ascii=False)
    print(f"refreshed {path} ({payload['seconds']:.0f} s)")
    return 0
