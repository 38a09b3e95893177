"""HTML entity highlighting (notebooks 02, 04, 05 and the tagger widget): each entity type gets
a fixed, readable background colour, words are escaped, and a legend names the colours.
"""
from __future__ import annotations

import html
import zlib
from collections.abc import Iterable, Mapping

from ..errors import BmcourseError
from ..i18n import tr as _
from ..tagging import spans

__all__ = ["PALETTE", "KNOWN_COLOURS", "entity_colour", "highlight_entities", "entity_legend"]

#: Light background colours for entity highlighting (readable with black text).
PALETTE = ("#a6cee3", "#b2df8a", "#fdbf6f", "#cab2d6", "#fb9a99", "#ffff99",
           "#8dd3c7", "#bebada", "#fccde5", "#d9d9d9", "#ccebc5", "#ffed6f")

#: Fixed colours for the CoNLL types, so the most common ones never collide.
KNOWN_COLOURS = {"PER": PALETTE[0], "ORG": PALETTE[1], "LOC": PALETTE[2], "MISC": PALETTE[3]}


def entity_colour(kind: str, colours: Mapping[str, str] | None = None) -> str:
    """The colour of an entity type: the given one, a fixed CoNLL one, or a stable CRC32 pick."""
    if colours and kind in colours:
        return colours[kind]
    if kind in KNOWN_COLOURS:
        return KNOWN_COLOURS[kind]
    return PALETTE[zlib.crc32(kind.encode("utf-8")) % len(PALETTE)]


def _mark(text: str, kind: str, colour: str) -> str:
    """An HTML ``<mark>`` of already-escaped text with its type in small capitals."""
    return (f'<mark style="background: {html.escape(colour)}; padding: 0.1em 0.3em; '
            f'border-radius: 0.3em; line-height: 1.8;">{text} '
            f'<small style="font-weight: bold; font-size: 0.7em;">{html.escape(kind)}</small></mark>')


def highlight_entities(words: list[str], tags: list[str],
                       colours: dict[str, str] | None = None) -> str:
    """HTML of the words joined by spaces, each entity span in a coloured ``<mark>`` with its type.

    Words are HTML-escaped; a stray ``I-X`` starts a span (as in ``tagging.spans``).
    Show it in a notebook with ``IPython.display.HTML(...)``.
    """
    if len(words) != len(tags):
        raise BmcourseError(_("{words} words but {tags} tags").format(words=len(words), tags=len(tags)),
                            fix=_("give one tag per word"))
    starts = {s.start: s for s in spans(tags)}
    parts, i = [], 0
    while i < len(words):
        span = starts.get(i)
        if span is None:
            parts.append(html.escape(str(words[i])))
            i += 1
            continue
        text = " ".join(html.escape(str(w)) for w in words[span.start:span.end])
        parts.append(_mark(text, span.type, entity_colour(span.type, colours)))
        i = span.end
    return " ".join(parts)


def entity_legend(types: Iterable[str], colours: dict[str, str] | None = None) -> str:
    """HTML of one coloured ``<mark>`` per entity type (sorted), the key to highlight_entities."""
    return " ".join(f'<mark style="background: {html.escape(entity_colour(k, colours))}; '
                    f'padding: 0.1em 0.3em; border-radius: 0.3em;">{html.escape(k)}</mark>'
                    for k in sorted(set(types)))


