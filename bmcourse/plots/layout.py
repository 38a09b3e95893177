"""The frame every course figure shares: its default size, a new pyplot figure with its axes,
and the finishing touches (suptitle, tight layout). Plot functions return the ``Figure`` and never
call ``plt.show()``; pyplot is imported only when a plot is made.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

from bmcourse.i18n import tr as _

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["FIGSIZE", "CJK_FONTS", "installed_cjk_font", "cjk_fallback", "new_figure", "finish"]

FIGSIZE = (6.0, 3.5)
#: Fonts with Chinese glyphs, in order of preference: Noto/Source Han (Colab after ``apt install
#: fonts-noto-cjk``, many Linux desktops), WenQuanYi (Debian's fonts-wqy-microhei, Binder's apt.txt),
#: then the Windows and macOS system fonts.
CJK_FONTS = ("Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "Microsoft YaHei", "SimHei",
             "PingFang SC", "Heiti SC", "Arial Unicode MS")


@functools.lru_cache(maxsize=1)
def installed_cjk_font() -> str | None:
    """The first of CJK_FONTS installed here (searched once per process: setup() asks every time)."""
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    if not installed.intersection(CJK_FONTS):  # matplotlib's font cache may predate the font: look again
        for path in font_manager.findSystemFonts():
            if re.search(r"wqy|notosanscjk|notosanssc|sourcehansans|simhei|msyh|pingfang", Path(path).name, re.I):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):  # a font file matplotlib cannot read
                    continue
        installed = {font.name for font in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


def cjk_fallback() -> str | None:
    """Add the first installed Chinese font after matplotlib's default, so Latin text looks as before and
    Chinese glyphs fall back to it instead of drawing empty boxes; returns its name (None: none found)."""
    import matplotlib

    found = installed_cjk_font()
    if found is not None:  # per-glyph fallback runs over the font.family list (matplotlib >= 3.6)
        families = [f for f in matplotlib.rcParams["font.family"] if f != found]
        matplotlib.rcParams["font.family"] = [*families, found]
    return found


def new_figure(nrows: int = 1, ncols: int = 1, figsize: tuple[float, float] = FIGSIZE):
    """A new pyplot figure and its axes (imports pyplot only when a plot is made)."""
    import matplotlib.pyplot as plt

    return plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)


def finish(fig: Figure, title: str | None = None) -> Figure:
    """The figure with its suptitle (if any) and a tight layout."""
    if title:
        fig.suptitle(_(title))
    fig.tight_layout()
    return fig

