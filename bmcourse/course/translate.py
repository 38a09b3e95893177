"""The Chinese edition: gettext catalogs of the notebooks' markdown cells, and the notebooks built from them.

English jupytext sources stay the one source of truth. Each markdown cell of ``notebooks/NN_name.ipynb``
is one entry of ``notebooks/locale/zh_CN/LC_MESSAGES/NN_name.po``: the cell id is its context, the English
text its msgid, the Chinese its msgstr. :func:`update_catalog` marks an entry fuzzy (keeping the previous
English) when its cell changes, :func:`catalog_problems` names every stale or missing entry (the test
that keeps the edition from lagging silently), and :func:`build_translated` writes
``notebooks/zh-CN/NN_name.ipynb``: the same code cells and ids, the markdown in Chinese.
"""
from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bmcourse.errors import BmcourseError

LANGUAGES = {"zh_CN": "zh-CN"}  #: catalog language -> folder of the generated notebooks
LOCALE = Path("locale")         #: catalogs under notebooks/locale/<lang>/LC_MESSAGES/


@dataclass(frozen=True)
class Problem:
    """One markdown cell whose translation is missing or stale."""

    notebook: str
    cell_id: str
    reason: str  # "missing", "untranslated", "fuzzy" or "changed"
    line: str    # the first English line that changed (or the cell's first line)

    def __str__(self) -> str:
        state = {"changed": "the English changed since it was translated", "missing": "no translation",
                 "untranslated": "translation empty", "fuzzy": "translation marked fuzzy (to review)"}
        return f"{self.notebook} cell {self.cell_id}: {state.get(self.reason, self.reason)}; " \
               f"first changed line: {self.line!r}"


def catalog_path(notebook: Path, lang: str = "zh_CN") -> Path:
    """The PO catalog of one English notebook."""
    return notebook.parent / LOCALE / lang / "LC_MESSAGES" / f"{notebook.stem}.po"


def notebook_language(path: Path) -> str:
    """The language an edition's notebook runs in: ``zh_CN`` under notebooks/zh-CN/, else ``en``."""
    folders = {folder: lang for lang, folder in LANGUAGES.items()}
    return folders.get(path.parent.name, "en")


def translated_path(notebook: Path, lang: str = "zh_CN") -> Path:
    """Where the generated notebook of ``lang`` lives (notebooks/zh-CN/NN_name.ipynb)."""
    return notebook.parent / LANGUAGES[lang] / notebook.name


def markdown_cells(nb: Any) -> list[tuple[str, str]]:
    """(cell id, source) of every markdown cell, in order."""
    return [(cell["id"], cell["source"]) for cell in nb.cells if cell.cell_type == "markdown"]


def first_changed_line(old: str, new: str) -> str:
    """The first line of ``new`` that is not in ``old`` at the same place (for the staleness message)."""
    for tag, _, _, j1, j2 in difflib.SequenceMatcher(a=old.splitlines(), b=new.splitlines()).get_opcodes():
        if tag != "equal":
            return (new.splitlines()[j1:j2] or ["(lines removed)"])[0]
    return new.splitlines()[0] if new else ""


def _load_po(path: Path) -> Any:
    import polib

    if not path.exists():
        po = polib.POFile(wrapwidth=0)
        po.metadata = {"Project-Id-Version": "bmcourse", "Language": path.parts[-3],
                       "MIME-Version": "1.0", "Content-Type": "text/plain; charset=UTF-8",
                       "Content-Transfer-Encoding": "8bit"}
        return po
    try:
        po = polib.pofile(str(path), wrapwidth=0)
    except (OSError, ValueError) as error:
        raise BmcourseError(f"{path}: not a readable PO catalog ({error})",
                            fix="restore it from git, or fix the line the error names") from error
    return po


