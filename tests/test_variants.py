"""Campaign variants: assignment by weight, stable across re-freeze and retries, each variant's
own text, the fields' validation (core and API)."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from core import campaigns, tracking
from core.base import ValidationError
from core.campaigns import Plan
from core.campaigns._recipients import freeze_recipients, requeue_retryable
from core.models import Campaign, CampaignRecipient, RecipientStatus
from core.sending import Dispatcher
from tests.builders import make_api_token, make_contact
from tests.worker_harness import digits, fast_settings, make_instance, run_until_idle


def test_assignment_follows_the_weights_within_two_points():
    plan = Plan(weights=(1, 2, 7), holdout_share=0.0, test_share=None)
    counts = Counter(plan.assign(42, contact_id).variant for contact_id in range(10_000))
    shares = [counts[v] / 10_000 for v in range(3)]
    assert shares == pytest.approx([0.1, 0.2, 0.7], abs=0.02)


def test_assignment_is_the_same_for_the_same_campaign_and_contact_only():
    plan = Plan(weights=(1, 1), holdout_share=0.0, test_share=None)
    first = [plan.assign(7, c).variant for c in range(2_000)]
    assert first == [plan.assign(7, c).variant for c in range(2_000)]  # any process, any time
    other = [plan.assign(8, c).variant for c in range(2_000)]
    assert first != other  # another campaign splits its audience afresh


def test_the_holdout_and_the_test_share_do_not_lean_on_the_variants():
    plan = Plan(weights=(1, 1), holdout_share=0.2, test_share=0.3)
    assigned = [plan.assign(3, c) for c in range(10_000)]
    held = sum(a.held_out for a in assigned)
    waiting = sum(a.awaiting_winner for a in assigned)
    tested = [a.variant for a in assigned if a.variant is not None]
    assert held / 10_000 == pytest.approx(0.2, abs=0.02)
    assert len(tested) / (10_000 - held) == pytest.approx(0.3, abs=0.02)
    assert waiting + len(tested) + held == 10_000
    assert Counter(tested)[0] / len(tested) == pytest.approx(0.5, abs=0.03)


@pytest.fixture
def audience(session, account):
    contacts = [
        make_contact(session, account, name=f"Ana {i}", labels=["all"], city="Rio")
        for i in range(400)
    ]
    session.commit()
    return contacts


VARIANTS = [
    {"message": "A: hi {{first_name}} from {{city}}", "weight": 1},
    {"message": "B: {Hello|Hey} {{first_name}}", "weight": 3},
]


def _variant_data(**overrides):
    return {
        "title": "Split",
        "audience": {"labels": ["all"]},
        "variants": VARIANTS,
        **overrides,
    }


def _rows(session: Session, campaign_id: int) -> list[CampaignRecipient]:
    rows = list(
        session.scalars(
            select(CampaignRecipient)
            .where(CampaignRecipient.campaign_id == campaign_id)
            .order_by(CampaignRecipient.contact_id)
            .execution_options(populate_existing=True)
        )
    )
    session.commit()
    return rows


def test_each_recipient_gets_its_variants_text_and_the_same_variant_when_frozen_again(
    session, manager, number, audience
):
    campaign = campaigns.create(session, manager, _variant_data())
    assert campaign.message == VARIANTS[0]["message"]  # the first variant is the message
    campaigns.trigger(session, manager, campaign.id)
    session.commit()
    rows = _rows(session, campaign.id)
    by_variant = Counter(r.variant for r in rows)
    assert set(by_variant) == {0, 1}
    assert by_variant[1] / len(rows) == pytest.approx(0.75, abs=0.08)
    for row in rows:
        first = row.name.split()[0]
        if row.variant == 0:
            assert row.rendered_text == f"A: hi {first} from Rio"
        else:
            assert row.rendered_text in (f"B: Hello {first}", f"B: Hey {first}")
    before = {r.contact_id: (r.variant, r.rendered_text) for r in rows}
    exported = list(tracking.recipient_export_rows(session, manager, campaign.id))
    session.commit()
    assert sorted(row[-1] for row in exported) == sorted("AB"[r.variant] for r in rows)

    # Freezing again (a restart that froze the audience anew) gives every contact the same.
    session.execute(delete(CampaignRecipient).where(CampaignRecipient.campaign_id == campaign.id))
    freeze_recipients(session, session.get(Campaign, campaign.id))
    session.commit()
    assert {r.contact_id: (r.variant, r.rendered_text) for r in _rows(session, campaign.id)} == (
        before
    )

    # A retry re-queues failed rows with their variant and text untouched.
    session.execute(
        update(CampaignRecipient)
        .where(CampaignRecipient.campaign_id == campaign.id)
        .values(status=RecipientStatus.FAILED)
    )
    requeue_retryable(session, campaign.id)
    session.commit()
    after = _rows(session, campaign.id)
    assert {r.status for r in after} == {"pending"}
    assert {r.contact_id: (r.variant, r.rendered_text) for r in after} == before


def test_a_campaign_without_variants_behaves_as_before(session, manager, number, audience):
    campaign = campaigns.create(
        session, manager, {"title": "One", "message": "Hi", "audience": {"labels": ["all"]}}
    )
    campaigns.trigger(session, manager, campaign.id)
    session.commit()
    rows = _rows(session, campaign.id)
    assert {(r.variant, r.status, r.rendered_text) for r in rows} == {(None, "pending", "Hi")}


@pytest.mark.parametrize(
    ("variants", "field"),
    [
        ([{"message": "only one"}], "variants"),
        ([{"message": f"m{i}"} for i in range(6)], "variants"),
        ([{"message": "a", "weight": 0}, {"message": "b"}], "variants.0.weight"),
        ([{"message": "a", "weight": 1.5}, {"message": "b"}], "variants.0.weight"),
        ([{"message": "a"}, {"message": ""}], "variants.1.message"),
        ([{"message": "a"}, {"message": "{{nope}}"}], "variants.1.message"),
        ([{"message": "a"}, {"message": "b", "colour": 1}], "variants.1.colour"),
        ("not a list", "variants"),
    ],
)
def test_bad_variants_are_refused_naming_the_field(session, manager, number, variants, field):
    with pytest.raises(ValidationError) as error:
        campaigns.create(session, manager, _variant_data(variants=variants))
    assert field in {item["field"] for item in error.value.errors}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"holdout_share": 0.6}, "holdout_share"),
        ({"holdout_share": -0.1}, "holdout_share"),
        ({"ab_test": {"test_share": 1, "decide_after_minutes": 60, "metric": "read"}}, "ab_test"),
        ({"ab_test": {"test_share": 0.2, "decide_after_minutes": 0, "metric": "read"}}, "ab_test"),
        ({"ab_test": {"test_share": 0.2, "decide_after_minutes": 5, "metric": "mood"}}, "ab_test"),
        ({"ab_test": {"test_share": 0.2, "decide_after_minutes": 5, "metric": "click"}}, "ab_test"),
        (
            {
                "variants": None,
                "message": "x",
                "ab_test": {"test_share": 0.2, "decide_after_minutes": 5, "metric": "read"},
            },
            "ab_test",
        ),
    ],
)
def test_bad_shares_and_tests_are_refused_naming_the_field(
    session, manager, number, changes, field
):
    with pytest.raises(ValidationError) as error:
        campaigns.create(session, manager, _variant_data(**changes))
    fields = {item["field"].split(".")[0] for item in error.value.errors}
    assert field in fields


def test_the_api_takes_shows_and_refuses_variants(
    client, session, account, manager, number, audience
):
    headers = {"Authorization": f"Bearer {make_api_token(session, manager)}"}
    session.commit()
    base = f"/api/v1/accounts/{account.id}/whatsapp_api_campaigns"
    body = _variant_data(
        holdout_share=0.1,
        ab_test={"test_share": 0.2, "decide_after_minutes": 60, "metric": "reply"},
    )
    created = client.post(base, json=body, headers=headers)
    assert created.status_code == 201, created.text
    shown = created.json()
    assert [v["weight"] for v in shown["variants"]] == [1, 3]
    assert shown["ab_test"] == {"test_share": 0.2, "decide_after_minutes": 60, "metric": "reply"}
    assert shown["holdout_share"] == 0.1 and shown["ab_winner"] is None

    bad = client.post(
        base,
        json=_variant_data(variants=[{"message": "a", "weight": -1}, {"message": "b"}]),
        headers=headers,
    )
    assert bad.status_code == 422
    assert "variants.0.weight" in bad.text

    for wrong, field in [
        ({"holdout_share": 0.9}, "holdout_share"),
        ({"ab_test": {"test_share": 0.2, "decide_after_minutes": 5, "metric": "click"}}, "ab_test"),
        ({"ab_test": {"test_share": 0.2, "decide_after_minutes": 5, "colour": 1}}, "colour"),
        ({"variants": [{"message": "a"}] * 6}, "variants"),
    ]:
        answer = client.post(base, json=_variant_data(**wrong), headers=headers)
        assert answer.status_code == 422, answer.text
        assert field in answer.text

    campaign_id = shown["id"]
    assert client.post(f"{base}/{campaign_id}/trigger", headers=headers).status_code == 200
    stats = client.get(f"{base}/{campaign_id}/variants", headers=headers).json()
    assert [v["label"] for v in stats["variants"]] == ["A", "B", ""]  # and the holdout group
    assert stats["ab_test"]["stage"] == "testing" and stats["ab_test"]["winner"] is None
    recipients = client.get(f"{base}/{campaign_id}/recipients?per_page=100", headers=headers)
    statuses = {(r["status"], r["variant"] is None) for r in recipients.json()["payload"]}
    assert statuses <= {("pending", False), ("held_out", True), ("awaiting_winner", True)}
    bad_pick = client.post(f"{base}/{campaign_id}/ab_winner", json={"variant": 9}, headers=headers)
    assert bad_pick.status_code == 422 and "variant" in bad_pick.text
    picked = client.post(f"{base}/{campaign_id}/ab_winner", json={"variant": 1}, headers=headers)
    assert picked.status_code == 200 and picked.json()["ab_winner"] == 1
    again = client.post(f"{base}/{campaign_id}/ab_winner", json={"variant": 0}, headers=headers)
    assert again.status_code == 409


def test_each_variant_is_sent_with_its_own_attachment_over_http(
    engine, session, account, manager, fake_evolution
):
    """Version A is text only, B an image with its caption: what the WhatsApp side receives."""
    instance = make_instance(session, account, fake_evolution, rate=6000)
    for i in range(60):
        make_contact(session, account, name=f"Di {i}", labels=["media"])
    session.commit()
    image = {"type": "image", "url": "https://example.com/promo.png"}
    campaign = campaigns.create(
        session,
        manager,
        {
            "title": "Media",
            "audience": {"labels": ["media"]},
            "instance_ids": [instance.id],
            "variants": [{"message": "A text"}, {"message": "B caption", "multimedia": image}],
        },
    )
    campaigns.trigger(session, manager, campaign.id)
    session.commit()
    worker = Dispatcher(
        engine, fast_settings(lease_seconds=10**6), worker_id="m", rng=random.Random(3)
    )
    worker.maintain()
    run_until_idle(worker)
    worker.stop(timeout=5)
    variant_of = {digits(r.phone): r.variant for r in _rows(session, campaign.id)}
    sends = fake_evolution.sends()
    assert len(sends) == 60 and {variant_of[s.number] for s in sends} == {0, 1}
    for sent in sends:
        if variant_of[sent.number] == 0:
            assert (sent.route, sent.body["text"]) == ("sendText", "A text")
        else:
            assert sent.route == "sendMedia"
            assert (sent.body["media"], sent.body["caption"]) == (image["url"], "B caption")


def test_a_message_change_of_a_campaign_with_variants_goes_through_its_variants(
    session, manager, number, audience
):
    campaign = campaigns.create(session, manager, _variant_data())
    session.commit()
    with pytest.raises(ValidationError) as error:
        campaigns.update(session, manager, campaign.id, {"message": "changed"})
    assert {e["field"] for e in error.value.errors} == {"message"}
    session.rollback()
    # The campaign's JSON sent back as it came is accepted; a new variant A changes the message.
    shown = campaigns.campaign_json(campaigns.get(session, manager, campaign.id))
    campaigns.update(session, manager, campaign.id, {**shown, "title": "Renamed"})
    changed = [{"message": "A2 {{first_name}}"}, VARIANTS[1]]
    saved = campaigns.update(session, manager, campaign.id, {"variants": changed})
    assert saved.message == "A2 {{first_name}}" and saved.title == "Renamed"
    # Variants removed: a single message again.
    single = campaigns.update(session, manager, campaign.id, {"variants": None, "message": "One"})
    assert (single.variants, single.message) == (None, "One")
