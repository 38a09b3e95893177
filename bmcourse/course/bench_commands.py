"""``bmcourse bench ner|transfer|transfer-lr|inference|distill|grade``: each benchmark's options and its handler.

A handler refuses the embedded samples (exit 1, one line), calls the benchmark in ``bmcourse.bench``,
writes its JSON payload whole and prints a short summary. The benchmarks and their heavy imports
load only when a handler runs, so ``--help`` stays light.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from . import grading_commands
from .options import Parser, leaf, names, sizes


def bench_ner(args: argparse.Namespace) -> int:
    """``bmcourse bench ner``: fine-tune on the real CoNLL-2003; F1, time and throughput to --out."""
    from bmcourse import bench
    from bmcourse.models import describe_model
    from bmcourse.train import is_main_process

    payload = bench.bench_ner(model_name=args.model, epochs=args.epochs, lr=args.lr,
                              batch_size=args.batch_size, label_all_subwords=args.label_all_subwords,
                              seed=args.seed, device=args.device, decode=args.decode,
                              dropout=None if args.dropout < 0 else args.dropout, save_model_dir=args.save_model,
                              loop_steps=args.loop_steps, compile_check=args.compile_check,
                              batch_tokens=args.batch_tokens)
    path = bench.write_json(payload, args.out)
    if not is_main_process():  # under `accelerate launch`: one report, from the main process
        return 0
    keys = ("test_f1", "test_f1_strict", "token_accuracy", "train_seconds",
            "useful_tokens_per_second", "seed_recipe_useful_tokens_per_second",
            "speedup_vs_seed_recipe", "model", "device", "epochs")
    for key in keys:
        value = describe_model(payload[key]) if key == "model" else payload[key]
        print(f"{key:40} {value}")
    cost = payload.get("loop_cost")
    if cost:
        print(f"{'loop cost (first ' + str(cost['steps']) + ' steps, best of ' + str(cost['repeats']) + ')':40} fit {cost['fit']['seconds']:.1f} s, plain loop "
              f"{cost['plain_loop']['seconds']:.1f} s, microbenchmark {cost['microbenchmark']['seconds']:.1f} s: "
              f"fit/plain {cost['fit_time_vs_plain_loop']}, fit reaches {cost['fit_share_of_microbenchmark']} "
              "of the microbenchmark's tokens/s")
    if payload.get("saved_model"):
        print(f"{'saved_model':40} {payload['saved_model']} (use: bmcourse redact --model {payload['saved_model']})")
    print(f"wrote {path}")
    return 0


def bench_inference(args: argparse.Namespace) -> int:
    """``bmcourse bench inference``: fp32 eager vs ONNX Runtime fp32 and int8 on CoNLL-2003 test."""
    from bmcourse import bench
    from bmcourse.metrics import format_table

    model = None if args.model in (None, "auto") else args.model
    bench.require_real_data(("conll2003",), "the inference benchmark (F1 on the CoNLL-2003 test set"
                            + (")" if model else ", with the course's CoNLL-2003 tagger)"))
    payload = bench.bench_inference(model, latency_sentences=args.latency_sentences, batch_size=32,
                                    progress=sys.stderr.isatty())
    path = bench.write_json(payload, args.out)
    columns = ("name", "p50_ms", "p95_ms", "speedup_p50", "throughput_per_s", "size_mb", "test_f1",
               "max_logit_diff", "tag_agreement")
    print(format_table([{k: row[k] for k in columns} for row in payload["variants"]]))
    print(f"fastest variant within 0.5 F1 points of fp32: {payload['best_within_half_point'] or 'none'}")
    print(f"wrote {path}")
    return 0


def bench_distill(args: argparse.Namespace) -> int:
    """``bmcourse bench distill``: the CoNLL-2003 tagger distilled into a smaller student vs gold-only."""
    from bmcourse import bench
    from bmcourse.bench.distill import bench_distill as run_distill
    from bmcourse.metrics import format_table

    payload = run_distill(layers=args.layers, temperature=args.temperature, alpha=args.alpha, name=args.model,
                          latency_sentences=args.latency_sentences, device=args.device, progress=sys.stderr.isatty())
    path = bench.write_json(payload, args.out)
    columns = ("model", "layers", "parameters", "size_mb", "test_f1", "p50_ms", "p95_ms")
    print(format_table([{k: row[k] for k in columns} for row in payload["rows"]]))
    print(f"wrote {path}")
    return 0


def bench_transfer(args: argparse.Namespace) -> int:
    """``bmcourse bench transfer``: zero-shot, strategies, few-shot, forgetting; JSON to --out."""
    from bmcourse import bench
    from bmcourse.transfer import INITS, STRATEGIES

    targets = names(args.targets) if args.targets else bench.DEFAULT_TARGETS
    strategies = names(args.strategies, STRATEGIES, "strategy") if args.strategies else None
    inits = names(args.inits, INITS, "init") if args.inits else None
    bench.require_real_data(("conll2003", *targets), "the transfer benchmark (source tagger and targets)")
    payload = bench.bench_transfer(targets=targets, strategies=strategies, inits=inits,
                                   sizes=args.sizes, seeds=args.seeds, epochs=args.epochs, replay=args.replay,
                                   **budget_and_sample(args), device=args.device, name=args.model,
                                   progress=sys.stderr.isatty(), workers=args.workers,
                                   on_target=lambda partial: bench.write_json(partial, args.out),
                                   log=lambda line: print(line, flush=True))
    path = bench.write_json(payload, args.out)
    print(f"wrote {path} ({payload['total_seconds']:.0f} s)")
    return 0


def bench_epoch_time(args: argparse.Namespace) -> int:
    """``bmcourse bench epoch-time``: one CoNLL-2003 epoch's time for a model of a named shape."""
    from bmcourse import bench

    payload = bench.bench_epoch_time(shape=args.shape, steps=args.steps, batch_tokens=args.batch_tokens,
                                     device=args.device)
    path = bench.write_json(payload, args.out)
    print(f"{args.shape} on {payload['device']}: {payload['seconds_per_step']} s per step, "
          f"{payload['useful_tokens_per_second']} useful tokens/s, one epoch about "
          f"{payload['epoch_seconds_estimated']:.0f} s ({payload['epoch_steps']} steps)")
    print(f"wrote {path}")
    return 0


