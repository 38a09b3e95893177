"""The ``bmcourse`` command: run the course headless, store notebook outputs, make student copies."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from .errors import BmcourseError

NOTEBOOKS = Path("notebooks")
SANITISERS = Path("tests") / "nbval_sanitize.cfg"  # what nbval ignores when it compares outputs


def _notebooks(given: list[str], new_pairs: bool = False) -> list[Path]:
    """The ``.ipynb`` paths named (or every numbered notebook); with ``new_pairs`` a ``.py`` source
    whose notebook does not exist yet counts too (``sync`` and ``store`` create it)."""
    paths = [Path(p).with_suffix(".ipynb") if p.endswith(".py") else Path(p) for p in given]
    if not paths:
        found = {*NOTEBOOKS.glob("[0-9]*.ipynb")}
        if new_pairs:
            found |= {p.with_suffix(".ipynb") for p in NOTEBOOKS.glob("[0-9]*.py")}
        paths = sorted(found)
    missing = [p for p in paths if not p.is_file() and not (new_pairs and p.with_suffix(".py").is_file())]
    if missing:
        raise BmcourseError(f"no such notebook: {', '.join(map(str, missing))}",
                            fix="name existing .ipynb (or .py) files, e.g. notebooks/00_foundations.ipynb")
    if not paths:
        raise BmcourseError(f"no notebooks found in {NOTEBOOKS.resolve()}",
                            fix="run from the repository root or name the notebooks")
    return paths


def cmd_run(args: argparse.Namespace) -> int:
    """Execute notebooks headless into --out and print a summary; non-zero if any failed."""
    import nbformat

    from .nbtools import NotebookFailed, execute, exercises_of, headline_of

    if args.profile:
        os.environ["BMCOURSE_PROFILE"] = args.profile
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for path in _notebooks(args.notebooks):
        print(f"running {path} (profile {os.environ.get('BMCOURSE_PROFILE', 'full')}) ...", flush=True)
        try:
            nb, seconds = execute(path, timeout=args.timeout)
        except NotebookFailed as failed:  # report every notebook, fail at the end
            nbformat.write(failed.nb, out / path.name)
            where = f"cell {failed.cell}" if failed.cell is not None else "a cell"
            print(f"  FAILED in {where}: {failed.ename}: {failed.evalue}\n"
                  f"  the partly executed notebook is in {out / path.name}", flush=True)
            results.append((path.name, "FAILED", failed.seconds, exercises_of(failed.nb),
                            f"{failed.ename}: {failed.evalue}"[:200]))
            continue
        nbformat.write(nb, out / path.name)
        results.append((path.name, "ok", seconds, exercises_of(nb), headline_of(nb)))
    print(summary_table(results))
    failed = sum(status != "ok" for _, status, *_ in results)
    print(f"\n{len(results) - failed} passed, {failed} failed; executed copies in {out}")
    return 1 if failed else 0


def summary_table(results: list[tuple[str, str, float, str, str]]) -> str:
    """The run's table: notebook, status, seconds, exercises passed, and the headline result (or the error)."""
    lines = [f"\n{'notebook':32} {'status':7} {'seconds':>8}  {'exercises':9}  headline (or error)"]
    for name, status, seconds, exercises, what in results:
        lines.append(f"{name:32} {status:7} {seconds:8.1f}  {exercises:9}  {what}")
    lines.append(f"{'total':32} {'':7} {sum(r[2] for r in results):8.1f}")
    return "\n".join(lines)