def update_catalog(notebook: Path, lang: str = "zh_CN") -> dict[str, int]:
    """Bring a notebook's catalog in line with its English markdown cells; returns counts by outcome.

    A changed cell keeps its translation but turns fuzzy (the old English stays as ``#| msgid``);
    a cell whose id changed but whose text did not keeps its translation; removed cells turn obsolete."""
    import nbformat
    import polib

    nb = nbformat.read(notebook, as_version=4)
    path = catalog_path(notebook, lang)
    po = _load_po(path)
    by_id = {e.msgctxt: e for e in po if not e.obsolete}
    by_text = {e.msgid: e for e in po if e.msgstr and not e.fuzzy}
    counts = {"kept": 0, "fuzzy": 0, "new": 0, "reused": 0, "obsolete": 0}
    entries = []
    for cell_id, source in markdown_cells(nb):
        entry = by_id.pop(cell_id, None)
        if entry is not None and entry.msgid == source:
            counts["kept"] += 1
        elif entry is not None:
            entry.previous_msgid, entry.msgid = entry.msgid, source
            if "fuzzy" not in entry.flags and entry.msgstr:
                entry.flags.append("fuzzy")
            counts["fuzzy"] += 1
        elif source in by_text:
            entry = polib.POEntry(msgctxt=cell_id, msgid=source, msgstr=by_text[source].msgstr)
            counts["reused"] += 1
        else:
            entry = polib.POEntry(msgctxt=cell_id, msgid=source, msgstr="")
            counts["new"] += 1
        entry.occurrences = [(notebook.name, cell_id)]
        entries.append(entry)
    for entry in by_id.values():
        entry.obsolete = True
        entries.append(entry)
        counts["obsolete"] += 1
    po[:] = [*entries, *[e for e in po if e.obsolete and e not in entries]]
    path.parent.mkdir(parents=True, exist_ok=True)
    po.save(str(path))
    return counts


