"""Following a tracked link: where it goes, and whether the fetch was a person's click.

Link previews are fetched by machines: Evolution builds the preview on its server while it sends
(`linkPreview`), and WhatsApp, Telegram, Facebook, Slack and the rest fetch shared links with
crawlers that say who they are. A fetch counts as a click only when its user agent is none of
those, and it comes later than `PREVIEW_SECONDS` after the message was sent (a preview is built
while sending; no person opens a message, reads it and taps within that time). Previews are
counted apart, so staff can see them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.models import Campaign, CampaignRecipient, TrackedLink
from core.people import Actor, load_owned, require

PREVIEW_SECONDS = 15
_PREVIEW_AGENTS = re.compile(
    r"whatsapp|facebookexternalhit|facebot|meta-externalagent|twitterbot|telegrambot|slackbot|"
    r"discordbot|linkedinbot|skypeuripreview|googlebot|bingbot|applebot|yandex|baiduspider|"
    r"embedly|iframely|vkshare|pinterest|redditbot|"
    r"preview|crawler|spider|\bbot\b|bot/|axios|node-fetch|undici|got \(|python-requests|"
    r"python-httpx|curl/|wget/|okhttp|go-http-client|java/|libwww|headlesschrome",
    re.IGNORECASE,
)
_CODE = re.compile(r"[A-Za-z0-9_-]{8,32}")


@dataclass(frozen=True)
class Followed:
    url: str
    counted: bool  # a person's click (False: a preview fetch)


def is_preview_fetch(user_agent: str | None, sent_at: datetime | None, now: datetime) -> bool:
    """A machine building a preview, not a person: by user agent, or by coming too soon."""
    if not user_agent or _PREVIEW_AGENTS.search(user_agent):
        return True
    return sent_at is None or now - sent_at < timedelta(seconds=PREVIEW_SECONDS)


def follow_link(
    session: Session, code: str, user_agent: str | None, now: datetime
) -> Followed | None:
    """The stored URL of `code` (None: no such link), with the click or preview recorded.
    The caller commits."""
    if not _CODE.fullmatch(code):
        return None
    row = session.execute(
        select(TrackedLink.id, TrackedLink.url, TrackedLink.recipient_id, CampaignRecipient.sent_at)
        .join(CampaignRecipient, CampaignRecipient.id == TrackedLink.recipient_id)
        .where(TrackedLink.code == code)
    ).first()
    if row is None:
        return None
    if is_preview_fetch(user_agent, row.sent_at, now):
        session.execute(
            update(TrackedLink)
            .where(TrackedLink.id == row.id)
            .values(previews=TrackedLink.previews + 1),
            execution_options={"synchronize_session": False},
        )
        return Followed(row.url, counted=False)
    session.execute(
        update(TrackedLink)
        .where(TrackedLink.id == row.id)
        .values(
            clicks=TrackedLink.clicks + 1,
            first_clicked_at=func.coalesce(TrackedLink.first_clicked_at, now),
            last_clicked_at=now,
        ),
        execution_options={"synchronize_session": False},
    )
    session.execute(
        update(CampaignRecipient)
        .where(CampaignRecipient.id == row.recipient_id, CampaignRecipient.clicked_at.is_(None))
        .values(clicked_at=now),
        execution_options={"synchronize_session": False},
    )
    return Followed(row.url, counted=True)


@dataclass(frozen=True)
class LinkStats:
    url: str
    recipients: int  # who were sent the link
    clicked_by: int  # of them, who clicked it
    clicks: int
    previews: int


def link_stats(
    session: Session, actor: Actor, campaign_id: int, limit: int = 20
) -> list[LinkStats]:
    """A campaign's tracked links, the most clicked first."""
    require(actor, "campaigns.read")
    load_owned(session, actor, Campaign, campaign_id, "campaign")
    rows = session.execute(
        select(
            TrackedLink.url,
            func.count(),
            func.count(TrackedLink.first_clicked_at),
            func.coalesce(func.sum(TrackedLink.clicks), 0),
            func.coalesce(func.sum(TrackedLink.previews), 0),
        )
        .where(TrackedLink.campaign_id == campaign_id)
        .group_by(TrackedLink.url)
        .order_by(func.count(TrackedLink.first_clicked_at).desc(), TrackedLink.url)
        .limit(limit)
    ).all()
    return [LinkStats(url, sent, clicked, int(clicks), int(previews))
            for url, sent, clicked, clicks, previews in rows]  # fmt: skip
