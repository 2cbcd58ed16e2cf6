"""Tracked links: rewritten per recipient at start, sent as short links, a click counted once per
recipient through the real API service, preview fetches apart, unknown codes 404."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy import text as sql
from sqlalchemy.orm import Session

from core import campaigns, tracking
from core.base import make_engine, reset_settings_cache, utcnow
from core.campaigns import _links as links
from core.models import Campaign, CampaignRecipient, TrackedLink
from core.sending import Dispatcher
from tests.builders import make_account, make_api_token, make_contact
from tests.fake_evolution import FakeEvolution
from tests.stats_builders import make_campaign, make_recipient
from tests.worker_harness import fast_settings, free_port, make_instance, run_until_idle

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = "https://campanhas.example.net"
BROWSER = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/131.0 Mobile"
MESSAGE = (
    "Oi {{first_name|}}! Promo: https://loja.example/promo?c=1. Catálogo (https://loja.example/cat)"
)


@pytest.fixture
def public_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("PUBLIC_API_URL", PUBLIC)
    reset_settings_cache()
    yield PUBLIC
    reset_settings_cache()


# -- finding and rewriting links ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("see https://x.example/a.", ["https://x.example/a"]),
        ("(see https://x.example/a)", ["https://x.example/a"]),
        ("https://en.wikipedia.org/wiki/Fish_(food)!", ["https://en.wikipedia.org/wiki/Fish_(food)"]),
        ("*https://x.example/b* and http://y.example/?q=1&r=2", ["https://x.example/b", "http://y.example/?q=1&r=2"]),
        ("no link, just www.x.example or ftp://x.example", []),
        ('"https://x.example/q"', ["https://x.example/q"]),
    ],
)  # fmt: skip
def test_links_are_found_without_the_sentence_around_them(text, found):
    assert links.links_in(text) == found


def test_rewriting_keeps_the_text_around_each_link_and_gives_each_its_own_unguessable_code():
    text, rewritten = links.rewrite_links(
        "a https://x.example/1, b https://x.example/1.", PUBLIC + "/"
    )
    first, second = rewritten
    assert text == f"a {PUBLIC}/r/{first.code}, b {PUBLIC}/r/{second.code}."
    assert first.url == second.url == "https://x.example/1"
    assert first.code != second.code and len(first.code) == 16
    assert len({links.new_code() for _ in range(1000)}) == 1000


# -- the campaign option ----------------------------------------------------------------------


def _create(client, headers, account, **fields):
    body = {"title": "Black Friday", "message": "Veja https://loja.example", **fields}
    body["audience"] = {"contact_ids": [1]}
    return client.post(
        f"/api/v1/accounts/{account.id}/whatsapp_api_campaigns", json=body, headers=headers
    )


def test_tracking_needs_a_public_address_and_a_real_boolean(client, session, account, admin):
    headers = {"Authorization": f"Bearer {make_api_token(session, admin)}"}
    session.commit()
    refused = _create(client, headers, account, track_links=True)
    assert refused.status_code == 422
    assert any(e["field"] == "track_links" and "PUBLIC_API_URL" in e["message"]
               for e in refused.json()["errors"])  # fmt: skip
    assert _create(client, headers, account, track_links="yes").status_code == 422
    assert session.scalar(select(Campaign.id)) is None  # nothing half-written


def test_a_campaign_says_whether_it_tracks_links_and_a_copy_keeps_it(
    client, session, account, admin, public_url
):
    headers = {"Authorization": f"Bearer {make_api_token(session, admin)}"}
    make_contact(session, account, phone="+5511987650001", name="Ana")
    session.commit()
    created = _create(client, headers, account, track_links=True)
    assert created.status_code == 201, created.text
    assert created.json()["track_links"] is True
    copy = campaigns.duplicate(session, admin, created.json()["id"])
    assert copy.track_links is True


# -- over real HTTP: the worker sends short links, the API service counts clicks -----------


def _start_and_send(session, account, admin, fake: FakeEvolution, dispatcher, phones) -> Campaign:
    instance = make_instance(session, account, fake, rate=6000)
    ids = [make_contact(session, account, phone=phone, name=f"Cliente {index}").id
           for index, phone in enumerate(phones)]  # fmt: skip
    campaign = Campaign(
        account_id=account.id, title="Promo", message=MESSAGE, audience={"contact_ids": ids},
        status="draft",
        track_links=True,
    )  # fmt: skip
    campaign.instances = [instance]
    session.add(campaign)
    session.commit()
    campaigns.trigger(session, admin, campaign.id)
    session.commit()
    run_until_idle(dispatcher)
    return campaign


@pytest.fixture
def dispatcher(engine, session: Session) -> Iterator[Dispatcher]:
    worker = Dispatcher(engine, fast_settings(), worker_id="links", max_threads=4)
    yield worker
    session.rollback()
    worker.stop(timeout=5)


@pytest.fixture
def api_service(engine, public_url) -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "api_service.py", "--port", str(port)],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code < 500:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    try:
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_each_recipient_is_sent_short_links_of_their_own(
    session, account, admin, fake_evolution, dispatcher, public_url
):
    phones = ["+5511987650001", "+5511987650002", "+5511987650003"]
    campaign = _start_and_send(session, account, admin, fake_evolution, dispatcher, phones)
    texts = [send.body["text"] for send in fake_evolution.sends()]
    assert len(texts) == 3
    codes = session.scalars(
        select(TrackedLink.code).where(TrackedLink.campaign_id == campaign.id)
    ).all()
    assert len(codes) == 6 == len(set(codes))  # two links x three recipients, all different
    for text in texts:
        assert "loja.example" not in text
        assert text.count(f"{PUBLIC}/r/") == 2
        assert text.endswith(")") and ". Catálogo (" in text  # the sentence kept around them
    stored = session.scalars(select(TrackedLink.url).distinct()).all()
    assert sorted(stored) == ["https://loja.example/cat", "https://loja.example/promo?c=1"]


def test_a_click_redirects_and_is_counted_once_per_recipient_and_a_preview_is_not(
    session, account, admin, fake_evolution, dispatcher, api_service
):
    campaign = _start_and_send(
        session, account, admin, fake_evolution, dispatcher, ["+5511987650001", "+5511987650002"]
    )
    # The messages went out a minute ago: later fetches may be people.
    session.execute(
        CampaignRecipient.__table__.update().values(sent_at=utcnow() - timedelta(minutes=1))
    )
    session.commit()
    first, other = session.execute(
        select(TrackedLink.id, TrackedLink.code, TrackedLink.url)
        .where(TrackedLink.url.like("%promo%"))
        .order_by(TrackedLink.id)
    ).all()
    session.rollback()  # the test's reads must not hold SQLite's write lock while the API writes
    url = f"{api_service}/r/{first.code}"

    preview = httpx.get(url, headers={"User-Agent": "WhatsApp/2.24.1 A"})
    assert preview.status_code == 302 and preview.headers["location"] == first.url
    for _ in range(2):
        clicked = httpx.get(url, headers={"User-Agent": BROWSER})
        assert clicked.status_code == 302
        assert clicked.headers["location"] == "https://loja.example/promo?c=1"
    assert httpx.get(f"{api_service}/r/AAAAAAAAAAAAAAAA").status_code == 404
    assert httpx.get(f"{api_service}/r/..%2Fadmin").status_code == 404

    session.expire_all()
    row = session.get(TrackedLink, first.id)
    assert (row.clicks, row.previews) == (2, 1)
    assert row.first_clicked_at is not None and row.last_clicked_at >= row.first_clicked_at
    assert session.get(TrackedLink, other.id).clicks == 0
    clicked_at = session.scalars(
        select(CampaignRecipient.clicked_at).where(CampaignRecipient.campaign_id == campaign.id)
    ).all()
    assert sum(value is not None for value in clicked_at) == 1
    assert campaigns.campaign_counts(session, campaign.id)["clicked"] == 1
    [stats, _] = tracking.link_stats(session, admin, campaign.id)
    assert (stats.url, stats.recipients, stats.clicked_by, stats.clicks, stats.previews) == (
        "https://loja.example/promo?c=1",
        2,
        1,
        2,
        1,
    )


def test_a_fetch_right_after_the_send_is_a_preview_whatever_it_calls_itself():
    now = utcnow()
    assert tracking.follow_link is not None
    from core.tracking._clicks import is_preview_fetch

    assert is_preview_fetch(BROWSER, now - timedelta(seconds=3), now)
    assert is_preview_fetch(BROWSER, None, now)  # not even sent yet
    assert is_preview_fetch("facebookexternalhit/1.1", now - timedelta(hours=1), now)
    assert is_preview_fetch(None, now - timedelta(hours=1), now)
    assert not is_preview_fetch(BROWSER, now - timedelta(minutes=5), now)


@pytest.mark.parametrize(
    ("agent", "sent_ago", "counted"),
    [
        (BROWSER, timedelta(minutes=5), True),
        (BROWSER, timedelta(seconds=3), False),  # the send's own preview
        (BROWSER, None, False),  # not even sent yet
        ("facebookexternalhit/1.1", timedelta(hours=1), False),
        (None, timedelta(hours=1), False),
    ],
)
def test_the_database_records_a_fetch_as_the_preview_rule_says(
    session, account, agent, sent_ago, counted
):
    now = utcnow()
    campaign = make_campaign(session, account, track_links=True)
    recipient = make_recipient(session, campaign, "sent", sent_at=sent_ago and now - sent_ago)
    link = TrackedLink(code=links.new_code(), campaign_id=campaign.id, recipient_id=recipient.id,
                       url="https://loja.example/promo")  # fmt: skip
    session.add(link)
    session.commit()

    followed = tracking.follow_link(session, link.code, agent, now)
    session.commit()
    assert followed == tracking.Followed("https://loja.example/promo", counted=counted)
    session.refresh(link)
    session.refresh(recipient)
    assert (link.clicks, link.previews) == ((1, 0) if counted else (0, 1))
    assert (
        link.first_clicked_at
        == link.last_clicked_at
        == recipient.clicked_at
        == (now if counted else None)
    )


def test_two_clicks_of_a_link_at_once_both_count_and_the_first_click_is_set_once(pg_engine):
    """Both clicks start while a third transaction holds the link's row, so each reads the row
    and the recipient before the other wrote them; neither may lose the other's click."""
    with Session(pg_engine, expire_on_commit=False) as session:
        campaign = make_campaign(session, make_account(session, "Race"), track_links=True)
        recipient = make_recipient(session, campaign, "sent", sent_at=utcnow() - timedelta(hours=1))
        link = TrackedLink(code=links.new_code(), campaign_id=campaign.id,
                           recipient_id=recipient.id, url="https://loja.example/promo")  # fmt: skip
        session.add(link)
        session.commit()
    tag = f"click-race-{link.code}"
    clickers = make_engine(
        pg_engine.url.render_as_string(hide_password=False),
        connect_args={"application_name": tag},
    )
    times = [utcnow() + timedelta(minutes=1), utcnow() + timedelta(minutes=2)]
    followed: list[tracking.Followed | None] = []
    with Session(pg_engine) as blocker:
        blocker.execute(select(TrackedLink.id).where(TrackedLink.id == link.id).with_for_update())
        threads = [
            threading.Thread(
                target=lambda at=at: followed.append(
                    tracking.follow_link(clickers, link.code, BROWSER, at)
                )
            )
            for at in times
        ]
        for thread in threads:
            thread.start()
        _wait_until_waiting_on_a_lock(pg_engine, tag, count=2)
        blocker.commit()
        for thread in threads:
            thread.join(60)
    clickers.dispose()

    assert [(one.url, one.counted) for one in followed] == [
        ("https://loja.example/promo", True)
    ] * 2
    with Session(pg_engine) as session:
        row = session.get(TrackedLink, link.id)
        clicked_at = session.get(CampaignRecipient, recipient.id).clicked_at
    assert (row.clicks, row.previews) == (2, 0)
    assert {row.first_clicked_at, row.last_clicked_at} == set(times)
    assert clicked_at == row.first_clicked_at  # the first click's, not overwritten by the second


