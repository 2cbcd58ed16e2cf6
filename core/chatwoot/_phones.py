"""Phone numbers as Chatwoot keeps them: E.164 with a '+', Brazilian mobiles in two forms."""

from __future__ import annotations

import re


def to_e164(phone_number: str) -> str:
    """'+55 (11) 99999-0000' → '+5511999990000', the form Chatwoot stores and validates."""
    digits = re.sub(r"\D", "", phone_number)
    if not 2 <= len(digits) <= 15 or digits.startswith("0"):
        raise ValueError("not a phone number in international form")
    return "+" + digits


def phone_variants(phone_number: str) -> list[str]:
    """The number in E.164, then for a Brazilian mobile the same number with the ninth digit
    added or removed (Chatwoot may hold either, depending on how the contact arrived)."""
    e164 = to_e164(phone_number)
    variants = [e164]
    digits = e164[1:]
    if digits.startswith("55") and len(digits) in (12, 13):
        area, local = digits[2:4], digits[4:]
        if len(local) == 8 and local[0] in "6789":
            variants.append(f"+55{area}9{local}")
        elif len(local) == 9 and local[0] == "9" and local[1] in "6789":
            variants.append(f"+55{area}{local[1:]}")
    return variants
