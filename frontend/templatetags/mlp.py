"""Formatting for the pages: epoch milliseconds, durations, metric values and markdown."""

import math
from datetime import UTC, datetime

import nh3
from django import template
from django.utils.safestring import mark_safe
from markdown_it import MarkdownIt

register = template.Library()


@register.filter
def ms_datetime(value) -> str:
    """Epoch milliseconds as an ISO-like UTC time, or an empty string."""
    if value is None:
        return ""
    try:
        moment = datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return ""
    return moment.strftime("%Y-%m-%d %H:%M:%S")


@register.filter
def duration(ms) -> str:
    """Milliseconds as `1h 02m`, `3m 05s` or `4.2s`."""
    if ms is None:
        return ""
    seconds = max(0, int(ms)) / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


@register.filter
def metric(value) -> str:
    """A metric value with up to 6 significant digits; NaN and infinities by name."""
    if value is None:
        return ""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "∞" if number > 0 else "-∞"
    return f"{number:.6g}"


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if mapping else None


@register.filter
def row_value(row, column):
    return row.value(column)


@register.filter
def python_str(value) -> str:
    """The text as a Python string literal, for copy-paste snippets: quotes and newlines in a
    name are escaped, so the name cannot end the string and add code of its own."""
    return repr(str(value))


# CommonMark with tables and strikethrough. Raw HTML in the text is shown as text, and nh3 then
# keeps only harmless tags and http(s)/mailto links, so a description can never carry a script.
_markdown = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
_ALLOWED_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "s", "del", "code",
    "pre", "blockquote", "ul", "ol", "li", "a", "img", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip


@register.filter(name="markdown")
def render_markdown(text) -> str:
    """Markdown as sanitised HTML."""
    if not text:
        return ""
    html = _markdown.render(str(text))
    return mark_safe(  # noqa: S308 - sanitised by nh3 just above
        nh3.clean(
            html,
            tags=_ALLOWED_TAGS,
            attributes={"a": {"href", "title"}, "img": {"src", "alt", "title"}},
            url_schemes={"http", "https", "mailto"},
            link_rel="noopener noreferrer nofollow",
        )
    )