def cmd_store(args: argparse.Namespace) -> int:
    """Sync each pair, execute it in the smoke profile and store its outputs in place, normalised."""
    import nbformat

    from .nbtools import execute, keep_equivalent_outputs, normalise, sanitisers, sync

    os.environ["BMCOURSE_PROFILE"] = "smoke"
    os.environ["TQDM_DISABLE"] = "1"
    os.environ["BMCOURSE_STATIC_WIDGETS"] = "1"
    os.environ["BMCOURSE_DEVICE"] = "cpu"  # stored outputs are CPU outputs, whatever the machine has
    for path in _notebooks(args.notebooks, new_pairs=True):
        sync(path)
        stored = nbformat.read(path, as_version=4)
        nb, seconds = execute(path, timeout=args.timeout)
        nb = normalise(nb)
        if SANITISERS.is_file():  # outputs that differ only in timings or paths stay as stored: no diff churn
            keep_equivalent_outputs(stored, nb, sanitisers(SANITISERS))
        nbformat.write(nb, path)
        sync(path)  # the .py gets the stored notebook's timestamp, so the pair reads as in sync
        print(f"stored {path} ({seconds:.1f} s)")
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    """Sync notebook pairs with jupytext (no execution)."""
    from .nbtools import sync

    for path in _notebooks(args.notebooks, new_pairs=True):
        sync(path)
        print(f"synced {path} and {path.with_suffix('.py').name}")
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    """Normalise kernelspec and metadata of notebooks in place (no execution)."""
    import nbformat

    from .nbtools import normalise

    for path in _notebooks(args.notebooks):
        nbformat.write(normalise(nbformat.read(path, as_version=4)), path)
        print(f"normalised {path}")
    return 0


def cmd_student(args: argparse.Namespace) -> int:
    """Write student copies: ``solution`` cells replaced by a placeholder, outputs cleared."""
    import nbformat

    from .nbtools import strip_solutions

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path in _notebooks(args.notebooks):
        nb, count = strip_solutions(nbformat.read(path, as_version=4), keep_outputs=args.keep_outputs)
        nb.metadata.pop("jupytext", None)  # a student copy is a plain notebook, not half of a pair
        nbformat.write(nb, out / path.name)
        kept = "outputs kept except exercises'" if args.keep_outputs else "outputs cleared"
        print(f"{out / path.name}: {count} solution cells replaced, {kept}")
    print(f"hand out {out}/ (the instructor copy, with solutions and outputs, is {NOTEBOOKS}/ itself)")
    return 0


def cmd_links(args: argparse.Namespace) -> int:
    """Rebuild (or with --check, verify) the README badges and the Colab install lines from pyproject.toml."""
    from . import links

    if args.check:
        stale = links.stale()
        for path in stale:
            print(f"{path}: out of date with pyproject.toml [project.urls] Repository; run `bmcourse links`")
        return 1 if stale else 0
    changed = links.write()
    print(f"repository {links.repository_url()}: " + (f"rewrote {', '.join(changed)}" if changed else "all up to date"))
    return 0


def _bench_ner(args: argparse.Namespace) -> int:
    """``bmcourse bench ner``: fine-tune on the real CoNLL-2003; F1, time and throughput to --out."""
    from .bench import bench_ner, write_json
    from .models import describe_model

    payload = bench_ner(model_name=args.model, epochs=args.epochs, lr=args.lr,
                        batch_size=args.batch_size, label_all_subwords=args.label_all_subwords,
                        seed=args.seed, device=args.device, decode=args.decode,
                        dropout=None if args.dropout < 0 else args.dropout, save_model_dir=args.save_model)
    path = write_json(payload, args.out)
    from .train import is_main_process

    if not is_main_process():  # under `accelerate launch`: one report, from the main process
        return 0
    keys = ("test_f1", "test_f1_strict", "token_accuracy", "train_seconds",
            "useful_tokens_per_second", "seed_recipe_useful_tokens_per_second",
            "speedup_vs_seed_recipe", "model", "device", "epochs")
    for key in keys:
        value = describe_model(payload[key]) if key == "model" else payload[key]
        print(f"{key:40} {value}")
    if payload.get("saved_model"):
        print(f"{'saved_model':40} {payload['saved_model']} (use: bmcourse redact --model {payload['saved_model']})")
    print(f"wrote {path}")
    return 0


