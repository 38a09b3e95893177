"""A Sphinx extension for the course site: ```` ```mermaid ```` blocks drawn in the browser by the site's own
copy of mermaid.js (``site/_static/vendor``), loaded only on the pages that have a diagram. No CDN."""
from __future__ import annotations

import html
from typing import Any

from docutils import nodes
from docutils.parsers.rst import Directive


class MermaidDirective(Directive):
    """The diagram's source as ``<pre class="mermaid">``; mermaid.js replaces it with an SVG."""

    has_content = True

    def run(self) -> list[nodes.Node]:
        env = self.state.document.settings.env
        env.metadata.setdefault(env.docname, {})["bmcourse_mermaid"] = True
        source = html.escape("\n".join(self.content))
        return [nodes.raw("", f'<pre class="mermaid">\n{source}\n</pre>\n', format="html")]


def add_script(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    """Load mermaid.js on pages with a diagram."""
    if doctree is not None and app.env.metadata.get(pagename, {}).get("bmcourse_mermaid"):
        app.add_js_file(app.config.html_context["bmcourse_mermaid"])
        app.add_js_file(None, body="window.addEventListener('load', function () { "
                                   "mermaid.initialize({startOnLoad: false, securityLevel: 'strict'}); "
                                   "mermaid.run({querySelector: 'pre.mermaid'}); });")


def setup(app: Any) -> dict[str, Any]:
    """Register the directive and the per-page script."""
    app.add_directive("mermaid", MermaidDirective)
    app.connect("html-page-context", add_script)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
