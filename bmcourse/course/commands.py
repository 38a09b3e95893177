"""The notebook sub-commands of ``bmcourse``: ``run``, ``store``, ``sync``, ``clean``, ``student``, ``links``.

Each handler takes the parsed arguments and returns the exit status. They work on the jupytext
pairs in ``notebooks/`` (every course notebook when none is named) through the notebook tools in
:mod:`bmcourse.course.nbtools`, :mod:`bmcourse.course.student` and :mod:`bmcourse.course.links`;
nbformat and jupytext load only when a notebook command runs.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from bmcourse.errors import BmcourseError
from bmcourse.i18n import tr as _

NOTEBOOKS = Path("notebooks")
SANITISERS = Path("tests") / "nbval_sanitize.cfg"  # what nbval ignores when it compares outputs


def notebooks(given: list[str], new_pairs: bool = False) -> list[Path]:
    """The ``.ipynb`` paths named (or every course notebook); with ``new_pairs`` a ``.py`` source
    whose notebook does not exist yet counts too (``sync`` and ``store`` create it)."""
    from .nbtools import course_notebooks

    paths = [Path(p).with_suffix(".ipynb") if p.endswith(".py") else Path(p) for p in given]
    if not paths:
        paths = course_notebooks(NOTEBOOKS, new_pairs=new_pairs)
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
    for path in notebooks(args.notebooks):
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
    failed = sum(status != "ok" for _name, status, *_rest in results)
    print(_("\n{passed} passed, {failed} failed; executed copies in {out}").format(
        passed=len(results) - failed, failed=failed, out=out))
    return 1 if failed else 0


def summary_table(results: list[tuple[str, str, float, str, str]]) -> str:
    """The run's table: notebook, status, seconds, exercises passed, and the headline result (or the error)."""
    lines = [f"\n{_('notebook'):32} {_('status'):7} {_('seconds'):>8}  {_('exercises'):9}  {_('headline (or error)')}"]
    for name, status, seconds, exercises, what in results:
        lines.append(f"{name:32} {status:7} {seconds:8.1f}  {exercises:9}  {what}")
    lines.append(f"{_('total'):32} {'':7} {sum(r[2] for r in results):8.1f}")
    return "\n".join(lines)


def cmd_store(args: argparse.Namespace) -> int:
    """Sync each pair, execute it in the smoke profile and store its outputs in place, normalised."""
    import nbformat

    from .nbtools import execute, keep_equivalent_outputs, normalise, sanitisers, sync

    os.environ["BMCOURSE_PROFILE"] = "smoke"
    os.environ["TQDM_DISABLE"] = "1"
    os.environ["BMCOURSE_STATIC_WIDGETS"] = "1"
    os.environ["BMCOURSE_DEVICE"] = "cpu"  # stored outputs are CPU outputs, whatever the machine has
    for path in notebooks(args.notebooks, new_pairs=True):
        # each edition's messages in its language (notebooks/zh-CN/ is the Chinese one), whatever the locale
        os.environ["BMCOURSE_LANG"] = "zh_CN" if path.parent.name == "zh-CN" else "en"
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

    for path in notebooks(args.notebooks, new_pairs=True):
        sync(path)
        print(f"synced {path} and {path.with_suffix('.py').name}")
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    """Normalise kernelspec and metadata of notebooks in place (no execution)."""
    import nbformat

    from .nbtools import normalise

    for path in notebooks(args.notebooks):
        nbformat.write(normalise(nbformat.read(path, as_version=4)), path)
        print(f"normalised {path}")
    return 0


def cmd_student(args: argparse.Namespace) -> int:
    """Write student copies: ``solution`` cells replaced by a placeholder, outputs cleared."""
    import nbformat

    from .student import strip_solutions

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path in notebooks(args.notebooks):
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


def cmd_translate(args: argparse.Namespace) -> int:
    """The Chinese edition: ``update`` the catalogs from the English notebooks and the package,
    ``check`` that nothing is missing or stale (exit 1 naming each cell), ``build`` notebooks/zh-CN."""
    from . import translate

    paths = notebooks(args.notebooks)
    if args.action == "update":
        for path in paths:
            print(f"{translate.catalog_path(path)}: {translate.update_catalog(path)}")
        for domain, strings in (("bmcourse", translate.package_strings()),
                                ("notebooks", translate.notebook_strings(paths))):
            print(f"{translate.string_catalog_path(domain)}: {translate.update_string_catalog(domain, strings)}")
        return 0
    if args.action == "check":
        problems = [str(p) for path in paths for p in translate.catalog_problems(path)]
        problems += translate.string_problems("bmcourse", translate.package_strings())
        problems += translate.string_problems("notebooks", translate.notebook_strings(paths))
        print("\n".join(problems) if problems else f"zh_CN: every markdown cell of {len(paths)} notebooks and "
                                                   "every learner-facing string translated and current")
        return 1 if problems else 0
    for path in paths:
        print(f"wrote {translate.build_translated(path)} (store it: bmcourse store "
              f"{translate.translated_path(path)})")
    return 0