def _bench_inference(args: argparse.Namespace) -> int:
    """``bmcourse bench inference``: fp32 eager vs ONNX Runtime fp32 and int8 on CoNLL-2003 test."""
    from .bench import write_json
    from .deploy import bench_inference
    from .metrics import format_table

    model = None if args.model in (None, "auto") else args.model
    _require_real_data(("conll2003",), "the inference benchmark (F1 on the CoNLL-2003 test set"
                       + (")" if model else ", with the course's CoNLL-2003 tagger)"))
    payload = bench_inference(model, latency_sentences=args.latency_sentences, batch_size=32,
                              progress=sys.stderr.isatty())
    path = write_json(payload, args.out)
    columns = ("name", "p50_ms", "p95_ms", "speedup_p50", "throughput_per_s", "size_mb", "test_f1",
               "max_logit_diff", "tag_agreement")
    print(format_table([{k: row[k] for k in columns} for row in payload["variants"]]))
    print(f"fastest variant within 0.5 F1 points of fp32: {payload['best_within_half_point'] or 'none'}")
    print(f"wrote {path}")
    return 0


class UsageError(Exception):
    """A bad option value found after parsing (``bmcourse`` exits 2, as for argparse's own errors)."""


def _names(value: str, allowed: tuple[str, ...] | None = None, what: str = "name") -> tuple[str, ...]:
    """A comma-separated option as a tuple, checked against ``allowed``."""
    names = tuple(v.strip() for v in value.split(",") if v.strip())
    unknown = [n for n in names if allowed is not None and n not in allowed]
    if not names or unknown:
        raise UsageError(f"unknown {what} {', '.join(unknown) or repr(value)} (fix: give a comma-separated list"
                         + (f" of {', '.join(allowed)})" if allowed else ")"))
    return names


def _sizes(value: str) -> tuple[int, ...]:
    """``--sizes``: comma-separated whole numbers (an argparse type: a bad value is a usage error)."""
    try:
        sizes = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected positive whole numbers, e.g. 10,25,50; got {value!r}")
    return sizes


def _bench_transfer(args: argparse.Namespace) -> int:
    """``bmcourse bench transfer``: zero-shot, strategies, few-shot, forgetting; JSON to --out."""
    from .bench import DEFAULT_TARGETS, bench_transfer, write_json
    from .transfer import INITS, STRATEGIES

    targets = _names(args.targets) if args.targets else DEFAULT_TARGETS
    strategies = _names(args.strategies, STRATEGIES, "strategy") if args.strategies else None
    inits = _names(args.inits, INITS, "init") if args.inits else None
    _require_real_data(("conll2003", *targets), "the transfer benchmark (source tagger and targets)")
    payload = bench_transfer(targets=targets, strategies=strategies, inits=inits,
                             sizes=args.sizes, seeds=args.seeds, epochs=args.epochs, replay=args.replay,
                             **_budget_and_sample(args), device=args.device, name=args.model, progress=sys.stderr.isatty(),
                             on_target=lambda partial: write_json(partial, args.out),
                             log=lambda line: print(line, flush=True))
    path = write_json(payload, args.out)
    print(f"wrote {path} ({payload['total_seconds']:.0f} s)")
    return 0


def _budget_and_sample(args: argparse.Namespace) -> dict[str, int | None]:
    """``--budget`` and ``--eval-sample`` as keyword arguments; unset ones keep the bench defaults."""
    from .bench import BUDGET, EVAL_SAMPLE

    sample = EVAL_SAMPLE if args.eval_sample is None else (args.eval_sample or None)  # 0: the whole split
    return {"budget": BUDGET if args.budget is None else args.budget, "eval_sample": sample}


def _bench_transfer_lr(args: argparse.Namespace) -> int:
    """``bmcourse bench transfer-lr``: each strategy's learning rate, chosen on validation data."""
    from .bench import LR_TARGETS, bench_transfer_lr, write_json
    from .transfer import STRATEGIES

    targets = _names(args.targets) if args.targets else LR_TARGETS
    strategies = _names(args.strategies, STRATEGIES, "strategy") if args.strategies else None
    _require_real_data(targets, "choosing the learning rates on validation data")
    payload = bench_transfer_lr(targets=targets, strategies=strategies, **_budget_and_sample(args),
                                device=args.device, name=args.model,
                                log=lambda line: print(line, flush=True))
    path = write_json(payload, args.out)
    print(f"chosen: {payload['chosen']}")
    print(f"wrote {path} ({payload['total_seconds']:.0f} s)")
    return 0


