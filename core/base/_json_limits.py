"""How much JSON we take from outside: nesting depth, checked before parsing.

Python's parser recurses per level: `[` x 100,000 is a RecursionError, not a ValueError, and
every level costs memory. Real payloads (Evolution's deliveries, API bodies) are a handful of
levels deep, so anything past `MAX_JSON_DEPTH` is refused unparsed.
"""

from __future__ import annotations

import re

import numpy as np

MAX_JSON_DEPTH = 64

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)  # may hide brackets: removed first
_BRACKETS = bytes(range(256)).translate(None, b"[]{}")  # every other byte, to delete


def json_depth_exceeds(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when `raw`, read as JSON, nests arrays and objects deeper than `limit`.

    Counts brackets outside strings; it does not validate (the parser does that after).
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:  # nearly every body: nothing to scan
        return False
    brackets = _STRING.sub(b"", raw).translate(None, _BRACKETS)
    steps = np.frombuffer(brackets, dtype=np.uint8)
    # "[" 91 and "{" 123 open, "]" 93 and "}" 125 close: the running sum is the depth.
    depth = np.cumsum(np.where((steps == 91) | (steps == 123), 1, -1), dtype=np.int64)
    return bool(depth.size) and int(depth.max()) > limit
