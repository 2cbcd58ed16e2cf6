"""`messages.upsert`: a contact's reply that is an opt-out keyword opts the contact out; any
other message of theirs counts as a reply to the latest campaign that reached them
(`_reply_counting`).

Only text a contact sent us counts (never our own messages), matched to a contact of the
instance's account by phone. The contact leaves the queues of the account's unfinished campaigns
at once: a recipient already claimed (`sending`) is on its way and cannot be recalled.
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import campaigns, contacts
from core.models import (
    DEFAULT_OPT_OUT_KEYWORDS,
    Account,
    CampaignStatus,
    Contact,
    SenderInstance,
)
from core.people import Actor
from core.tracking._delivery import WebhookResult, items
from core.tracking._reply_counting import record_reply, reply_window

OPT_OUT_CAMPAIGN_STATUSES = (
    CampaignStatus.PENDING,
    CampaignStatus.RUNNING,
    CampaignStatus.PAUSED,
)
# Replies like "¡Baja!" or "STOP." still mean the keyword.
_EDGE_PUNCTUATION = string.punctuation + "¡¿。！？"


def normalize_keyword(text: str) -> str:
    """Case, accents, surrounding spaces/punctuation and inner runs of spaces do not matter."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(plain.casefold().split()).strip(_EDGE_PUNCTUATION + " ")


def is_opt_out(text: str, keywords: Iterable[str]) -> bool:
    """The whole reply is one of the keywords: "stop" opts out, "stop sending me this" does not."""
    normalized = normalize_keyword(text)
    return bool(normalized) and normalized in {normalize_keyword(word) for word in keywords}


def message_text(message: Any) -> str | None:
    if not isinstance(message, dict):
        return None
    if isinstance(message.get("conversation"), str):
        return message["conversation"]
    extended = message.get("extendedTextMessage")
    if isinstance(extended, dict) and isinstance(extended.get("text"), str):
        return extended["text"]
    return None


def phone_candidates(jid: str) -> list[str]:
    """E.164 forms a WhatsApp JID may stand for (`5511...@s.whatsapp.net` -> `+5511...`).

    Brazilian mobiles registered before the ninth digit often keep a JID without it, so both
    forms are tried for +55 numbers. Groups, broadcasts and @lid ids are not phones.
    """
    user, _, server = jid.partition("@")
    if server and server not in ("s.whatsapp.net", "c.us"):
        return []
    digits = "".join(char for char in user.split(":")[0] if char.isdigit())
    if not 8 <= len(digits) <= 15:
        return []
    forms = ["+" + digits]
    if digits.startswith("55") and len(digits) == 12 and digits[4] in "6789":
        forms.append("+" + digits[:4] + "9" + digits[4:])
    elif digits.startswith("55") and len(digits) == 13 and digits[4] == "9":
        forms.append("+" + digits[:4] + digits[5:])
    return forms


def _sender_jid(item: Mapping[str, Any]) -> str | None:
    key = item.get("key") if isinstance(item.get("key"), dict) else {}
    jid = key.get("remoteJid")
    if isinstance(jid, str) and jid.endswith("@lid"):
        # Newer servers address some chats by an opaque LID and give the phone JID alongside.
        for alternative in (key.get("remoteJidAlt"), key.get("senderPn"), item.get("senderPn")):
            if isinstance(alternative, str) and "@" in alternative:
                return alternative
    return jid if isinstance(jid, str) else None


def apply_replies(
    session: Session, instance: SenderInstance, data: Any, now: datetime
) -> WebhookResult:
    """Opt out each contact whose reply is one of the account's keywords (or the defaults);
    any other message from a contact counts as a reply to the latest campaign that reached them."""
    result = WebhookResult("messages.upsert", handled=True)
    account = session.get(Account, instance.account_id)
    keywords = (account.opt_out_keywords if account else None) or DEFAULT_OPT_OUT_KEYWORDS
    window: timedelta | None = None
    for item in items(data):
        key = item.get("key") if isinstance(item.get("key"), dict) else {}
        if key.get("fromMe") is not False:
            continue  # our own messages (and anything that does not say) are never replies
        message = item.get("message")
        jid = _sender_jid(item)
        if jid is None or not _is_a_message(message):
            continue
        text = message_text(message)
        opting_out = text is not None and is_opt_out(text, keywords)
        contact = session.scalar(
            select(Contact).where(
                Contact.account_id == instance.account_id,
                Contact.phone.in_(phone_candidates(jid)),
            )
        )
        if contact is None:
            continue  # not in our contacts: nothing to opt out of, no campaign to answer
        if not opting_out:
            window = window if window is not None else reply_window(session, instance.account_id)
            campaign_id = record_reply(session, contact, _sent_at(item, now), window)
            if campaign_id is not None:
                result.changed += 1
                result.campaign_ids.append(campaign_id)
            continue
        if contact.opted_out_at is None:
            contacts.opt_out_by_phone(session, Actor.system(instance.account_id), contact.phone)
            result.changed += 1
        # Even when already opted out: a campaign frozen before may still hold the contact.
        campaign_ids, skipped = campaigns.skip_opted_out(session, instance.account_id, contact.id)
        result.changed += skipped
        result.campaign_ids.extend(campaign_ids)
    return result


# Evolution also posts these as messages.upsert; none is the contact saying something.
_NOT_MESSAGES = frozenset(
    {"protocolMessage", "reactionMessage", "senderKeyDistributionMessage", "messageContextInfo"}
)


def _is_a_message(message: Any) -> bool:
    return isinstance(message, dict) and any(kind not in _NOT_MESSAGES for kind in message)


def _sent_at(item: Mapping[str, Any], now: datetime) -> datetime:
    """When the contact wrote (Evolution's messageTimestamp, in seconds), never later than now."""
    stamp = item.get("messageTimestamp")
    if isinstance(stamp, str) and stamp.isdigit():
        stamp = int(stamp)
    if isinstance(stamp, int) and not isinstance(stamp, bool) and 0 < stamp < 2**33:
        return min(datetime.fromtimestamp(stamp, UTC), now)
    return now