def _read_documents(files: list[str]) -> list[str]:
    """Every input line (one document each), decoded as strict UTF-8 before anything is written.

    No file (or ``-``) reads stdin; a decoding error names the file, its line and byte offset."""
    import codecs

    documents: list[str] = []
    for name in files or ["-"]:
        label = "<stdin>" if name == "-" else name
        try:
            data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        except OSError as error:
            raise BmcourseError(f"cannot read it ({error.strerror or error})", file=label,
                                fix="name an existing UTF-8 text file, or pipe the text to stdin") from None
        skip = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
        try:
            text = data[skip:].decode("utf-8")
        except UnicodeDecodeError as error:
            offset = skip + error.start
            raise BmcourseError(f"not valid UTF-8 at byte {offset} (byte 0x{data[offset]:02x}); "
                                "nothing was written", file=label, line=data[:offset].count(b"\n") + 1,
                                fix="convert it first, e.g. iconv -f latin1 -t utf-8 FILE") from None
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()  # the final newline ends the last line; it does not start a new one
        documents += [line[:-1] if line.endswith("\r") else line for line in lines]
    return documents


def _require_real_data(names: tuple[str, ...], needed_for: str, otherwise: str = "") -> None:
    """Refuse (exit 1, one line) when a command would train or score on the embedded samples."""
    from .bench import require_real_data

    require_real_data(names, needed_for, otherwise=otherwise)


#: What ``bmcourse redact --demo-tagger`` says on stderr, and in each ``--json`` object.
DEMO_TAGGER = "demonstration (trained on the embedded sample; not for real redaction)"
DEMO_NOTICE = ("bmcourse: DEMONSTRATION TAGGER: trained on the embedded CoNLL-2003 sample (a few hundred "
               "sentences), it misses many names; this is not real redaction (set BMCOURSE_DATA_DIR for the "
               "real tagger)")


def _demo_tagger(args: argparse.Namespace) -> bool:
    """Whether redaction uses the demonstration tagger: the course's tagger with only the embedded
    sample to train on. Without ``--demo-tagger`` that refuses, naming the variable and the data."""
    from .bench import sample_only

    if args.model is not None:
        return False
    if not args.demo_tagger:
        _require_real_data(("conll2003",), "redaction with the course's tagger", otherwise=(
            "or pass --model DIR, a tagger saved by `bmcourse bench ner --save-model DIR`; "
            "--demo-tagger redacts with a demonstration tagger trained on the sample (it misses names)"))
        return False
    return bool(sample_only(("conll2003",)))


def cmd_redact(args: argparse.Namespace) -> int:
    """Redact named entities line by line (stdin or files) with the course's NER tagger."""
    import contextlib
    import json

    from . import apps

    documents = _read_documents(args.files)
    types = _names(args.types, what="entity type") if args.types is not None else None
    demo = _demo_tagger(args)
    if demo:
        print(DEMO_NOTICE, file=sys.stderr, flush=True)
    with contextlib.redirect_stdout(sys.stderr):  # loading notices must not mix with the output
        tagger = apps.load_tagger(args.model, progress=sys.stderr.isatty())
        tagger.progress = sys.stderr.isatty()
        results = apps.redact_many(documents, tagger, types=types, batch_size=args.batch_size)
    if args.json:
        marked = {"tagger": DEMO_TAGGER} if demo else {}
        lines = [json.dumps({**result.to_json(), **marked}, ensure_ascii=False) for result in results]
    else:
        lines = [result.text for result in results]
    sys.stdout.write("".join(line + "\n" for line in lines))
    return 0


