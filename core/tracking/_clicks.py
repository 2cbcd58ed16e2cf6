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

from sqlalchemy import (
    Boolean,
    Connection,
    Engine,
    Select,
    bindparam,
    case,
    func,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from core.models import Campaign, CampaignRecipient, TrackedLink
from core.models.base import UTCDateTime
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
    return _agent_previews(user_agent) or sent_at is None or now - sent_at < _PREVIEW_WINDOW


def _agent_previews(user_agent: str | None) -> bool:
    return not user_agent or _PREVIEW_AGENTS.search(user_agent) is not None


_PREVIEW_WINDOW = timedelta(seconds=PREVIEW_SECONDS)


_NOW = bindparam("p_now", type_=UTCDateTime())
_LINKS = TrackedLink.__table__
_RECIPIENTS = CampaignRecipient.__table__
# Built once, with bind parameters (bench/redirects.py). On SQLite, in the process, a click is a
# few cheap statements in one transaction; PostgreSQL is a round trip away, and gets one (_FOLLOW).
_FIND = (
    select(_LINKS.c.id, _LINKS.c.url, _LINKS.c.recipient_id, _RECIPIENTS.c.sent_at)
    .join(_RECIPIENTS, _RECIPIENTS.c.id == _LINKS.c.recipient_id)
    .where(_LINKS.c.code == bindparam("p_code"))
)
_PREVIEWED = (
    update(_LINKS).where(_LINKS.c.id == bindparam("p_id")).values(previews=_LINKS.c.previews + 1)
)
_CLICKED = (
    update(_LINKS)
    .where(_LINKS.c.id == bindparam("p_id"))
    .values(
        clicks=_LINKS.c.clicks + 1,
        first_clicked_at=func.coalesce(_LINKS.c.first_clicked_at, _NOW),
        last_clicked_at=_NOW,
    )
)
_FIRST_CLICK = (
    update(_RECIPIENTS)
    .where(_RECIPIENTS.c.id == bindparam("p_recipient"), _RECIPIENTS.c.clicked_at.is_(None))
    .values(clicked_at=_NOW)
)


def _one_statement() -> Select:
    """PostgreSQL: the whole of a fetch in one statement, so one round trip in autocommit.

    It decides as `is_preview_fetch` does, the user agent's verdict coming in as `p_agent`. An
    UPDATE that finds its row changed by another click meanwhile works on the row as that click
    left it (READ COMMITTED), so concurrent clicks all add up, `first_clicked_at` keeps the
    first, and only the first click sets the recipient's `clicked_at`.
    """
    found = (
        select(
            _LINKS.c.id,
            _LINKS.c.recipient_id,
            or_(
                bindparam("p_agent", type_=Boolean()),
                _RECIPIENTS.c.sent_at.is_(None),
                _RECIPIENTS.c.sent_at > bindparam("p_cutoff", type_=UTCDateTime()),
            ).label("preview"),
        )
        .join(_RECIPIENTS, _RECIPIENTS.c.id == _LINKS.c.recipient_id)
        .where(_LINKS.c.code == bindparam("p_code"))
        .cte("found")
    )
    preview = found.c.preview
    counted = (
        update(_LINKS)
        .where(_LINKS.c.id == found.c.id)
        .values(
            previews=_LINKS.c.previews + case((preview, 1), else_=0),
            clicks=_LINKS.c.clicks + case((preview, 0), else_=1),
            first_clicked_at=case(
                (preview, _LINKS.c.first_clicked_at),
                else_=func.coalesce(_LINKS.c.first_clicked_at, _NOW),
            ),
            last_clicked_at=case((preview, _LINKS.c.last_clicked_at), else_=_NOW),
        )
        .returning(_LINKS.c.url, _LINKS.c.recipient_id, preview)
        .cte("counted")
    )
    first_click = (
        update(_RECIPIENTS)
        .where(
            _RECIPIENTS.c.id == counted.c.recipient_id,
            not_(counted.c.preview),
            _RECIPIENTS.c.clicked_at.is_(None),
        )
        .values(clicked_at=_NOW)
        .cte("first_click")
    )
    # A data-modifying CTE runs even though the SELECT does not read it.
    return select(counted.c.url, not_(counted.c.preview).label("counted")).add_cte(first_click)


_FOLLOW = _one_statement()


def follow_link(
    bind: Engine | Connection | Session, code: str, user_agent: str | None, now: datetime
) -> Followed | None:
    """The stored URL of `code` (None: no such link), with the click or preview recorded.

    Given a connection or session, it writes in the caller's transaction, and the caller commits;
    given the engine, it is its own unit of work. An ill-formed code never reaches the database."""
    if not _CODE.fullmatch(code):
        return None
    if not isinstance(bind, Engine):
        return _record(bind, code, user_agent, now)
    if bind.dialect.name == "postgresql":
        # One statement: in autocommit it is its own transaction, without BEGIN and COMMIT.
        with bind.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            return _record(connection, code, user_agent, now)
    with bind.begin() as connection:
        return _record(connection, code, user_agent, now)


def _record(
    connection: Connection | Session, code: str, user_agent: str | None, now: datetime
) -> Followed | None:
    dialect = (
        connection.dialect if isinstance(connection, Connection) else connection.get_bind().dialect
    )
    if dialect.name == "postgresql":
        row = connection.execute(
            _FOLLOW,
            {"p_code": code, "p_agent": _agent_previews(user_agent),
             "p_cutoff": now - _PREVIEW_WINDOW, "p_now": now},
        ).first()  # fmt: skip
        return None if row is None else Followed(row.url, counted=row.counted)
    row = connection.execute(_FIND, {"p_code": code}).first()
    if row is None:
        return None
    if is_preview_fetch(user_agent, row.sent_at, now):
        connection.execute(_PREVIEWED, {"p_id": row.id})
        return Followed(row.url, counted=False)
    connection.execute(_CLICKED, {"p_id": row.id, "p_now": now})
    connection.execute(_FIRST_CLICK, {"p_recipient": row.recipient_id, "p_now": now})
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
