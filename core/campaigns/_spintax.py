"""Spintax: `{Olá|Oi|E aí}` in a message picks one alternative per recipient.

Single braces holding a `|` are a choice; alternatives may nest (`{Oi|{Olá|Bom dia}, tudo bem}`).
Double braces stay variables (`{{first_name|there}}` is a variable with its fallback, never a
choice), so a variable may sit inside an alternative. Braces without a `|` are plain text
(`{single}` passes through), but every `{` needs its `}`: an unbalanced brace is an error the
editor shows.

The choice is seeded by campaign and recipient, so the same recipient always gets the same text
(the text is rendered once, when the campaign starts, and stored; a retry sends what is stored,
and a re-render gives the same text anyway). Varying the text is what keeps a blast from being
one identical message sent a thousand times, a pattern WhatsApp's spam filters look for.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import re
from dataclasses import dataclass

from core.base import ValidationError

# A `{{variable}}` or `{{variable|fallback}}` at a position: the same shape as _templates'.
_VARIABLE = re.compile(r"\{\{\s*[^{}|]*?\s*(?:\|[^{}]*)?\}\}")
# An audience at least this large receiving one identical text is flagged in the editor.
IDENTICAL_BLAST_AUDIENCE = 50
ENUMERATE_LIMIT = 5000  # beyond this many combinations, the count is of combinations


@dataclass(frozen=True)
class Choice:
    """One `{a|b|c}`: each alternative is a sequence of pieces."""

    alternatives: tuple[tuple[Piece, ...], ...]


Piece = str | Choice


def parse(text: str, field: str = "message") -> tuple[Piece, ...]:
    """The text as pieces (literal strings and choices), or `ValidationError` on an unbalanced
    brace (naming its position, counted from 1)."""
    text = text or ""
    # Each open group: (position of its `{`, alternatives so far, the current alternative).
    stack: list[tuple[int, list[list[Piece]], list[Piece]]] = []
    top: list[Piece] = []
    current = top
    literal: list[str] = []
    position = 0

    def flush() -> None:
        if literal:
            current.append("".join(literal))
            literal.clear()

    while position < len(text):
        char = text[position]
        if char == "{":
            variable = _VARIABLE.match(text, position)
            if variable is not None:
                literal.append(variable.group(0))
                position = variable.end()
                continue
            flush()
            alternative: list[Piece] = []
            stack.append((position, [alternative], alternative))
            current = alternative
        elif char == "|" and stack:
            flush()
            _start, alternatives, _current = stack[-1]
            alternative = []
            alternatives.append(alternative)
            stack[-1] = (_start, alternatives, alternative)
            current = alternative
        elif char == "}":
            if not stack:
                raise ValidationError(
                    "message has a '}}' at character {position} that closes nothing",
                    field,
                    position=position + 1,
                )
            flush()
            _start, alternatives, _current = stack.pop()
            current = stack[-1][2] if stack else top
            if len(alternatives) == 1:
                # No `|`: plain braces around plain text.
                current.append("{")
                current.extend(alternatives[0])
                current.append("}")
            else:
                current.append(Choice(tuple(tuple(a) for a in alternatives)))
        else:
            literal.append(char)
        position += 1
    if stack:
        raise ValidationError(
            "message has a '{{' at character {position} without its closing '}}'",
            field,
            position=stack[-1][0] + 1,
        )
    flush()
    return tuple(_merge(top))


def _merge(pieces: list[Piece]) -> list[Piece]:
    out: list[Piece] = []
    for piece in pieces:
        if isinstance(piece, str) and out and isinstance(out[-1], str):
            out[-1] = out[-1] + piece
        else:
            out.append(piece)
    return out


def has_spintax(pieces: tuple[Piece, ...]) -> bool:
    return any(isinstance(piece, Choice) for piece in pieces)


def _pick(pieces: tuple[Piece, ...], rng: random.Random, out: list[str]) -> None:
    for piece in pieces:
        if isinstance(piece, str):
            out.append(piece)
        else:
            _pick(piece.alternatives[rng.randrange(len(piece.alternatives))], rng, out)


def seed_for(campaign_id: int | None, recipient_key: object) -> int:
    """A stable seed (not Python's salted `hash`): the same in every process and restart."""
    digest = hashlib.sha256(f"{campaign_id}:{recipient_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def choose(pieces: tuple[Piece, ...], seed: int) -> str:
    """The text one recipient gets (variables still in it)."""
    out: list[str] = []
    _pick(pieces, random.Random(seed), out)
    return "".join(out)


def spin(text: str, campaign_id: int | None, recipient_key: object) -> str:
    """`text` with its choices made for this campaign's recipient."""
    pieces = parse(text)
    if not has_spintax(pieces):
        return text
    return choose(pieces, seed_for(campaign_id, recipient_key))


def combinations(pieces: tuple[Piece, ...]) -> int:
    """How many ways the choices can be made (an upper bound of the distinct texts)."""
    total = 1
    for piece in pieces:
        if isinstance(piece, Choice):
            total *= sum(combinations(alternative) for alternative in piece.alternatives)
    return total


def _expand(pieces: tuple[Piece, ...]) -> list[str]:
    options: list[list[str]] = []
    for piece in pieces:
        if isinstance(piece, str):
            options.append([piece])
        else:
            options.append([text for a in piece.alternatives for text in _expand(a)])
    return ["".join(parts) for parts in itertools.product(*options)]


def all_variants(text: str) -> list[str]:
    """Every distinct text, in order of first appearance (for small templates only)."""
    return list(dict.fromkeys(_expand(parse(text))))


def distinct_texts(text: str) -> int:
    """How many different texts the choices give: exact up to `ENUMERATE_LIMIT` combinations,
    the number of combinations beyond."""
    pieces = parse(text)
    count = combinations(pieces)
    if count > ENUMERATE_LIMIT:
        return count
    return len(set(_expand(pieces)))


def sample_variants(text: str, count: int, campaign_id: int | None = None) -> list[str]:
    """Up to `count` different texts, as recipients 1, 2, 3… of the campaign would get them."""
    pieces = parse(text)
    if not has_spintax(pieces):
        return [text]
    found: dict[str, None] = {}
    for key in range(count * 20):
        found.setdefault(choose(pieces, seed_for(campaign_id, key)), None)
        if len(found) >= count:
            break
    return list(found)


@dataclass(frozen=True)
class Variation:
    """What the editor shows about a message's variation."""

    error: ValidationError | None  # unbalanced braces
    distinct: int  # different texts the choices give (1: none)
    samples: tuple[str, ...]  # a few of them, variables still in
    uses_variables: bool

    def identical_blast(self, audience: int) -> bool:
        """One identical text to a large audience: no variable and no choice in it."""
        return (
            self.error is None
            and not self.uses_variables
            and self.distinct <= 1
            and audience >= IDENTICAL_BLAST_AUDIENCE
        )


def message_variation(text: str, samples: int = 3, campaign_id: int | None = None) -> Variation:
    uses_variables = _VARIABLE.search(text or "") is not None
    try:
        distinct = distinct_texts(text)
        shown = tuple(sample_variants(text, samples, campaign_id))
    except ValidationError as error:
        return Variation(error, 0, (), uses_variables)
    return Variation(None, distinct, shown, uses_variables)
