"""Click statistics: clicks over time in the account's local hours and days, the period's click
rate, the top links and the series by API, clicks per recipient in the export, and the pages.

Clicks are recorded the way the redirect records them (`tracking.follow_link`), at chosen times."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import tracking
from core.base import NotFound
from core.campaigns import _links as links
from core.models import Campaign, Role, TrackedLink
from tests.builders import make_account, make_actor, make_api_token
from tests.stats_builders import make_campaign, make_recipient

ROOT = Path(__file__).resolve().parent.parent
BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Safari/604.1"
SENT = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)  # 09:00 in São Paulo (UTC-3, no DST)


def tracking_campaign(session, account, **fields) -> Campaign:
    fields.setdefault("started_at", SENT - timedelta(minutes=5))
    return make_campaign(session, account, title="Links", track_links=True, **fields)


def sent_with_links(session, campaign, *urls: str, sent_at: datetime = SENT) -> list[str]:
    """A recipient sent `urls` as short links; their codes, in order."""
    recipient = make_recipient(session, campaign, "delivered", sent_at=sent_at)
    codes = [links.new_code() for _ in urls]
    session.add_all(
        TrackedLink(code=code, campaign_id=campaign.id, recipient_id=recipient.id, url=url)
        for code, url in zip(codes, urls, strict=True)
    )
    session.flush()
    return codes


def click(session, code: str, *at: datetime, agent: str = BROWSER) -> None:
    for moment in at:
        tracking.follow_link(session, code, agent, moment)


def at_utc(hour: int, minute: int = 0, day: int = 27) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def points(series: tracking.ClickSeries) -> list[tuple[str, int, int]]:
    return [(p.start.strftime("%Y-%m-%d %H:%M"), p.people, p.clicks) for p in series.points]


# -- clicks over time ----------------------------------------------------------------------------


def test_people_and_clicks_fall_in_the_local_hours_they_happened(session, account, admin):
    campaign = tracking_campaign(session, account)
    ana_promo, ana_catalogue = sent_with_links(
        session, campaign, "https://x.example/promo", "https://x.example/cat"
    )
    [bia_promo] = sent_with_links(session, campaign, "https://x.example/promo")
    sent_with_links(session, campaign, "https://x.example/promo")  # never clicks
    click(session, ana_promo, at_utc(13, 10), at_utc(13, 50))
    click(session, ana_catalogue, at_utc(14, 20))
    click(session, bia_promo, at_utc(14, 5))
    click(session, bia_promo, at_utc(13, 0), agent="WhatsApp/2.24.1 A")  # a preview: not counted
    session.commit()

    series = tracking.campaign_clicks_over_time(session, admin, campaign.id)

    assert series.bucket == "hour" and str(series.timezone) == "America/Sao_Paulo"
    # 13:xx UTC is 10:xx in São Paulo: Ana's first click and both of her promo clicks.
    assert points(series) == [("2026-11-27 10:00", 1, 2), ("2026-11-27 11:00", 1, 2)]
    assert (series.people, series.clicks, series.unplaced) == (2, 4, 0)


def test_a_half_hour_zone_gets_its_own_local_hours(session, admin, account):
    account.timezone = "Asia/Kolkata"  # UTC+5:30
    campaign = tracking_campaign(session, account)
    [code] = sent_with_links(session, campaign, "https://x.example/promo")
    click(session, code, at_utc(12, 20), at_utc(12, 40))  # 17:50 and 18:10 local
    session.commit()

    series = tracking.campaign_clicks_over_time(session, admin, campaign.id)

    assert points(series) == [("2026-11-27 17:00", 1, 1), ("2026-11-27 18:00", 0, 1)]


def test_repeat_clicks_between_a_links_first_and_last_are_counted_but_not_placed(
    session, account, admin
):
    campaign = tracking_campaign(session, account)
    [code] = sent_with_links(session, campaign, "https://x.example/promo")
    click(session, code, at_utc(13), at_utc(13, 30), at_utc(14), at_utc(15), at_utc(16, 59))
    session.commit()

    series = tracking.campaign_clicks_over_time(session, admin, campaign.id)

    # Only the first (10:00 local) and the last (13:59) are known in time.
    assert points(series) == [("2026-11-27 10:00", 1, 1), ("2026-11-27 13:00", 0, 1)]
    assert (series.people, series.clicks, series.unplaced) == (1, 5, 3)


def test_clicks_over_many_days_are_drawn_per_local_day(session, account, admin):
    campaign = tracking_campaign(session, account)
    [early] = sent_with_links(session, campaign, "https://x.example/promo")
    [late] = sent_with_links(session, campaign, "https://x.example/promo")
    click(session, early, at_utc(2, 0, day=28))  # 23:00 on the 27th in São Paulo
    click(session, late, at_utc(15, 0, day=27), datetime(2026, 12, 3, 12, tzinfo=UTC))
    session.commit()

    series = tracking.campaign_clicks_over_time(session, admin, campaign.id)

    assert series.bucket == "day"
    assert points(series) == [("2026-11-27 00:00", 2, 2), ("2026-12-03 00:00", 0, 1)]


def test_a_campaign_without_clicks_has_an_empty_series_and_another_accounts_is_not_found(
    session, account, admin
):
    campaign = tracking_campaign(session, account)
    sent_with_links(session, campaign, "https://x.example/promo")
    other = make_campaign(session, make_account(session, "Other"), track_links=True)
    session.commit()

    series = tracking.campaign_clicks_over_time(session, admin, campaign.id)
    assert (series.points, series.people, series.clicks) == ([], 0, 0)
    with pytest.raises(NotFound):
        tracking.campaign_clicks_over_time(session, admin, other.id)


# -- the dashboard's period ---------------------------------------------------------------------


def test_the_period_click_rate_counts_only_campaigns_that_track_links(session, account, viewer):
    tracked = tracking_campaign(session, account)
    for index in range(4):
        [code] = sent_with_links(session, tracked, "https://x.example/promo")
        if index == 0:
            click(session, code, at_utc(13))
    plain = make_campaign(session, account, started_at=SENT)
    for _ in range(6):
        make_recipient(session, plain, "read", sent_at=SENT)
    older = tracking_campaign(session, account)
    sent_with_links(session, older, "https://x.example/promo", sent_at=SENT - timedelta(days=9))
    stranger = tracking_campaign(session, make_account(session, "Other"))
    click(session, sent_with_links(session, stranger, "https://x.example/p")[0], at_utc(13))
    session.commit()

    rate = tracking.period_click_rate(
        session, viewer, SENT - timedelta(days=7), SENT + timedelta(days=1)
    )

    assert (rate.sent, rate.clicked, rate.rate) == (4, 1, 0.25)
    assert (
        tracking.period_click_rate(
            session, viewer, SENT + timedelta(days=1), SENT + timedelta(days=2)
        ).rate
        is None
    )


def test_the_periods_clicks_are_those_known_to_lie_in_it(session, account, viewer):
    campaign = tracking_campaign(session, account)
    [straddling] = sent_with_links(session, campaign, "https://x.example/promo")
    [inside] = sent_with_links(session, campaign, "https://x.example/promo")
    start, end = at_utc(12, day=28), at_utc(12, day=29)
    click(session, straddling, at_utc(13, day=27), at_utc(13, day=28), at_utc(14, day=28))
    click(session, inside, at_utc(13, day=28), at_utc(13, 20, day=28), at_utc(15, day=28))
    session.commit()

    series = tracking.period_clicks_over_time(session, viewer, start, end)

    # The straddling link: its first click and its person are the day before; its middle click
    # may be either side, so it is left out. The inside link: all three.
    assert series.bucket == "hour"
    assert points(series) == [
        ("2026-11-28 10:00", 1, 1),
        ("2026-11-28 11:00", 0, 1),
        ("2026-11-28 12:00", 0, 1),
    ]
    assert (series.people, series.clicks, series.unplaced) == (1, 4, 1)
    week = tracking.period_clicks_over_time(session, viewer, at_utc(0, day=22), end)
    assert week.bucket == "day" and (week.people, week.clicks) == (2, 6)


# -- the API -------------------------------------------------------------------------------------


def _links_url(account_id: int, campaign_id: int | str) -> str:
    return f"/api/v1/accounts/{account_id}/whatsapp_api_campaigns/{campaign_id}/links"


def test_the_api_gives_the_top_links_and_the_clicks_over_time(client, session, account, viewer):
    campaign = tracking_campaign(session, account)
    promo, catalogue = sent_with_links(
        session, campaign, "https://x.example/promo", "https://x.example/cat"
    )
    [other_promo] = sent_with_links(session, campaign, "https://x.example/promo")
    click(session, catalogue, at_utc(13), at_utc(13, 5), at_utc(13, 9))
    click(session, other_promo, at_utc(14))
    click(session, promo, SENT + timedelta(seconds=2))  # the send's own preview
    session.commit()
    headers = {"Authorization": f"Bearer {make_api_token(session, viewer)}"}
    session.commit()

    answer = client.get(_links_url(account.id, campaign.id), headers=headers)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["track_links"], body["clicked"], body["clicks"]) == (True, 2, 4)
    assert body["links"] == [
        {
            "url": "https://x.example/cat",
            "recipients": 1,
            "clicked_by": 1,
            "clicks": 3,
            "previews": 0,
        },
        {
            "url": "https://x.example/promo",
            "recipients": 2,
            "clicked_by": 1,
            "clicks": 1,
            "previews": 1,
        },
    ]
    over_time = body["over_time"]
    assert over_time["bucket"] == "hour" and over_time["timezone"] == "America/Sao_Paulo"
    assert over_time["points"] == [
        {"start": "2026-11-27T10:00:00-03:00", "people": 1, "clicks": 2},
        {"start": "2026-11-27T11:00:00-03:00", "people": 1, "clicks": 1},
    ]
    assert over_time["unplaced_clicks"] == 1
    limited = client.get(_links_url(account.id, campaign.id), params={"limit": 1}, headers=headers)
    assert [link["url"] for link in limited.json()["links"]] == ["https://x.example/cat"]


def test_the_links_api_keeps_accounts_apart_and_names_bad_input(client, session, account, admin):
    other_account = make_account(session, "Other")
    theirs = tracking_campaign(session, other_account)
    plain = make_campaign(session, account)
    headers = {"Authorization": f"Bearer {make_api_token(session, admin)}"}
    outsider = make_actor(session, other_account, Role.VIEWER, "ze")
    outsider_headers = {"Authorization": f"Bearer {make_api_token(session, outsider)}"}
    session.commit()

    assert client.get(_links_url(account.id, theirs.id), headers=headers).status_code == 404
    assert client.get(_links_url(other_account.id, theirs.id), headers=headers).status_code in (
        403,
        404,
    )
    assert client.get(_links_url(account.id, plain.id), headers=outsider_headers).status_code in (
        403,
        404,
    )
    assert client.get(_links_url(account.id, plain.id)).status_code == 401
    empty = client.get(_links_url(account.id, plain.id), headers=headers).json()
    assert (empty["track_links"], empty["links"], empty["over_time"]["points"]) == (False, [], [])
    for bad, field in [("abc", "campaign_id"), ("0", "campaign_id")]:
        answer = client.get(_links_url(account.id, bad), headers=headers)
        assert answer.status_code == 422 and any(
            field in e["field"] for e in answer.json()["errors"]
        )
    answer = client.get(_links_url(account.id, plain.id), params={"limit": 0}, headers=headers)
    assert answer.status_code == 422 and any("limit" in e["field"] for e in answer.json()["errors"])


# -- the export ----------------------------------------------------------------------------------


def test_the_export_has_each_recipients_first_click_and_number_of_clicks(session, account, admin):
    campaign = tracking_campaign(session, account)
    promo, catalogue = sent_with_links(
        session, campaign, "https://x.example/promo", "https://x.example/cat"
    )
    sent_with_links(session, campaign, "https://x.example/promo")
    click(session, promo, at_utc(13), at_utc(14))
    click(session, catalogue, at_utc(13, 30))
    click(session, catalogue, at_utc(13, 31), agent="facebookexternalhit/1.1")
    session.commit()

    rows = [dict(zip(tracking.EXPORT_HEADERS, row, strict=True))
            for row in tracking.recipient_export_rows(session, admin, campaign.id)]  # fmt: skip

    assert [(row["clicked_at"], row["clicks"]) for row in rows] == [
        (datetime(2026, 11, 27, 10, 0), 3),  # local time, as the export's other columns
        (None, 0),
    ]


# -- the pages -----------------------------------------------------------------------------------


def _page(name: str, actor, **query: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "views" / name), default_timeout=30)
    at.session_state["actor"] = actor
    for key, value in query.items():
        at.query_params[key] = value
    return at


def _chart_titles(at: AppTest) -> list[str]:
    return [
        json.loads(chart.proto.spec)["layout"]["title"]["text"] for chart in at.get("plotly_chart")
    ]


def _recent(session, account):
    """A tracking campaign sent an hour ago, clicked twice by one of its two recipients."""
    sent = datetime.now(UTC) - timedelta(hours=1)
    campaign = tracking_campaign(session, account, started_at=sent)
    [code] = sent_with_links(session, campaign, "https://x.example/promo", sent_at=sent)
    sent_with_links(session, campaign, "https://x.example/promo", sent_at=sent)
    click(session, code, sent + timedelta(minutes=10), sent + timedelta(minutes=20))
    session.commit()
    return campaign


def test_the_campaign_page_draws_the_clicks_over_time_and_says_what_is_counted(
    session, account, viewer
):
    campaign = _recent(session, account)

    at = _page("campaign_detail.py", viewer, id=str(campaign.id)).run()

    assert not at.exception, at.exception
    assert {m.label: m.value for m in at.metric}["Clicks"] == "2"
    assert "Clicks per hour" in _chart_titles(at)
    assert any("for the first time" in caption.value for caption in at.caption)


def test_the_dashboard_shows_the_click_rate_and_chart_only_when_links_are_tracked(
    session, account, viewer
):
    plain = make_campaign(session, account, started_at=datetime.now(UTC) - timedelta(hours=2))
    make_recipient(session, plain, "read", sent_at=datetime.now(UTC) - timedelta(hours=2))
    session.commit()
    at = _page("dashboard.py", viewer).run()
    assert not at.exception, at.exception
    assert "Click rate" not in {m.label for m in at.metric}
    assert not any(title.startswith("Clicks per") for title in _chart_titles(at))

    _recent(session, account)
    at.run()
    assert not at.exception, at.exception
    assert {m.label: m.value for m in at.metric}["Click rate"] == "50.0%"
    assert "Clicks per day" in _chart_titles(at)  # the last 7 days: per day
    at.radio[0].set_value(1).run()
    assert "Clicks per hour" in _chart_titles(at)