def _wait_until_waiting_on_a_lock(engine: Engine, application_name: str, count: int) -> None:
    query = sql(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE application_name = :name AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        # A transaction of its own each time: pg_stat_activity stays as first read within one.
        with engine.connect() as connection:
            if connection.scalar(query, {"name": application_name}) == count:
                return
        time.sleep(0.05)
    pytest.fail(f"the {count} clicks never both waited for the link's row")


# -- the pages ----------------------------------------------------------------------------------


def _page(name: str, actor, **query: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "views" / name), default_timeout=30)
    at.session_state["actor"] = actor
    for key, value in query.items():
        at.query_params[key] = value
    return at


def _by_label(widgets, label: str):
    return next(widget for widget in widgets if widget.label == label)


def test_the_editor_turns_tracking_on_and_says_why_it_cannot_without_a_public_address(
    session, account, manager, monkeypatch
):
    make_contact(session, account, phone="+5511987650001", name="Ana", labels=["vip"])
    session.commit()
    at = _page("campaign_edit.py", manager).run()
    _by_label(at.text_input, "Title").input("Links")
    _by_label(at.text_area, "Message").input("Veja https://loja.example/promo")
    _by_label(at.multiselect, "With labels").select("vip")
    _by_label(at.checkbox, "Track link clicks").check()
    _by_label(at.button, "Save draft").click().run()
    assert not at.exception
    assert any("PUBLIC_API_URL" in error.value for error in at.error)
    assert session.scalar(select(Campaign.id)) is None
    session.rollback()  # the read must not hold SQLite's write lock while the page saves

    monkeypatch.setenv("PUBLIC_API_URL", PUBLIC)
    reset_settings_cache()
    _by_label(at.button, "Save draft").click().run()
    assert not at.exception
    session.expire_all()
    assert session.scalars(select(Campaign.track_links)).one() is True
    reset_settings_cache()