#: ``bmcourse reference refresh WHAT``: the notebook run in the full profile, the result it writes,
#: and the datasets it loads (each must be the real one: a refresh never ships sample numbers).
NOTEBOOK_REFERENCES = {
    "ner": ("02_ner_finetuning.ipynb", "ner_reference", (".json", ".png"), ("conll2003",)),
    "foundations": ("00_foundations.ipynb", "foundations_reference", (".json",), ("sst2", "conll2003")),
    "applications": ("04_applications.ipynb", "applications_reference", (".json",),
                     ("banking77", "financial_phrasebank", "conll2003")),
    "deployment": ("05_deployment_and_trust.ipynb", "deployment_reference", (".json",), ("banking77", "conll2003")),
}
BENCH_RECIPES = {  # shipped name -> bench command (the tuned default and the articles' plain recipe)
    "bench_ner_cpu": ["bench", "ner"],
    "bench_ner_cpu_plain": ["bench", "ner", "--lr", "5e-5", "--dropout", "-1", "--decode", "argmax"],
}
#: ``bmcourse reference refresh transfer``: learning rates on validation data first, then the bench
#: (which reads them from ``transfer.STRATEGY_LR``: update it from the new ``transfer_lr.json``).
TRANSFER_RECIPES = {"transfer_lr": ["bench", "transfer-lr"], "bench_transfer_cpu": ["bench", "transfer"]}
INFERENCE_RECIPES = {"bench_inference_cpu": ["bench", "inference"]}  # ``reference refresh inference``



def cmd_reference(args: argparse.Namespace) -> int:
    """List the shipped reference results, or refresh them from new full runs (maintainers)."""
    import tempfile

    from . import reference

    if args.action == "list":
        for name in reference.names():
            print(f"{name:24} {reference.label(reference.load(name))}")
        return 0
    target = reference.shipped_dir()
    os.environ["BMCOURSE_PROFILE"] = "full"  # what a refresh runs (and checks the data for)
    if args.what in NOTEBOOK_REFERENCES:
        notebook, name, suffixes, datasets = NOTEBOOK_REFERENCES[args.what]
        _require_real_data(datasets, f"refreshing the shipped {name}")
        before = os.environ.get("BMCOURSE_RESULTS_DIR")
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["BMCOURSE_RESULTS_DIR"] = tmp
            try:
                status = cmd_run(argparse.Namespace(notebooks=[str(NOTEBOOKS / notebook)], profile="full",
                                                    out=args.out, timeout=args.timeout))
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
    recipes = {"transfer": TRANSFER_RECIPES, "inference": INFERENCE_RECIPES}.get(args.what, BENCH_RECIPES)
    for name, command in recipes.items():
        status = main([*command, "--out", str(target / f"{name}.json")])
        if status:
            return status
    return 0


# --- the parser and the exit codes --------------------------------------------------------------

EXIT_CODES = """exit status:
  0    success
  1    failure: one line on stderr says what went wrong and how to fix it
  2    usage error: an unknown option, a missing argument or a bad value (see the command's --help)
  130  interrupted (Ctrl-C); result files already written stay whole (JSON is written atomically)
  141  the output pipe closed early (e.g. `bmcourse reference list | head -1`); nothing is reported"""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, ``bmcourse CMD: problem (fix: ...)``, exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (fix: see `{self.prog} --help`)\n")


def _leaf(sub: Any, name: str, func: Any, **kwargs: Any) -> argparse.ArgumentParser:
    """A sub-command parser that runs ``func`` and knows itself (for its usage errors)."""
    parser = sub.add_parser(name, **kwargs)
    parser.set_defaults(func=func, _parser=parser)
    return parser