def batch_tokens(value: str) -> int | str:
    """``--batch-tokens``: a positive number of tokens, or auto."""
    if value == "auto":
        return value
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a token budget: use a positive number or auto")
    return number


def bench_transfer_compare(args: argparse.Namespace) -> int:
    """``bmcourse bench transfer-compare OLD NEW``: notebook 03's conclusions from two runs side by side;
    exit 1 when one differs (a faster benchmark must not change what the notebook concludes)."""
    from bmcourse.bench.transfer_conclusions import compare_table, load_payload, numbers_table

    old, new = load_payload(args.old), load_payload(args.new)
    table, differ = compare_table(old, new)
    table += "\n\n" + numbers_table(old, new)
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n", encoding="utf-8")
    print(f"{differ} conclusion(s) differ" if differ else "every conclusion is the same")
    return 1 if differ else 0


def budget_and_sample(args: argparse.Namespace) -> dict[str, int | None]:
    """``--budget`` and ``--eval-sample`` as keyword arguments; unset ones keep the bench defaults."""
    from bmcourse.bench import BUDGET, EVAL_SAMPLE

    sample = EVAL_SAMPLE if args.eval_sample is None else (args.eval_sample or None)  # 0: the whole split
    return {"budget": BUDGET if args.budget is None else args.budget, "eval_sample": sample}


def bench_transfer_lr(args: argparse.Namespace) -> int:
    """``bmcourse bench transfer-lr``: each strategy's learning rate, chosen on validation data."""
    from bmcourse import bench
    from bmcourse.transfer import STRATEGIES

    targets = names(args.targets) if args.targets else bench.LR_TARGETS
    strategies = names(args.strategies, STRATEGIES, "strategy") if args.strategies else None
    bench.require_real_data(targets, "choosing the learning rates on validation data")
    payload = bench.bench_transfer_lr(targets=targets, strategies=strategies, **budget_and_sample(args),
                                      device=args.device, name=args.model,
                                      log=lambda line: print(line, flush=True))
    path = bench.write_json(payload, args.out)
    print(f"chosen: {payload['chosen']}")
    print(f"wrote {path} ({payload['total_seconds']:.0f} s)")
    return 0


