"""WhatsApp's message formatting as safe HTML, for the editor's preview.

WhatsApp is not Markdown: `*bold*` (Markdown would show italic), `_italic_`, `~strike~`,
```` ```monospace``` ````, `` `inline code` ``, `> quote`, `* item` / `- item` lists and `1. item`
numbered lists. The text is HTML-escaped before anything else, so a contact's name or an
attribute holding `<script>` shows as text; only the tags made here reach the page.
"""

from __future__ import annotations

import html
import re

# A marker opens right before a non-space and closes right after one, not inside a word
# (WhatsApp leaves `2*3*4` and `snake_case_name` alone).
_INLINE = [
    (re.compile(r"(?<![\w*])\*(?=\S)([^*\n]*?\S)\*(?![\w*])"), "strong"),
    (re.compile(r"(?<![\w_])_(?=\S)([^_\n]*?\S)_(?![\w_])"), "em"),
    (re.compile(r"(?<![\w~])~(?=\S)([^~\n]*?\S)~(?![\w~])"), "del"),
]
_CODE = re.compile(r"`([^`\n]+)`")
_BLOCK = re.compile(r"```(.+?)```", re.DOTALL)
_BULLET = re.compile(r"^[*-] (.*)$")
_NUMBERED = re.compile(r"^\d+\. (.*)$")
_QUOTE = re.compile(r"^&gt; ?(.*)$")  # the text is escaped already: ">" is "&gt;"
_MONO = "font-family: monospace"


def _inline(text: str) -> str:
    """Bold, italic, strike, inline code in one escaped line (no formatting inside code)."""
    parts = _CODE.split(text)
    out = []
    for index, part in enumerate(parts):
        if index % 2:  # inside backticks
            out.append(f'<code style="{_MONO}">{part}</code>')
            continue
        for pattern, tag in _INLINE:
            part = pattern.sub(rf"<{tag}>\1</{tag}>", part)
        out.append(part)
    return "".join(out)


def _lines(text: str) -> str:
    """Quotes and lists by line; the other lines joined with <br>."""
    out: list[str] = []
    open_list: str | None = None
    for line in text.split("\n"):
        bullet, numbered = _BULLET.match(line), _NUMBERED.match(line)
        kind = "ul" if bullet else ("ol" if numbered else None)
        if open_list and kind != open_list:
            out.append(f"</{open_list}>")
            open_list = None
        if kind:
            if open_list is None:
                out.append(f'<{kind} style="margin: 0; padding-left: 1.4em">')
                open_list = kind
            item = (bullet or numbered).group(1)  # type: ignore[union-attr]
            out.append(f"<li>{_inline(item)}</li>")
            continue
        quote = _QUOTE.match(line)
        if quote:
            out.append(
                '<blockquote style="margin: 0; padding-left: .6em; border-left: 3px solid '
                f'#94a3b8">{_inline(quote.group(1))}</blockquote>'
            )
        else:
            out.append(_inline(line) + "<br>")
    if open_list:
        out.append(f"</{open_list}>")
    joined = "".join(out)
    return joined.removesuffix("<br>")


def to_html(text: str) -> str:
    """The message as WhatsApp would show it, as HTML safe to put on the page."""
    escaped = html.escape(text or "", quote=True)
    out = []
    for index, part in enumerate(_BLOCK.split(escaped)):
        if index % 2:  # between ``` fences: shown as typed, monospace
            out.append(f'<pre style="{_MONO}; margin: 0; white-space: pre-wrap">{part}</pre>')
        elif part:
            out.append(_lines(part))
    return f'<div style="white-space: normal; line-height: 1.5">{"".join(out)}</div>'
