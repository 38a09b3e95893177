"""Learner-facing strings in the reader's language: standard :mod:`gettext` over the package's catalogs.

``BMCOURSE_LANG`` picks the language (``zh_CN`` or ``en``); without it the locale does (``LANGUAGE``,
``LC_ALL``, ``LC_MESSAGES``, ``LANG``), and anything without a catalog reads English. The variable is
read at every call, so setting it in a notebook after ``import bmcourse`` takes effect at once. The
catalogs are the PO files under ``bmcourse/locale/`` (``bmcourse.po``: the package's messages;
``notebooks.po``: exercise titles and hints written in the notebooks), compiled in memory: no binary
``.mo`` file to go stale.
"""
from __future__ import annotations

import functools
import gettext
import io
import os
from pathlib import Path

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAINS = ("bmcourse", "notebooks")  #: the package's messages, then the notebooks' exercise strings
LANGUAGES = ("zh_CN",)                #: languages with catalogs; English is the source


def language() -> str:
    """The language learner-facing text uses now: ``zh_CN`` or ``en``."""
    for variable in ("BMCOURSE_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(variable, "").strip()
        if value:
            code = value.split(":")[0].split(".")[0].replace("-", "_").lower()
            return "zh_CN" if code.startswith("zh") else "en"
    return "en"


@functools.lru_cache(maxsize=None)
def translations(lang: str) -> gettext.NullTranslations:
    """The gettext translations of ``lang`` (every domain chained), or English (no translation)."""
    chain: gettext.NullTranslations = gettext.NullTranslations()
    if lang not in LANGUAGES:
        return chain
    import polib

    for domain in reversed(DOMAINS):
        path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.po"
        if path.exists():
            compiled = gettext.GNUTranslations(io.BytesIO(polib.pofile(str(path)).to_binary()))
            compiled.add_fallback(chain)
            chain = compiled
    return chain


def tr(message: str) -> str:
    """``message`` in the current language (the English text when it has no translation)."""
    if not message:
        return message
    return translations(language()).gettext(message)