def _add_bench_parsers(sub: Any) -> None:
    """``bmcourse bench ner|transfer|transfer-lr|inference``: each benchmark with only its own options."""
    bench = sub.add_parser("bench", help="benchmarks that write JSON (one sub-command per benchmark)",
                           description="Benchmarks that write JSON. Each takes only its own options.")
    which = bench.add_subparsers(dest="task", required=True, metavar="BENCHMARK")
    ner = _leaf(which, "ner", _bench_ner, help="fine-tune on the real CoNLL-2003: entity F1, time, throughput")
    transfer = _leaf(which, "transfer", _bench_transfer,
                     help="CoNLL-2003 -> other domains: zero-shot, strategies, few-shot, forgetting")
    transfer_lr = _leaf(which, "transfer-lr", _bench_transfer_lr,
                        help="choose each strategy's learning rate on validation data")
    inference = _leaf(which, "inference", _bench_inference,
                      help="fp32 PyTorch vs ONNX Runtime fp32/int8 on the CoNLL-2003 test set")
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
    transfer.add_argument("--sizes", type=_sizes, default=_sizes("10,25,50,100,1000000000"),
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
    ner.add_argument("--save-model", metavar="DIR", default=None,
                     help="save the fine-tuned tagger to DIR (safetensors), for bmcourse redact --model DIR")
    for parser in (ner, transfer, transfer_lr):
        parser.add_argument("--device", default=None, help="default: $BMCOURSE_DEVICE, else cuda > mps > cpu")
    inference.add_argument("--latency-sentences", type=int, default=200,
                           help="test sentences timed one at a time (default 200)")
    for parser in (ner, transfer, transfer_lr, inference):
        parser.add_argument("--out", required=True, help="JSON file to write (written whole or not at all)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``bmcourse`` command."""
    parser = _Parser(prog="bmcourse", description=__doc__, epilog=EXIT_CODES,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = _leaf(sub, "run", cmd_run, help="execute the notebooks headless and summarise")
    run.add_argument("notebooks", nargs="*", help="default: notebooks/[0-9]*.ipynb")
    run.add_argument("--profile", choices=["smoke", "full"], help="default: $BMCOURSE_PROFILE or full")
    run.add_argument("--out", default="runs", help="folder for the executed copies (default: runs)")
    run.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    store = _leaf(sub, "store", cmd_store, help="re-execute in the smoke profile and store outputs in place")
    store.add_argument("notebooks", nargs="*")
    store.add_argument("--timeout", type=int, default=600)
    _leaf(sub, "sync", cmd_sync, help="sync the .py / .ipynb pairs with jupytext").add_argument("notebooks", nargs="*")
    _leaf(sub, "clean", cmd_clean, help="normalise kernelspec and metadata in place").add_argument("notebooks", nargs="*")
    student = _leaf(sub, "student", cmd_student, help="write student copies: solutions replaced, outputs cleared")
    student.add_argument("notebooks", nargs="*", help="default: every notebook in notebooks/")
    student.add_argument("--out", default="student", help="output folder (default: student)")
    student.add_argument("--keep-outputs", action="store_true",
                         help="keep the outputs of the cells that are not exercises, solutions or checks")
    links_cmd = _leaf(sub, "links", cmd_links, help="rebuild the README's Colab/Binder badges and the notebooks' "
                                                    "Colab install line from pyproject.toml [project.urls] Repository")
    links_cmd.add_argument("--check", action="store_true", help="only check; exit 1 when something is out of date")
    _add_bench_parsers(sub)
    redact = _leaf(sub, "redact", cmd_redact, help="replace named entities (PII) in text, one document per line")
    redact.add_argument("files", nargs="*", help="UTF-8 text files (default or -: stdin)")
    tagger = redact.add_mutually_exclusive_group()
    tagger.add_argument("--model", metavar="DIR", default=None,
                        help="a tagger saved by bench ner --save-model (default: the course's cached "
                             "CoNLL-2003 tagger, trained first if not cached; it needs the real CoNLL-2003: "
                             "BMCOURSE_DATA_DIR or the Hub)")
    tagger.add_argument("--demo-tagger", action="store_true",
                        help="without the real CoNLL-2003, redact anyway with a demonstration tagger trained "
                             "on the embedded sample (it misses names; stderr and every --json line say so)")
    redact.add_argument("--types", default=None, help="comma-separated entity types to redact, e.g. PER,LOC "
                                                      "(default: every type the tagger knows)")
    redact.add_argument("--json", action="store_true",
                        help='one object per line: {"text": ..., "entities": [{"type", "start", "end", "text"}]}')
    redact.add_argument("--batch-size", type=int, default=32, help="sentences per forward pass (default 32)")
    ref = sub.add_parser("reference", help="list or refresh the shipped reference results")
    ref_sub = ref.add_subparsers(dest="action", required=True, metavar="ACTION")
    _leaf(ref_sub, "list", cmd_reference, help="the shipped results with their provenance")
    refresh = _leaf(ref_sub, "refresh", cmd_reference, help="re-measure and overwrite the shipped results (maintainers)")
    refresh.add_argument("what", choices=[*NOTEBOOK_REFERENCES, "bench", "transfer", "inference"],
                         help="ner / foundations / applications / deployment: run notebook 02 / 00 / 04 / 05 in "
                              "the full profile; inference: bench inference; "
                              "bench: both bench ner recipes; transfer: bench transfer-lr, then bench transfer")
    refresh.add_argument("--out", default="runs", help="folder for the executed notebook (default: runs)")
    refresh.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    return parser


def _os_error(error: OSError) -> str:
    """An unreadable or unwritable file as one line: the path, what the system said, and the fix."""
    paths = " -> ".join(str(p) for p in (error.filename, error.filename2) if p is not None)
    fix = {FileNotFoundError: "check the path (a relative path starts from the current folder)",
           PermissionError: "check the permissions, or choose a path you may read and write",
           IsADirectoryError: "name a file, not a folder",
           NotADirectoryError: "a part of the path is a file, not a folder: check the path"}.get(
        type(error), "check the path, the permissions and the free disk space")
    return f"{paths + ': ' if paths else ''}{error.strerror or error} (fix: {fix})"


def _problem(error: BaseException) -> tuple[str, int] | None:
    """The one line and the exit code for an expected error; None for anything else (a bug: traceback)."""
    if isinstance(error, KeyboardInterrupt):
        return ("interrupted (Ctrl-C) (fix: run the command again; result files already written are whole)", 130)
    if isinstance(error, UsageError):
        return str(error), 2
    if isinstance(error, BmcourseError):
        return error.one_line(), 1
    if isinstance(error, json.JSONDecodeError):
        return (f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg} "
                "(fix: repair the file, or delete it and run the step that writes it again)", 1)
    if isinstance(error, UnicodeDecodeError):
        return (f"text that is not valid UTF-8 ({error.reason} at byte {error.start}) "
                "(fix: convert the file to UTF-8 first, e.g. iconv -f latin1 -t utf-8 FILE)", 1)
    if isinstance(error, OSError):
        return _os_error(error), 1
    return None


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush into a closed pipe stays silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (captured): nothing to quieten
        pass


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bmcourse`` console script: 0 success, 1 failure, 2 usage error, 130 Ctrl-C.

    Expected errors (:class:`BmcourseError`, unreadable files, bad JSON, bad option values, Ctrl-C)
    print one line on stderr, ``bmcourse: problem (fix: ...)``, never a traceback; argparse's own
    usage errors (one line too, see :class:`_Parser`) raise ``SystemExit(2)`` as always."""
    args, unknown = build_parser().parse_known_args(argv)
    if unknown:  # named by the sub-command that refuses them, with its --help
        args._parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # the reader stopped early (``| head``): nothing to report
        _quiet_stdout()
        return 141
    except (KeyboardInterrupt, Exception) as error:
        found = _problem(error)
        if found is None:
            raise  # not an expected error: a bug, whose traceback is the useful report
        line, status = found
        print(f"{args._parser.prog if status == 2 else 'bmcourse'}: {line}", file=sys.stderr, flush=True)
        return status


if __name__ == "__main__":
    sys.exit(main())