def add_bench_parsers(sub: Any) -> None:
    """``bmcourse bench ner|transfer|transfer-lr|inference|grade``: each benchmark with only its own options."""
    bench = sub.add_parser("bench", help="benchmarks that write JSON (one sub-command per benchmark)",
                           description="Benchmarks that write JSON. Each takes only its own options.")
    which = bench.add_subparsers(dest="task", required=True, metavar="BENCHMARK")
    ner = leaf(which, "ner", bench_ner, help="fine-tune on the real CoNLL-2003: entity F1, time, throughput")
    transfer = leaf(which, "transfer", bench_transfer,
                    help="CoNLL-2003 -> other domains: zero-shot, strategies, few-shot, forgetting")
    transfer_lr = leaf(which, "transfer-lr", bench_transfer_lr,
                       help="choose each strategy's learning rate on validation data")
    compare = leaf(which, "transfer-compare", bench_transfer_compare,
                   help="notebook 03's conclusions from two bench transfer runs side by side (exit 1 if one differs)")
    compare.add_argument("old", help="a bench transfer JSON file")
    compare.add_argument("new", help="another bench transfer JSON file")
    compare.add_argument("--out", default=None, help="also write the markdown table here")
    epoch = leaf(which, "epoch-time", bench_epoch_time,
                 help="one CoNLL-2003 epoch's time for a model of a named shape (random weights, no download)")
    epoch.add_argument("--shape", default="bert-base-cased", help="the checkpoint whose shape to build "
                                                                   "(default bert-base-cased)")
    epoch.add_argument("--steps", type=int, default=40, help="steps timed after 3 warm-up steps (default 40)")
    for parser in (ner, epoch):
        parser.add_argument("--batch-tokens", type=batch_tokens, default=None,
                            help="batches by token budget: a number of padded tokens, or auto (the device kind's "
                                 "budget; none on a CPU); the learning rate is scaled by sqrt(mean batch / "
                                 "batch size) (default: batches of --batch-size sentences)")
    inference = leaf(which, "inference", bench_inference,
                     help="fp32 PyTorch vs ONNX Runtime fp32/int8 on the CoNLL-2003 test set")
    distill = leaf(which, "distill", bench_distill,
                   help="the CoNLL-2003 tagger distilled into a student with fewer layers, vs gold labels only")
    distill.add_argument("--layers", type=int, default=2, help="the student's transformer layers (default 2)")
    distill.add_argument("--temperature", type=float, default=2.0, help="softmax temperature T (default 2)")
    distill.add_argument("--alpha", type=float, default=0.5,
                         help="weight of the teacher's term; 1 - alpha weighs the gold labels (default 0.5)")
    distill.add_argument("--model", default="auto", help="the encoder the teacher and the student start from "
                                                         "(default: auto, as bench ner)")
    distill.add_argument("--device", default=None, help="training device (default: $BMCOURSE_DEVICE, else "
                                                        "cuda > mps > cpu); latency is always measured on the CPU")
    distill.add_argument("--latency-sentences", type=int, default=200,
                         help="test sentences timed one at a time (default 200)")
    grade = leaf(which, "grade", grading_commands.bench_grade,
                 help="time bmcourse grade on fabricated submissions of one notebook")
    grade.add_argument("--notebook", default="notebooks/01_loss_and_gradients.ipynb",
                       help="the instructor notebook to assign and grade (default: notebook 01)")
    grade.add_argument("--submissions", type=int, default=60, help="fabricated submissions (default 60)")
    grade.add_argument("--jobs", type=int, default=2, help="submissions graded at once (default 2)")
    grade.add_argument("--singles", type=int, default=5,
                       help="submissions timed alone for the single-run time (default 5)")
    grade.add_argument("--out", default="bench_grade.json", help="the JSON file (default bench_grade.json)")
    for parser in (ner, transfer, transfer_lr):
        parser.add_argument("--model", default="auto",
                            help="encoder: a model folder or Hub id (default: auto, i.e. $BMCOURSE_MODEL, "
                                 "bert-base-cased online, else the packaged all-MiniLM-L6-v2)")
    inference.add_argument("--model", metavar="DIR", default=None,
                           help="a tagger folder saved by bench ner --save-model (default: the course's "
                                "CoNLL-2003 tagger, from the cache or trained first)")
    ner.add_argument("--epochs", type=float, default=1.0, help="default 1")
    transfer.add_argument("--epochs", type=float, default=None,
                          help="default: --budget sentences per run, at most 10 epochs")
    for parser in (transfer, transfer_lr):
        parser.add_argument("--budget", type=int, default=None,
                            help="sentence presentations per run, the same for every run (default: bench.BUDGET)")
        parser.add_argument("--targets", help="comma-separated target datasets (default: "
                                              + ("the four" if parser is transfer else "crossner_politics,wnut17")
                                              + "; any folder of BMCOURSE_DATA_DIR in the NER layout)")
        parser.add_argument("--strategies", help="comma-separated, from linear_probe,partial,full,bitfit,lora "
                                                 "(default: all)")
    transfer.add_argument("--eval-sample", type=int, default=None,
                          help="few-shot runs are scored on this many fixed test sentences; 0 = the whole "
                               "split (default: bench.EVAL_SAMPLE)")
    transfer_lr.add_argument("--eval-sample", type=int, default=None,
                             help="runs are scored on this many fixed validation sentences; 0 = the whole "
                                  "split (default: bench.EVAL_SAMPLE)")
    transfer.add_argument("--inits", help="pretrained,source (default both)")
    transfer.add_argument("--workers", type=int, default=None,
                          help="processes that share a target's runs (default: one per CPU core on a CPU, "
                               "one on a GPU)")
    transfer.add_argument("--sizes", type=sizes, default=sizes("10,25,50,100,1000000000"),
                          help="few-shot sizes; one at or above the split's size means all of it "
                               "(default: 10,25,50,100,1000000000)")
    transfer.add_argument("--seeds", type=int, default=3, help="seeds per few-shot size (default 3)")
    transfer.add_argument("--replay", type=float, default=0.5,
                          help="source sentences replayed per target sentence (default 0.5)")
    ner.add_argument("--lr", type=float, default=2e-4, help="peak learning rate (default 2e-4)")
    ner.add_argument("--batch-size", type=int, default=16, help="sentences per step and process (default 16)")
    ner.add_argument("--label-all-subwords", action="store_true",
                     help="train on every sub-word's tag, not only each word's first")
    ner.add_argument("--seed", type=int, default=0)
    ner.add_argument("--dropout", type=float, default=0.0,
                     help="hidden and attention dropout (default 0: one short epoch; -1 = the model's own)")
    ner.add_argument("--decode", choices=["viterbi", "argmax"], default="viterbi",
                     help="viterbi: best valid IOB2 sequence (default); argmax: per word")
    ner.add_argument("--loop-steps", type=int, default=60,
                     help="steps of the loop-cost check: fit vs a plain PyTorch loop vs a microbenchmark of the "
                          "same steps, from the same weights, three times in turn (default 60; 0 skips it)")
    ner.add_argument("--compile-check", action="store_true",
                     help="add fit with torch.compile to the loop-cost check (its compile time is reported apart)")
    ner.add_argument("--save-model", metavar="DIR", default=None,
                     help="save the fine-tuned tagger to DIR (safetensors), for bmcourse redact --model DIR")
    for parser in (ner, transfer, transfer_lr, epoch):
        parser.add_argument("--device", default=None, help="default: $BMCOURSE_DEVICE, else cuda > mps > cpu")
    inference.add_argument("--latency-sentences", type=int, default=200,
                           help="test sentences timed one at a time (default 200)")
    for parser in (ner, transfer, transfer_lr, inference, distill, epoch):
        parser.add_argument("--out", required=True, help="JSON file to write (written whole or not at all)")


def run(argv: list[str]) -> int:
    """Run one ``bench ...`` command line (a ``reference refresh`` recipe) as ``bmcourse`` would."""
    parser = Parser(prog="bmcourse")
    add_bench_parsers(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)