def catalog_problems(notebook: Path, lang: str = "zh_CN") -> list[Problem]:
    """Every markdown cell of ``notebook`` whose translation is missing, empty, fuzzy or for other English."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    path = catalog_path(notebook, lang)
    po = _load_po(path)  # a missing catalog reads as empty: every cell is then missing
    by_id = {e.msgctxt: e for e in po if not e.obsolete}
    problems = []
    for cell_id, source in markdown_cells(nb):
        entry = by_id.get(cell_id)
        first = source.splitlines()[0] if source else ""
        if entry is None:
            problems.append(Problem(notebook.name, cell_id, "missing", first))
        elif entry.msgid != source:
            problems.append(Problem(notebook.name, cell_id, "changed", first_changed_line(entry.msgid, source)))
        elif entry.fuzzy:
            old = entry.previous_msgid or ""
            problems.append(Problem(notebook.name, cell_id, "fuzzy", first_changed_line(old, source)))
        elif not entry.msgstr.strip():
            problems.append(Problem(notebook.name, cell_id, "untranslated", first))
    return problems


def build_translated(notebook: Path, lang: str = "zh_CN") -> Path:
    """Write the generated notebook of ``lang``: the English notebook's cells and ids, its markdown
    replaced from the catalog; refuses while any entry is missing or stale (run ``update`` first)."""
    import nbformat

    problems = catalog_problems(notebook, lang)
    if problems:
        shown = "\n  ".join(map(str, problems[:5]))
        raise BmcourseError(f"{catalog_path(notebook, lang)}: {len(problems)} markdown cells need a translation:\n  "
                            f"{shown}", fix="translate them in the catalog (bmcourse translate update marks "
                                            "what changed), then build again")
    nb = nbformat.read(notebook, as_version=4)
    translations = {e.msgctxt: e.msgstr for e in _load_po(catalog_path(notebook, lang)) if not e.obsolete}
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = translations[cell["id"]]
        else:  # the English outputs are not this edition's: stored by `bmcourse store` in Chinese
            cell.outputs, cell.execution_count = [], None
    out = translated_path(notebook, lang)
    out.parent.mkdir(parents=True, exist_ok=True)
    previous = nbformat.read(out, as_version=4) if out.exists() else None
    if previous is not None and [c.get("id") for c in previous.cells] == [c.get("id") for c in nb.cells]:
        for cell, old in zip(nb.cells, previous.cells):  # keep stored outputs until the next store
            if cell.cell_type == "code" and old.source == cell.source:
                cell.outputs, cell.execution_count = old.outputs, old.get("execution_count")
    nbformat.write(nb, out)
    return out


_CODE_SPAN = re.compile(r"`[^`\n]+`")
_FENCE = re.compile(r"```.*?```", re.S)
_MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]+\$", re.S)
_URL = re.compile(r"https?://[A-Za-z0-9._~:/?#@!$&'*+,;=%-]*[A-Za-z0-9_~/#=%-]")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*")


def _outside_code(text: str) -> str:
    """The text with fenced blocks, code spans, math and URLs removed (where numbers are prose)."""
    for pattern in (_FENCE, _CODE_SPAN, _MATH, _URL):
        text = pattern.sub(" ", text)
    return text


def _headings(text: str) -> list[str]:
    return [line.split(" ", 1)[0] for line in _FENCE.sub("", text).splitlines() if re.match(r"#{1,6} ", line)]


def entry_mismatches(msgid: str, msgstr: str) -> list[str]:
    """What a translation changed that it must keep: code (fenced and inline), formulas, links,
    numbers and the heading levels. An empty list when the translation keeps them all."""
    problems = []
    for what, pattern in (("code block", _FENCE), ("inline code", _CODE_SPAN), ("formula", _MATH), ("link", _URL)):
        strip = (lambda text: text) if pattern is _FENCE else (lambda text: _FENCE.sub("", text))
        want, got = Counter(pattern.findall(strip(msgid))), Counter(pattern.findall(strip(msgstr)))
        if want != got:
            missing, extra = list((want - got).elements()), list((got - want).elements())
            problems.append(f"{what} differs: missing {missing[:3]}, extra {extra[:3]}")
    want = Counter(n.replace(",", "") for n in _NUMBER.findall(_outside_code(msgid)))
    got = Counter(n.replace(",", "") for n in _NUMBER.findall(_outside_code(msgstr)))
    if want != got:
        problems.append(f"numbers differ: missing {list((want - got).elements())[:5]}, "
                        f"extra {list((got - want).elements())[:5]}")
    if _headings(msgid) != _headings(msgstr):
        problems.append(f"heading levels differ: {_headings(msgid)} vs {_headings(msgstr)}")
    return problems


def glossary_mismatches(msgid: str, msgstr: str, comment: str = "") -> list[str]:
    """Glossary terms the English text uses whose Chinese term the translation lacks (one term per
    concept). A translator comment ``not the term: WORD`` exempts a word used in another sense."""
    from bmcourse.concepts import glossary

    prose = _outside_code(msgid)
    problems = []
    for row in glossary():
        english, chinese = row["English"], row["中文"]
        for variant in {english, english.split(" (")[0]}:
            if re.search(rf"(?<![\w-]){re.escape(variant)}s?(?![\w-])", prose):
                accepted = [term.strip() for term in re.split(r"[/(]", chinese.replace(")", "")) if term.strip()]
                if not any(term in msgstr for term in accepted) and f"not the term: {variant}" not in comment:
                    problems.append(f"'{variant}' should read {chinese!r}")
                break
    return problems


# ---------------------------------------------------------------- the package's and the exercises' strings

PACKAGE = Path(__file__).resolve().parents[1]  #: the bmcourse package folder


def package_strings(root: Path = PACKAGE) -> dict[str, str]:
    """Every literal the package passes to ``_()`` (or a module constant passed to it), with where it is."""
    import ast

    found: dict[str, str] = {}
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = {t.id: node.value.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
                     and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
                     for t in node.targets if isinstance(t, ast.Name)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_" and node.args:
                arg = node.args[0]
                text = arg.value if isinstance(arg, ast.Constant) else constants.get(getattr(arg, "id", None))
                if isinstance(text, str) and text:
                    found.setdefault(text, f"{path.relative_to(root.parent)}:{node.lineno}")
    return found


def notebook_strings(notebooks: list[Path]) -> dict[str, str]:
    """What the notebooks' code cells hand to the exercise machinery for learners to read: exercise
    titles and hints, the ``expects`` of checkers, the messages of ``(False, "...")`` verdicts, and the
    ``why=`` a hidden test gives for a forbidden call (the grading feedback shows it)."""
    import ast

    import nbformat

    found: dict[str, str] = {}

    def add(node: ast.AST | None, where: str) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.strip():
            found.setdefault(node.value, where)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for element in node.elts:
                add(element, where)

    for notebook in notebooks:
        nb = nbformat.read(notebook, as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            try:
                tree = ast.parse("\n".join(line for line in cell.source.splitlines()
                                           if not line.lstrip().startswith(("%", "!"))))
            except SyntaxError:
                continue
            where = f"{notebook.name} cell {cell.get('id')}"
            for node in ast.walk(tree):
                if isinstance(node, ast.Call):
                    name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                    if name == "Exercise" and len(node.args) >= 2:
                        add(node.args[1], where)
                    if name in ("Exercise", "Checker", "expect"):
                        for keyword in node.keywords:
                            if keyword.arg in ("hints", "expects"):
                                add(keyword.value, where)
                    if name == "Checker" and len(node.args) >= 2:
                        add(node.args[1], where)
                    for keyword in node.keywords:  # a hidden test's reason for a forbidden call (graded.call)
                        if keyword.arg == "why":
                            add(keyword.value, where)
                if (isinstance(node, ast.Tuple) and len(node.elts) == 2 and isinstance(node.elts[0], ast.Constant)
                        and node.elts[0].value is False):
                    add(node.elts[1], where)
    return found


def string_catalog_path(domain: str, lang: str = "zh_CN") -> Path:
    """The PO catalog of the package's (``bmcourse``) or the notebooks' exercise strings (``notebooks``)."""
    return PACKAGE / "locale" / lang / "LC_MESSAGES" / f"{domain}.po"


def update_string_catalog(domain: str, strings: dict[str, str], lang: str = "zh_CN") -> dict[str, int]:
    """Add the strings a catalog lacks, drop (obsolete) those no longer used; translations are kept."""
    import polib

    path = string_catalog_path(domain, lang)
    po = _load_po(path)
    present = {e.msgid: e for e in po if not e.obsolete}
    counts = {"kept": 0, "new": 0, "obsolete": 0}
    for text, where in strings.items():
        entry = present.pop(text, None)
        if entry is None:
            entry = polib.POEntry(msgid=text, msgstr="")
            po.append(entry)
            counts["new"] += 1
        else:
            counts["kept"] += 1
        entry.occurrences = [(where.split(":")[0], where.split(":")[1] if ":" in where else "")]
    for entry in present.values():
        entry.obsolete = True
        counts["obsolete"] += 1
    path.parent.mkdir(parents=True, exist_ok=True)
    po.save(str(path))
    return counts


def string_problems(domain: str, strings: dict[str, str], lang: str = "zh_CN") -> list[str]:
    """Every learner-facing string without a current translation, and every translation that drops a
    ``{placeholder}`` its English has."""
    path = string_catalog_path(domain, lang)
    entries = {e.msgid: e for e in _load_po(path) if not e.obsolete}
    problems = []
    for text, where in strings.items():
        entry = entries.get(text)
        if entry is None or not entry.msgstr.strip() or entry.fuzzy:
            state = "missing" if entry is None else ("fuzzy" if entry.fuzzy else "untranslated")
            problems.append(f"{path.name}: {where}: {state}: {text.splitlines()[0][:80]!r}")
        elif set(re.findall(r"\{\w*\}", text)) != set(re.findall(r"\{\w*\}", entry.msgstr)):
            problems.append(f"{path.name}: {where}: the translation's {{placeholders}} differ: {text[:60]!r}")
    return problems