def test_the_campaign_page_shows_who_clicked_which_link(
    session, account, admin, fake_evolution, dispatcher, public_url
):
    campaign = _start_and_send(
        session, account, admin, fake_evolution, dispatcher, ["+5511987650001", "+5511987650002"]
    )
    later = utcnow() + timedelta(minutes=5)
    code = session.scalars(
        select(TrackedLink.code).where(TrackedLink.url.like("%cat")).order_by(TrackedLink.id)
    ).first()
    assert tracking.follow_link(session, code, BROWSER, later).counted
    session.commit()
    at = _page("campaign_detail.py", admin, id=str(campaign.id)).run()
    assert not at.exception
    assert _by_label(at.metric, "Recipients who clicked").value == "1 (50%)"
    [table] = [frame.value for frame in at.dataframe if "Link" in frame.value.columns]
    assert list(table["Link"]) == ["https://loja.example/cat", "https://loja.example/promo?c=1"]
    assert list(table["Clicked by"]) == [1, 0] and list(table["Sent to"]) == [2, 2]


def test_an_unknown_code_is_404_and_no_code_reaches_the_access_log(client, caplog):
    caplog.set_level("INFO", logger="api.access")
    answer = client.get("/r/Zm9vYmFyYmF6cXV4cXV1", follow_redirects=False)
    assert answer.status_code == 404 and answer.json() == {"error": "no such link"}
    logged = [record.getMessage() for record in caplog.records if record.name == "api.access"]
    assert logged and all("Zm9vYmFy" not in line and "path=/r/…" in line for line in logged)
