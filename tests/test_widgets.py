"""Widgets: the static tagger HTML, and the interactive tagger with a simulated click."""
from __future__ import annotations

import re

import pytest

from bmcourse import widgets
from bmcourse.errors import BmcourseError
from bmcourse.widgets import interactive_or_static, simple_highlight, static_tagger_html, tagger, use_widgets

ipywidgets = pytest.importorskip("ipywidgets")
EXAMPLES = ["Ada met Grace in London", "x < y & <b>Bob</b> said"]


def fake_predict(text: str) -> tuple[list[str], list[str]]:
    """Tags every capitalised word as B-PER."""
    words = text.split()
    return words, ["B-PER" if word[:1].isupper() else "O" for word in words]


@pytest.fixture
def no_env(monkeypatch):
    """No BMCOURSE_STATIC_WIDGETS; returns monkeypatch."""
    monkeypatch.delenv(widgets.STATIC_ENV, raising=False)
    return monkeypatch


def test_static_html_marks_entities_and_escapes():
    markup = static_tagger_html(fake_predict, EXAMPLES, highlight=simple_highlight)
    assert markup.startswith('<table class="bmcourse-tagger">') and markup.count("<tr>") == 3
    marked = re.findall(r'<mark title="PER">(.*?)</mark>', markup)
    assert marked == ["Ada", "Grace", "London"]
    assert "<b>" not in markup and "&lt;b&gt;Bob&lt;/b&gt;" in markup and "x &lt; y &amp;" in markup
    assert static_tagger_html(fake_predict, EXAMPLES, simple_highlight) == markup  # deterministic


def test_simple_highlight_joins_multiword_entities():
    words = ["Ada", "Lovelace", "visited", "New", "York"]
    tags = ["B-PER", "I-PER", "O", "B-LOC", "I-LOC"]
    assert simple_highlight(words, tags) == ('<mark title="PER">Ada Lovelace</mark><sub>PER</sub> visited '
                                             '<mark title="LOC">New York</mark><sub>LOC</sub>')


def test_static_html_with_default_highlight():
    assert "Grace" in static_tagger_html(fake_predict, EXAMPLES[:1])


def test_mismatched_predict_is_a_clear_error():
    with pytest.raises(BmcourseError, match="2 words but 1 tags"):
        static_tagger_html(lambda text: (["a", "b"], ["O"]), ["a b"])


def test_tagger_returns_vbox_in_a_kernel(no_env):
    no_env.setattr(widgets, "in_kernel", lambda: True)
    assert isinstance(tagger(fake_predict, EXAMPLES, simple_highlight), ipywidgets.VBox)


def test_static_env_var_gives_static_output(no_env, capsys):
    no_env.setattr(widgets, "in_kernel", lambda: True)
    no_env.setenv(widgets.STATIC_ENV, "1")
    assert tagger(fake_predict, EXAMPLES, simple_highlight) is None
    assert capsys.readouterr().out.strip() == static_tagger_html(fake_predict, EXAMPLES, simple_highlight)


def test_outside_a_kernel_or_without_ipywidgets_is_static(no_env, capsys):
    assert not use_widgets()  # pytest is not a Jupyter kernel
    assert tagger(fake_predict, EXAMPLES, simple_highlight) is None
    no_env.setenv(widgets.STATIC_ENV, "0")
    no_env.setitem(__import__("sys").modules, "ipywidgets", None)
    assert not use_widgets()
    assert "<table" in capsys.readouterr().out


def test_click_updates_the_html_output(no_env):
    no_env.setenv(widgets.STATIC_ENV, "0")
    pick, box, button, out = tagger(fake_predict, EXAMPLES, simple_highlight).children
    assert isinstance(out, ipywidgets.HTML) and '<mark title="PER">Ada</mark>' in out.value
    box.value = "then Linus <wrote> it"
    button.click()
    assert '<mark title="PER">Linus</mark>' in out.value and "&lt;wrote&gt;" in out.value
    box.value = "   "
    button.click()
    assert "Type a sentence" in out.value
    pick.value = EXAMPLES[1]
    assert box.value == EXAMPLES[1] and out.value == "x &lt; y &amp; &lt;b&gt;Bob&lt;/b&gt; said"


def test_click_shows_predict_errors(no_env):
    no_env.setenv(widgets.STATIC_ENV, "0")

    def broken(text: str):
        raise RuntimeError("model not loaded <yet>")

    out = tagger(broken, ["Hi"], simple_highlight).children[3]
    assert out.value == "<pre>RuntimeError: model not loaded &lt;yet&gt;</pre>"


def test_interactive_or_static(no_env):
    no_env.setenv(widgets.STATIC_ENV, "0")
    assert interactive_or_static(lambda: "widget", lambda: "static") == "widget"
    no_env.setenv(widgets.STATIC_ENV, "1")
    assert interactive_or_static(lambda: "widget", lambda: "static") == "static"
