"""Run HTML: an executed notebook as a sanitized fragment the launcher can embed.

nbconvert renders (``basic`` template), nh3 removes what could run in the launcher's origin:
script, event handlers, styles, forms and frames; ``data:`` URLs survive only as images.
"""

from __future__ import annotations

import html as _html

__all__ = ["sanitize_html", "notebook_html", "escape"]

_TAGS = {"a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del",
         "details", "div", "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img",
         "ins", "kbd", "li", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strong", "sub",
         "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul",
         "var"}
_ATTRIBUTES = {"*": {"class", "title"}, "a": {"href"}, "img": {"src", "alt", "width", "height"},
               "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"}}


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    # data: URLs only as images (a PNG or SVG in <img> cannot run script); never as links.
    if attribute == "src" and tag == "img":
        return value if value.startswith("data:image/") else None
    if attribute == "href" and value.lower().lstrip().startswith("data:"):
        return None
    return value


def sanitize_html(html: str) -> str:
    """HTML safe to embed in the launcher's pages: no script, handlers, styles, forms or frames."""
    import nh3  # only the launcher and execution need it, not notebooks importing the package
    return nh3.clean(html, tags=_TAGS, attributes=_ATTRIBUTES, attribute_filter=_attribute_filter,
                     clean_content_tags={"script", "style", "textarea", "title", "noscript"},
                     url_schemes={"http", "https", "mailto", "data"}, strip_comments=True)


def notebook_html(nb) -> str:
    """The executed notebook as a sanitized HTML fragment (nbconvert's ``basic`` template)."""
    from nbconvert import HTMLExporter  # heavy (jinja, templates); only when a run finishes
    exporter = HTMLExporter(template_name="basic")
    body, _ = exporter.from_notebook_node(nb)
    return sanitize_html(body)


def escape(text: object) -> str:
    """``text`` escaped for HTML text and attribute values."""
    return _html.escape(str(text), quote=True)
