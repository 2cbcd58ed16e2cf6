"""The preview shows WhatsApp's formatting, not Markdown's, and never runs a contact's HTML."""

from __future__ import annotations

import pytest

from ui.whatsapp_format import to_html


def body(text: str) -> str:
    html = to_html(text)
    return html.removeprefix('<div style="white-space: normal; line-height: 1.5">').removesuffix(
        "</div>"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("*bold*", "<strong>bold</strong>"),  # Markdown would make it italic
        ("_italic_", "<em>italic</em>"),
        ("~strike~", "<del>strike</del>"),
        ("Oi *Ana*, _até_ ~logo~", "Oi <strong>Ana</strong>, <em>até</em> <del>logo</del>"),
        ("*_both_*", "<strong><em>both</em></strong>"),
        ("2*3*4 and snake_case_name", "2*3*4 and snake_case_name"),  # inside words: as typed
        ("a * not bold * b", "a * not bold * b"),
        ("use `*raw*` here", 'use <code style="font-family: monospace">*raw*</code> here'),
        ("line one\nline two", "line one<br>line two"),
    ],
)
def test_inline_formatting(text, expected):
    assert body(text) == expected


def test_monospace_block_keeps_its_text_as_typed():
    assert body("```*x* _y_\nz```") == (
        '<pre style="font-family: monospace; margin: 0; white-space: pre-wrap">*x* _y_\nz</pre>'
    )


def test_quote_and_lists():
    html = body("> quoted *words*\n* one\n* two\n1. first\n2. second\nend")
    assert "<blockquote" in html and "quoted <strong>words</strong></blockquote>" in html
    assert "<li>one</li><li>two</li></ul>" in html
    assert "<li>first</li><li>second</li></ol>" in html
    assert html.endswith("end")


def test_user_text_is_escaped():
    html = to_html('Oi <script>alert(1)</script> <img src=x onerror="x()"> & *vip*')
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&amp; <strong>vip</strong>" in html
