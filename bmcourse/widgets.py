"""ipywidgets front-ends with static HTML fallbacks.

Stored notebook outputs contain the static version: widget state is not saved in the
notebooks, and widget views carry random model ids, so tests compare the static HTML.
``BMCOURSE_STATIC_WIDGETS=1`` always gives the static version, ``=0`` always the widgets
(when ipywidgets is importable); unset, widgets are used only inside a Jupyter kernel.
"""
from __future__ import annotations

import html
import os
from collections.abc import Callable, Sequence
from typing import Any

from bmcourse.i18n import tr as _

from .errors import BmcourseError
from .tagging import spans

Predict = Callable[[str], tuple[Sequence[str], Sequence[str]]]
Highlight = Callable[[Sequence[str], Sequence[str]], str]
STATIC_ENV = "BMCOURSE_STATIC_WIDGETS"


def in_kernel() -> bool:
    """True inside a Jupyter kernel (JupyterLab, Colab), False in a script or a terminal IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return getattr(get_ipython(), "kernel", None) is not None


def use_widgets() -> bool:
    """Whether to build widgets: ipywidgets importable, and ``BMCOURSE_STATIC_WIDGETS`` or a kernel says so."""
    flag = os.environ.get(STATIC_ENV, "").strip().lower()
    if flag in ("1", "true", "yes"):
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return flag in ("0", "false", "no") or in_kernel()


def interactive_or_static(widget_factory: Callable[[], Any], static: Callable[[], Any]) -> Any:
    """``widget_factory()`` when widgets are usable (see ``use_widgets``), else ``static()``."""
    return widget_factory() if use_widgets() else static()


def show_html(markup: str) -> None:
    """Display HTML in IPython (notebook or console), or print it in a plain Python process."""
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display
    except ImportError:
        print(markup)
        return
    if get_ipython() is None:
        print(markup)
    else:
        display(HTML(markup))


def simple_highlight(words: Sequence[str], tags: Sequence[str]) -> str:
    """Words as escaped HTML with each IOB2 entity wrapped in ``<mark title="TYPE">``."""
    pieces = [html.escape(word) for word in words]
    for span in reversed(spans(tags)):
        kind = html.escape(span.type)
        inner = " ".join(pieces[span.start:span.end])
        pieces[span.start:span.end] = [f'<mark title="{kind}">{inner}</mark><sub>{kind}</sub>']
    return " ".join(pieces)


def default_highlight() -> Highlight:
    """``bmcourse.plots.highlight_entities`` when that module is importable, else ``simple_highlight``."""
    try:
        from .plots import highlight_entities
    except ImportError:
        return simple_highlight
    return highlight_entities


def tag_html(predict: Predict, text: str, highlight: Highlight | None = None) -> str:
    """Run ``predict(text)`` and return the highlighted HTML; checks one tag per word."""
    words, tags = predict(text)
    words, tags = list(words), list(tags)
    if len(words) != len(tags):
        raise BmcourseError(_("predict returned {words} words but {tags} tags").format(words=len(words), tags=len(tags)),
                            fix=_("return (words, tags) with one IOB2 tag per word"))
    return (highlight or default_highlight())(words, tags)


def static_tagger_html(predict: Predict, examples: Sequence[str],
                       highlight: Highlight | None = None) -> str:
    """The static tagger: an HTML table of each example text and its highlighted entities."""
    highlight = highlight or default_highlight()
    cell = '<td style="text-align:left">{}</td>'
    rows = [f"<tr>{cell.format(html.escape(text))}{cell.format(tag_html(predict, text, highlight))}</tr>"
            for text in examples]
    head = (f'<tr><th style="text-align:left">{html.escape(_("text"))}</th>'
            f'<th style="text-align:left">{html.escape(_("entities"))}</th></tr>')
    return (f'<table class="bmcourse-tagger">\n<thead>{head}</thead>\n<tbody>\n'
            + "".join(row + "\n" for row in rows) + "</tbody>\n</table>")


def _safe_tag_html(predict: Predict, text: str, highlight: Highlight) -> str:
    """``tag_html`` for a widget callback: empty input and errors become a visible message."""
    if not text.strip():
        return f"<em>{html.escape(_('Type a sentence, then press Tag.'))}</em>"
    try:
        return tag_html(predict, text.strip(), highlight)
    except Exception as err:  # shown in the output box; a callback's traceback would be hidden
        return f"<pre>{html.escape(f'{type(err).__name__}: {err}')}</pre>"


def _tagger_widget(predict: Predict, examples: Sequence[str], highlight: Highlight) -> Any:
    """The interactive tagger: a VBox of [Dropdown, Textarea, Button, HTML]."""
    import ipywidgets as w

    pick = w.Dropdown(options=list(examples), description=_("Example"))
    box = w.Textarea(value=examples[0] if examples else "", placeholder=_("Type a sentence"),
                     layout=w.Layout(width="100%"))
    button = w.Button(description=_("Tag"), button_style="primary")
    out = w.HTML(value=_safe_tag_html(predict, box.value, highlight) if examples else "")

    def on_tag(_event: Any = None) -> None:
        out.value = _safe_tag_html(predict, box.value, highlight)

    def on_pick(change: dict) -> None:
        box.value = change["new"] or ""
        on_tag()

    button.on_click(on_tag)
    pick.observe(on_pick, names="value")
    return w.VBox([pick, box, button, out])


def tagger(predict: Predict, examples: Sequence[str], highlight: Highlight | None = None) -> Any:
    """An interactive NER tagger (a VBox), or display ``static_tagger_html`` and return None.

    ``predict(text)`` returns ``(words, tags)`` with IOB2 tags. The VBox children are
    ``[Dropdown of examples, Textarea, "Tag" Button, HTML output]``. Stored notebook outputs
    hold the static table, since widget state is not saved (see the module docstring).
    """
    highlight = highlight or default_highlight()
    return interactive_or_static(
        lambda: _tagger_widget(predict, examples, highlight),
        lambda: show_html(static_tagger_html(predict, examples, highlight)))


# --- semantic search box (notebook 04) ----------------------------------------------------------

Search = Callable[[str], Sequence[tuple[str, str, float]]]


def results_html(search: Search, query: str) -> str:
    """``search(query)`` as an HTML table of (text, label, similarity), best first."""
    cell = '<td style="text-align:left">{}</td>'
    rows = "".join(f"<tr>{cell.format(html.escape(text))}{cell.format(html.escape(label))}"
                   f"<td>{score:.2f}</td></tr>\n" for text, label, score in search(query))
    head = (f'<tr><th style="text-align:left">{html.escape(_("similar past question"))}</th>'
            f'<th style="text-align:left">{html.escape(_("its intent"))}</th><th>{html.escape(_("cosine"))}</th></tr>')
    return (f'<p><b>{html.escape(query)}</b></p>\n<table class="bmcourse-search">\n<thead>{head}</thead>\n'
            f"<tbody>\n{rows}</tbody>\n</table>")


def _safe_results_html(search: Search, query: str) -> str:
    """``results_html`` for a widget callback: empty input and errors become a visible message."""
    if not query.strip():
        return f"<em>{html.escape(_('Type a question, then press Search.'))}</em>"
    try:
        return results_html(search, query.strip())
    except Exception as err:  # shown in the output box; a callback's traceback would be hidden
        return f"<pre>{html.escape(f'{type(err).__name__}: {err}')}</pre>"


def _search_widget(search: Search, examples: Sequence[str]) -> Any:
    """The interactive search: a VBox of [Text, "Search" Button, HTML results]."""
    import ipywidgets as w

    box = w.Text(value=examples[0] if examples else "", placeholder=_("Ask a question"),
                 continuous_update=False, layout=w.Layout(width="100%"))
    button = w.Button(description=_("Search"), button_style="primary")
    out = w.HTML(value=_safe_results_html(search, box.value) if examples else "")

    def on_search(_event: Any = None) -> None:
        out.value = _safe_results_html(search, box.value)

    button.on_click(on_search)
    box.observe(on_search, names="value")  # Enter (or leaving the box) searches too
    return w.VBox([box, button, out])


def search_box(search: Search, examples: Sequence[str]) -> Any:
    """An interactive semantic search box (a VBox), or display the results of ``examples`` as static
    HTML and return None. ``search(query)`` returns ``(text, label, cosine)`` rows, best first."""
    return interactive_or_static(
        lambda: _search_widget(search, examples),
        lambda: show_html("\n".join(results_html(search, q) for q in examples)))
