"""Readers for the local file formats, validating every row: errors name the file, line and fix."""
from __future__ import annotations

import codecs
import json
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

from ..errors import BmcourseError
from ..i18n import tr as _
from ..tagging import invalid_positions, repair_iob2, split_tag

NerRow = dict[str, Any]    # {"id", "tokens", "ner_tags"} with string tags
TextRow = dict[str, Any]   # {"id", "text", "label"} with a string label
_NEWLINE = re.compile(r"\r\n|\r|\n")


class InvalidIOB2(BmcourseError):
    """An ``I-X`` tag that follows neither ``B-X`` nor ``I-X``: the error ``repair=True`` fixes."""


RESAVE_UTF8 = "re-save it as UTF-8, e.g. `iconv -f latin1 -t utf-8`"


def decode_utf8(data: bytes, source: str | Path, *, fix: str = RESAVE_UTF8, note: str = "") -> str:
    """``data`` decoded as strict UTF-8 (a leading BOM dropped): the one UTF-8 rule of the package.

    A bad byte fails naming ``source``, its line and column, and the byte's offset in the data."""
    skip = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError as error:
        offset = skip + error.start
        column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
        problem = _("not UTF-8 text (byte {byte} at byte {offset}, column {column})").format(
            byte=f"{data[offset]:#04x}", offset=offset, column=column)
        raise BmcourseError(problem + note, file=source, line=data[:offset].count(b"\n") + 1,
                            fix=_(RESAVE_UTF8) if fix == RESAVE_UTF8 else fix) from None


def text_lines(text: str) -> list[str]:
    """The lines of ``text`` split at ``\\n``, ``\\r\\n`` or ``\\r`` only (never at Unicode line
    separators inside a sentence); a final newline ends the last line, it does not start a new one."""
    lines = _NEWLINE.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def read_text_lines(path: str | Path) -> list[str]:
    """The file's lines decoded as UTF-8; a bad byte is reported with its line number."""
    path = Path(path)
    if not path.is_file():
        raise BmcourseError(_("file not found"), file=path,
                            fix=_("check the path, or set BMCOURSE_DATA_DIR to the folder that holds it"))
    return text_lines(decode_utf8(path.read_bytes(), path))


