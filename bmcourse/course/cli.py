"""The ``bmcourse`` command line: the argument parser, the entry point and the exit codes.

:func:`build_parser` wires each sub-command to its handler (in ``commands``, ``redact_command``,
``bench_commands`` and ``refresh``); :func:`main` runs it and turns every expected error into one
line on stderr with a documented exit status (0 success, 1 failure, 2 usage, 130 Ctrl-C, 141 closed
pipe), never a traceback. Only the parser loads here, so every ``--help`` stays light.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from bmcourse.errors import BmcourseError

from . import bench_commands, commands, grading_commands, redact_command, refresh
from .options import Parser, UsageError, leaf

#: The description ``bmcourse --help`` shows.
DESCRIPTION = "The ``bmcourse`` command: run the course headless, store notebook outputs, make student copies."
EXIT_CODES = """exit status:
  0    success
  1    failure: one line on stderr says what went wrong and how to fix it
  2    usage error: an unknown option, a missing argument or a bad value (see the command's --help)
  130  interrupted (Ctrl-C); result files already written stay whole (JSON is written atomically)
  141  the output pipe closed early (e.g. `bmcourse reference list | head -1`); nothing is reported"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``bmcourse`` command."""
    parser = Parser(prog="bmcourse", description=DESCRIPTION, epilog=EXIT_CODES,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = leaf(sub, "run", commands.cmd_run, help="execute the notebooks headless and summarise")
    run.add_argument("notebooks", nargs="*", help="default: notebooks/[0-9]*.ipynb")
    run.add_argument("--profile", choices=["smoke", "full"], help="default: $BMCOURSE_PROFILE or full")
    run.add_argument("--out", default="runs", help="folder for the executed copies (default: runs)")
    run.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    store = leaf(sub, "store", commands.cmd_store, help="re-execute in the smoke profile and store outputs in place")
    store.add_argument("notebooks", nargs="*")
    store.add_argument("--timeout", type=int, default=600)
    leaf(sub, "sync", commands.cmd_sync,
         help="sync the .py / .ipynb pairs with jupytext").add_argument("notebooks", nargs="*")
    leaf(sub, "clean", commands.cmd_clean,
         help="normalise kernelspec and metadata in place").add_argument("notebooks", nargs="*")
    student = leaf(sub, "student", commands.cmd_student,
                   help="write student copies: solutions replaced, outputs cleared")
    student.add_argument("notebooks", nargs="*", help="default: every notebook in notebooks/")
    student.add_argument("--out", default="student", help="output folder (default: student)")
    student.add_argument("--lang", choices=["en", "zh-CN"], default="en",
                         help="the edition to hand out: en (notebooks/) or zh-CN (notebooks/zh-CN/)")
    student.add_argument("--keep-outputs", action="store_true",
                         help="keep the outputs of the cells that are not exercises, solutions or checks")
    links_cmd = leaf(sub, "links", commands.cmd_links,
                     help="rebuild the README's Colab/Binder badges and the notebooks' "
                          "Colab install line from pyproject.toml [project.urls] Repository")
    links_cmd.add_argument("--check", action="store_true", help="only check; exit 1 when something is out of date")
    translate_cmd = leaf(sub, "translate", commands.cmd_translate,
                         help="the Chinese edition: update / check the catalogs, build notebooks/zh-CN")
    translate_cmd.add_argument("action", choices=["update", "check", "build"],
                               help="update: catalogs from the English sources (changed cells turn fuzzy); "
                                    "check: exit 1 naming every missing or stale translation; "
                                    "build: write notebooks/zh-CN/*.ipynb (then bmcourse store them)")
    translate_cmd.add_argument("notebooks", nargs="*", help="default: every course notebook")
    site_cmd = leaf(sub, "site", commands.cmd_site,
                    help="build the course website offline (both editions, from the stored notebooks) and check its links")
    site_cmd.add_argument("--out", default="_site", help="output folder (default: _site)")
    bench_commands.add_bench_parsers(sub)
    grading_commands.add_grading_parsers(sub, leaf)
    redact = leaf(sub, "redact", redact_command.cmd_redact,
                  help="replace named entities (PII) in text, one document per line")
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
    leaf(ref_sub, "list", refresh.cmd_reference, help="the shipped results with their provenance")
    refresh_cmd = leaf(ref_sub, "refresh", refresh.cmd_reference,
                       help="re-measure and overwrite the shipped results (maintainers)")
    refresh_cmd.add_argument("what", choices=[*refresh.NOTEBOOK_REFERENCES, *refresh.BENCH_WHATS],
                             help="ner / foundations / applications / deployment: run notebook 02 / 00 / 04 / 05 "
                                  "in the full profile; inference: bench inference; "
                                  "bench: both bench ner recipes; transfer: bench transfer-lr, then bench transfer; "
                                  "continual: plain vs replay vs EWC; distill: bench distill; "
                                  "drift: notebook 05's drift monitor on the real streams")
    refresh_cmd.add_argument("--out", default="runs", help="folder for the executed notebook (default: runs)")
    refresh_cmd.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
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
    usage errors (one line too, see :class:`~bmcourse.course.options.Parser`) raise ``SystemExit(2)``
    as always."""
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
