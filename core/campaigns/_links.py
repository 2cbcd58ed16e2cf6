"""Tracked links: each http(s) link of a recipient's message becomes a short link of ours.

The short link is `PUBLIC_API_URL/r/<code>`, a random code of 16 URL-safe characters (96 bits),
one per recipient and link, so a click says who clicked without anything guessable in the URL.
The redirect goes only to the URL stored with the code (`core.tracking.follow_link`).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

# A link runs to the first space or quote; trailing punctuation belongs to the sentence.
_LINK = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?*_~"
_PAIRS = {")": "(", "]": "[", "}": "{"}
CODE_BYTES = 12
SHORT_PATH = "/r/"


@dataclass(frozen=True)
class RewrittenLink:
    code: str
    url: str


def _trim(url: str) -> str:
    """Drop what ends the sentence, not the link: `(see https://x.com/a)` keeps no `)`, but
    `https://en.wikipedia.org/wiki/Fish_(food)` keeps its own."""
    while url:
        last = url[-1]
        if last in _TRAILING or last in _PAIRS and url.count(last) > url.count(_PAIRS[last]):
            url = url[:-1]
        else:
            break
    return url


def links_in(text: str) -> list[str]:
    """The http(s) links of a text, in order."""
    return [url for match in _LINK.finditer(text) if (url := _trim(match.group(0)))]


def new_code() -> str:
    return secrets.token_urlsafe(CODE_BYTES)


def rewrite_links(text: str, public_api_url: str) -> tuple[str, list[RewrittenLink]]:
    """The text with every link replaced by a new short link, and what each code stands for."""
    base = public_api_url.rstrip("/") + SHORT_PATH
    links: list[RewrittenLink] = []

    def replace(match: re.Match[str]) -> str:
        whole = match.group(0)
        url = _trim(whole)
        if not url:
            return whole
        link = RewrittenLink(new_code(), url)
        links.append(link)
        return base + link.code + whole[len(url) :]

    return _LINK.sub(replace, text), links