def _json_rows(path: Path) -> list[tuple[int, dict]]:
    rows = []
    for number, text in enumerate(read_text_lines(path), start=1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as err:
            raise BmcourseError(_("invalid JSON ({error} at column {column})").format(error=err.msg, column=err.colno),
                                file=path, line=number, fix=_("write one JSON object per line (JSON Lines)")) from None
        if not isinstance(row, dict):
            raise BmcourseError(_("a line must hold one JSON object"), file=path, line=number,
                                fix=_('write rows like {"tokens": [...], "ner_tags": [...]}'))
        rows.append((number, row))
    if not rows:
        raise BmcourseError(_("the file holds no rows"), file=path,
                            fix=_("add rows, or remove the empty file"))
    return rows


def check_ner_tags(tokens: Any, tags: Any, *, file: Path, line: int,
                   types: Collection[str] | None, repair: bool) -> tuple[list[str], int]:
    """Validate one sentence; returns its (possibly repaired) tags and how many were repaired."""
    def fail(problem: str, fix: str) -> BmcourseError:
        return BmcourseError(problem, file=file, line=line, fix=fix)

    if not isinstance(tokens, list) or not all(isinstance(t, str) and t for t in tokens):
        raise fail(_("`tokens` must be a list of non-empty strings"), _("write the words as a JSON list of strings"))
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise fail(_("`ner_tags` must be a list of tag strings"), _('write tags like ["B-PER", "I-PER", "O"]'))
    if not tokens:
        raise fail(_("empty sentence (no tokens)"), _("remove this line or give it its tokens and tags"))
    if len(tokens) != len(tags):
        raise fail(_("{tokens} tokens but {tags} ner_tags").format(tokens=len(tokens), tags=len(tags)),
                   _("give exactly one tag per token"))
    for position, tag in enumerate(tags):
        try:
            kind = split_tag(tag)[1]
        except ValueError:
            kind = ""
        if kind == "" or (kind is not None and types is not None and kind not in types):
            known = "O, " + ", ".join(f"B-{t}, I-{t}" for t in types) if types is not None else "O, B-TYPE, I-TYPE"
            raise fail(_("unknown tag {tag} at token {position} ({token})").format(
                tag=repr(tag), position=position, token=repr(tokens[position])),
                       _("use one of: {known}").format(known=known))
    bad = invalid_positions(tags)
    if bad and not repair:
        i = bad[0]
        after = _("after {tag}").format(tag=repr(tags[i - 1])) if i else _("at the start")
        raise InvalidIOB2(_("invalid IOB2: {tag} {after} at token {position} ({token})").format(
                              tag=repr(tags[i]), after=after, position=i, token=repr(tokens[i])),
                          file=file, line=line,
                          fix=_("start the entity with B-{type}, or load with repair=True "
                                "to turn stray I- tags into B- tags").format(type=split_tag(tags[i])[1]))
    if bad:
        tags, count = repair_iob2(tags)
        return tags, count
    return list(tags), 0


def read_ner_jsonl(path: str | Path, types: Collection[str] | None = None,
                   repair: bool = False) -> tuple[list[NerRow], int]:
    """Read ``{"tokens": [...], "ner_tags": [...]}`` lines; returns rows and the repair count."""
    path, rows, repaired = Path(path), [], 0
    for line, row in _json_rows(path):
        for key in ("tokens", "ner_tags"):
            if key not in row:
                raise BmcourseError(_("missing key {key}").format(key=repr(key)), file=path, line=line,
                                    fix=_('write rows like {"tokens": [...], "ner_tags": [...]}'))
        tags, count = check_ner_tags(row["tokens"], row["ner_tags"], file=path, line=line,
                                     types=types, repair=repair)
        repaired += count
        rows.append({"id": str(row.get("id", len(rows))), "tokens": row["tokens"], "ner_tags": tags})
    return rows, repaired


def read_conll(path: str | Path, types: Collection[str] | None = None,
               repair: bool = False) -> tuple[list[NerRow], int]:
    """Read CoNLL column files (``token ... tag``, blank line between sentences, ``-DOCSTART-`` skipped)."""
    path, rows, repaired = Path(path), [], 0
    tokens: list[str] = []
    tags: list[str] = []
    start = 1

    def flush() -> None:
        nonlocal repaired
        if tokens:
            fixed, count = check_ner_tags(tokens, tags, file=path, line=start, types=types, repair=repair)
            repaired += count
            rows.append({"id": str(len(rows)), "tokens": list(tokens), "ner_tags": fixed})
        tokens.clear()
        tags.clear()

    for number, text in enumerate(read_text_lines(path), start=1):
        columns = text.split()
        if not columns:
            flush()
            continue
        if columns[0] == "-DOCSTART-":
            continue
        if len(columns) < 2:
            raise BmcourseError(_("expected `token ... tag` columns, found {text}").format(text=repr(text.strip())),
                                file=path, line=number,
                                fix=_("put the token first and the tag last, separated by spaces"))
        if not tokens:
            start = number
        tokens.append(columns[0])
        tags.append(columns[-1])
    flush()
    if not rows:
        raise BmcourseError(_("the file holds no sentences"), file=path, fix=_("add `token tag` lines"))
    return rows, repaired


def read_classification_jsonl(path: str | Path,
                              labels: Collection[str] | None = None) -> list[TextRow]:
    """Read ``{"text": ..., "label": ...}`` lines, checking the text and the label."""
    path, rows = Path(path), []
    for line, row in _json_rows(path):
        text, label = row.get("text"), row.get("label")
        if not isinstance(text, str) or not text.strip():
            raise BmcourseError(_("`text` must be a non-empty string"), file=path, line=line,
                                fix=_('write rows like {"text": "...", "label": "positive"}'))
        if not isinstance(label, str) or not label:
            raise BmcourseError(_("`label` must be a non-empty string"), file=path, line=line,
                                fix=_('write the label as its name, e.g. "positive"'))
        if labels is not None and label not in labels:
            raise BmcourseError(_("unknown label {label}").format(label=repr(label)), file=path, line=line,
                                fix=_("use one of: {known}").format(known=", ".join(labels)))
        rows.append({"id": str(row.get("id", len(rows))), "text": text, "label": label})
    return rows
