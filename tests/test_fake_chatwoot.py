"""The fake Chatwoot itself, over raw HTTP: does it answer the way Chatwoot's source says?"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.fake_chatwoot import PAGE_SIZE, FakeAccount, FakeChatwoot, Fault, Received
from tests.fake_chatwoot import fake_chatwoot as fake_chatwoot  # noqa: F401  (fixture)


class Api:
    """Raw calls into one account with one token."""

    def __init__(self, fake: FakeChatwoot, account_id: int, token: str | None) -> None:
        self.base = f"{fake.base_url}/api/v1/accounts/{account_id}"
        self.root = fake.base_url
        self.headers = {} if token is None else {"api_access_token": token}
        self.http = httpx.Client(timeout=5.0)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(self.base + path, params=params, headers=self.headers)

    def post(self, path: str, body: Any, **params: Any) -> httpx.Response:
        return self.http.post(self.base + path, json=body, params=params, headers=self.headers)


@pytest.fixture
def acct(fake_chatwoot: FakeChatwoot) -> FakeAccount:
    return fake_chatwoot.add_account("Acme")


@pytest.fixture
def api(fake_chatwoot: FakeChatwoot, acct: FakeAccount) -> Iterator[Api]:
    client = Api(fake_chatwoot, acct.id, acct.token)
    yield client
    client.http.close()


def ids(response: httpx.Response) -> list[int]:
    return [c["id"] for c in response.json()["payload"]]


# -- authentication --------------------------------------------------------------------------


def test_auth_answers_like_chatwoot(fake_chatwoot: FakeChatwoot, acct: FakeAccount) -> None:
    other = fake_chatwoot.add_account("Other")
    cases = {
        None: (401, {"errors": ["You need to sign in or sign up before continuing."]}),
        "": (401, {"errors": ["You need to sign in or sign up before continuing."]}),
        "nope": (401, {"error": "Invalid Access Token"}),
        other.token: (401, {"error": "You are not authorized to access this account"}),
    }
    for token, (status, body) in cases.items():
        response = Api(fake_chatwoot, acct.id, token).get("/contacts")
        assert (response.status_code, response.json()) == (status, body), token

    missing = Api(fake_chatwoot, 999, acct.token).get("/contacts")
    assert (missing.status_code, missing.json()) == (404, {"error": "Resource could not be found"})
    wrong_and_missing = Api(fake_chatwoot, 999, "nope").get("/contacts")
    assert wrong_and_missing.json() == {"error": "Invalid Access Token"}  # token first


def test_bot_tokens_only_create_conversations_and_messages(
    fake_chatwoot: FakeChatwoot, acct: FakeAccount
) -> None:
    bot = Api(fake_chatwoot, acct.id, fake_chatwoot.add_bot(accounts=[acct.id]).token)
    contact = acct.add_contact("Ana", phone_number="+5511988887777")
    inbox = acct.add_inbox()

    refused = bot.get("/contacts")
    created = bot.post("/conversations", {"contact_id": contact.id, "inbox_id": inbox.id})
    message = bot.post(f"/conversations/{created.json()['id']}/messages", {"content": "hi"})

    assert refused.status_code == 401
    assert refused.json() == {"error": "Access to this endpoint is not authorized for bots"}
    assert created.status_code == 200 and message.status_code == 200


def test_account_and_profile_give_the_account_name(
    fake_chatwoot: FakeChatwoot, acct: FakeAccount, api: Api
) -> None:
    account = api.http.get(api.base, headers=api.headers)
    profile = api.http.get(f"{api.root}/api/v1/profile", headers=api.headers)
    elsewhere = api.http.get(f"{api.root}/api/v1/accounts/999", headers=api.headers)

    assert account.json()["name"] == "Acme" and account.json()["id"] == acct.id
    assert profile.json()["accounts"] == [
        {"id": acct.id, "name": "Acme", "status": "active", "role": "administrator"}
    ]
    assert profile.json()["access_token"] == acct.token  # why the client avoids it
    assert elsewhere.status_code == 404


# -- contact listings ------------------------------------------------------------------------


def test_index_pages_fifteen_and_echoes_the_page_param(acct: FakeAccount, api: Api) -> None:
    seeded = acct.seed_contacts(40)
    acct.add_contact("Only a name")

    first = api.get("/contacts", sort="created_at")
    third = api.get("/contacts", sort="created_at", page="3")
    beyond = api.get("/contacts", sort="created_at", page=9)

    assert first.json()["meta"] == {"count": 40, "current_page": 1}
    assert third.json()["meta"] == {"count": 40, "current_page": "3"}
    assert ids(first) == seeded[:PAGE_SIZE] and ids(third) == seeded[30:]
    assert ids(beyond) == []


def test_a_contact_as_chatwoot_renders_it(acct: FakeAccount, api: Api) -> None:
    inbox = acct.add_inbox("Evolution")
    contact = acct.add_contact(
        "Ana", phone_number="+5511988887777", email="ANA@x.com", identifier="crm-1",
        labels=["vip"], custom_attributes={"plan": "gold"}, additional_attributes={"city": "SP"},
        created_at=1_767_225_600.9, inbox_ids=[inbox.id],
    )  # fmt: skip

    listed = api.get("/contacts").json()["payload"][0]
    shown = api.get(f"/contacts/{contact.id}").json()["payload"]

    assert listed["email"] == "ana@x.com" and listed["created_at"] == 1_767_225_600
    assert "last_activity_at" not in listed  # absent while null
    assert "labels" not in listed  # labels live in /contacts/{id}/labels
    assert listed["custom_attributes"] == {"plan": "gold"}
    assert listed["additional_attributes"] == {"city": "SP"}
    assert listed["thumbnail"] == "" and listed["blocked"] is False
    assert [ci["inbox"]["id"] for ci in listed["contact_inboxes"]] == [inbox.id]
    assert (
        "contact_inboxes"
        not in api.get("/contacts", include_contact_inboxes="false").json()["payload"][0]
    )
    assert shown["id"] == contact.id and shown["contact_inboxes"]
    assert api.get(f"/contacts/{contact.id}/labels").json() == {"payload": ["vip"]}


def test_labels_filter_is_any_of_and_case_insensitive(acct: FakeAccount, api: Api) -> None:
    vip = acct.add_contact("A", phone_number="+5511900000001", labels=["VIP"]).id
    cold = acct.add_contact("B", phone_number="+5511900000002", labels=["cold"]).id
    acct.add_contact("C", phone_number="+5511900000003")

    both = api.http.get(
        api.base + "/contacts", params=[("labels[]", "vip"), ("labels[]", "Cold")],
        headers=api.headers,
    )  # fmt: skip

    assert ids(api.get("/contacts", **{"labels[]": "vip"})) == [vip]
    assert sorted(ids(both)) == sorted([vip, cold])


def test_sorts_and_the_order_of_an_unsorted_list(acct: FakeAccount, api: Api) -> None:
    a = acct.add_contact(
        "bruno", phone_number="+5511900000001", created_at=1.0, last_activity_at=30.0
    )
    b = acct.add_contact("Ana", phone_number="+5511900000002", created_at=2.0)
    c = acct.add_contact(
        "Carla", phone_number="+5511900000003", created_at=3.0, last_activity_at=10.0
    )

    assert ids(api.get("/contacts", sort="name")) == [b.id, a.id, c.id]
    assert ids(api.get("/contacts", sort="-created_at")) == [c.id, b.id, a.id]
    assert ids(api.get("/contacts", sort="-last_activity_at")) == [a.id, c.id, b.id]  # nulls last
    assert ids(api.get("/contacts")) == [a.id, b.id, c.id]

    acct.update_contact(a.id, name="Bruno")  # an edit: the row moves in heap order only

    assert ids(api.get("/contacts")) == [b.id, c.id, a.id]
    assert ids(api.get("/contacts", sort="created_at")) == [a.id, b.id, c.id]
    assert acct.contact(a.id).last_activity_at == 30.0


def test_search_needs_q_matches_unlisted_contacts_and_says_has_more(
    acct: FakeAccount, api: Api
) -> None:
    acct.seed_contacts(16, name=lambda i: f"Maria {i}")
    nameless = acct.add_contact("Maria sem contato")

    blank = api.get("/contacts/search", q=" ")
    first = api.get("/contacts/search", q="MARIA")
    second = api.get("/contacts/search", q="maria", page=2)

    assert blank.status_code == 422
    assert blank.json() == {"error": "Specify search string with parameter q"}
    assert first.json()["meta"] == {"count": 15, "current_page": 1, "has_more": True}
    assert second.json()["meta"] == {"count": 2, "current_page": "2", "has_more": False}
    assert nameless.id in ids(second)  # search is not limited to "resolved" contacts


# -- the filter API --------------------------------------------------------------------------


def cond(key: str, op: str, *values: Any, then: str | None = None) -> dict[str, Any]:
    return {
        "attribute_key": key,
        "filter_operator": op,
        "values": list(values),
        "query_operator": then,
    }


def test_filter_validates_like_chatwoot(api: Api) -> None:
    cases = [
        ([cond("country_code", "eq", "US")],
         "Invalid operator. The allowed operators for country_code are [equal_to,not_equal_to]."),
        ([cond("country_code", "equal_to")],
         "Invalid value. The values provided for country_code are invalid"),
        ([cond("updated_at", "is_greater_than", "2026-01-01")], "Invalid attribute key - [updated_at]."),
        ([cond("name", "equal_to", "a", then="XOR")], 'Query operator must be either "AND" or "OR".'),
    ]  # fmt: skip
    for payload, message in cases:
        response = api.post("/contacts/filter", {"payload": payload})
        assert response.status_code == 422
        assert response.json()["error"].startswith(message)


def test_filter_dates_compare_whole_utc_days(
    fake_chatwoot: FakeChatwoot, acct: FakeAccount, api: Api
) -> None:
    def at(text: str) -> float:
        return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()

    late_on_4th = acct.add_contact(
        "a", phone_number="+5511900000001", last_activity_at=at("2026-03-04T23:59:59")
    )
    early_on_5th = acct.add_contact(
        "b", phone_number="+5511900000002", last_activity_at=at("2026-03-05T00:00:00")
    )
    acct.add_contact("c", phone_number="+5511900000003")  # never active
    fake_chatwoot.clock = lambda: at("2026-03-10T12:00:00")

    after_4th = api.post(
        "/contacts/filter", {"payload": [cond("last_activity_at", "is_greater_than", "2026-03-04")]}
    )
    before_5th = api.post(
        "/contacts/filter", {"payload": [cond("last_activity_at", "is_less_than", "2026-03-05")]}
    )
    days_before = api.post(
        "/contacts/filter", {"payload": [cond("last_activity_at", "days_before", "5")]}
    )
    garbage = api.post(
        "/contacts/filter", {"payload": [cond("last_activity_at", "is_greater_than", "yesterday")]}
    )

    assert ids(after_4th) == [early_on_5th.id]
    assert after_4th.json()["meta"] == {"count": 1, "current_page": 1}
    assert ids(before_5th) == [late_on_4th.id]
    assert ids(days_before) == [late_on_4th.id]  # today (the 10th) minus 5: before the 5th
    assert garbage.status_code == 500  # PostgreSQL cannot cast it; Chatwoot does not rescue that


def test_filter_and_binds_tighter_than_or(acct: FakeAccount, api: Api) -> None:
    vip_sp = acct.add_contact(
        "a", phone_number="+5511900000001", labels=["vip"], additional_attributes={"city": "SP"}
    )
    acct.add_contact(
        "b", phone_number="+5511900000002", labels=["vip"], additional_attributes={"city": "RJ"}
    )
    ana = acct.add_contact("Ana", phone_number="+5511900000003")

    response = api.post("/contacts/filter", {"payload": [
        cond("labels", "equal_to", "VIP", then="AND"),
        cond("city", "equal_to", "sp", then="OR"),
        cond("name", "equal_to", "ANA"),
    ]})  # fmt: skip
    by_phone = api.post(
        "/contacts/filter", {"payload": [cond("phone_number", "equal_to", "5511900000003")]}
    )

    assert sorted(ids(response)) == sorted([vip_sp.id, ana.id])
    assert ids(by_phone) == [ana.id]  # Chatwoot adds the '+'


# -- writes ----------------------------------------------------------------------------------


def test_create_contact_validates_and_makes_the_contact_inbox(acct: FakeAccount, api: Api) -> None:
    api_inbox = acct.add_inbox("API")
    wa_inbox = acct.add_inbox("Cloud", "Channel::Whatsapp")

    made = api.post(
        "/contacts", {"name": "Ana", "phone_number": "+5511988887777", "inbox_id": api_inbox.id}
    )
    wa = api.post(
        "/contacts", {"name": "Bia", "phone_number": "+5511977776666", "inbox_id": wa_inbox.id}
    )
    taken = api.post("/contacts", {"name": "Ana 2", "phone_number": "+5511988887777"})
    not_e164 = api.post("/contacts", {"name": "Caio", "phone_number": "11988887777"})
    no_inbox = api.post(
        "/contacts", {"name": "Dora", "phone_number": "+5511966665555", "inbox_id": 999}
    )

    payload = made.json()["payload"]
    assert payload["contact"]["phone_number"] == "+5511988887777"
    assert payload["contact_inbox"]["inbox"]["id"] == api_inbox.id
    assert len(payload["contact_inbox"]["source_id"]) == 36  # a uuid for API inboxes
    assert wa.json()["payload"]["contact_inbox"]["source_id"] == "5511977776666"
    assert (taken.status_code, taken.json()) == (
        422, {"message": "Phone number has already been taken", "attributes": ["phone_number"]}
    )  # fmt: skip
    assert not_e164.status_code == 422 and "e164" in not_e164.json()["message"]
    assert no_inbox.status_code == 404
    assert len(acct.contacts()) == 2  # the failed ones left nothing behind


def test_conversations_and_messages(
    fake_chatwoot: FakeChatwoot, acct: FakeAccount, api: Api
) -> None:
    inbox = acct.add_inbox()
    contact = acct.add_contact("Ana", phone_number="+5511988887777")

    one = api.post("/conversations", {"contact_id": contact.id, "inbox_id": inbox.id}).json()
    two = api.post("/conversations", {"contact_id": contact.id, "inbox_id": inbox.id,
                                      "message": {"content": "first"}}).json()  # fmt: skip
    sent = api.post(
        f"/conversations/{one['id']}/messages", {"content": "hello", "message_type": "outgoing"}
    )
    bad = api.post(
        f"/conversations/{one['id']}/messages", {"content": "x", "message_type": "sideways"}
    )
    labels = api.post(f"/conversations/{one['id']}/labels", {"labels": ["a", "b"]})
    listed = api.get(f"/contacts/{contact.id}/conversations").json()["payload"]

    assert (one["id"], two["id"]) == (1, 2)  # display ids, per account
    assert one["meta"]["sender"]["id"] == contact.id and one["status"] == "open"
    assert "contact_inbox" not in one
    # an API inbox without source_id gives the contact a new identity each time
    assert len(acct.contact(contact.id).contact_inboxes) == 2
    assert sent.json()["message_type"] == 1 and sent.json()["content_type"] == "text"
    assert sent.json()["status"] == "sent"
    assert (bad.status_code, bad.json()) == (
        422,
        {"error": "'sideways' is not a valid message_type"},
    )
    assert labels.json() == {"payload": ["a", "b"]}
    assert [c["id"] for c in listed] == [one["id"], two["id"]]  # latest activity first
    assert acct.outgoing_counts() == {one["id"]: 1, two["id"]: 1}
    assert api.get("/conversations/77").status_code == 404


def test_an_incoming_message_moves_the_contacts_last_activity(
    fake_chatwoot: FakeChatwoot, acct: FakeAccount, api: Api
) -> None:
    fake_chatwoot.clock = lambda: 1_800_000_000.0
    conversation = acct.add_conversation(
        acct.add_contact("Ana", phone_number="+5511988887777").id, acct.add_inbox().id
    )

    api.post(f"/conversations/{conversation.id}/messages", {"content": "out"})
    assert acct.contact(conversation.contact_id).last_activity_at is None
    api.post(
        f"/conversations/{conversation.id}/messages", {"content": "in", "message_type": "incoming"}
    )
    assert acct.contact(conversation.contact_id).last_activity_at == 1_800_000_000.0


def test_a_single_conversation_inbox_reuses_the_conversation(acct: FakeAccount, api: Api) -> None:
    inbox = acct.add_inbox("WA", "Channel::Whatsapp", lock_to_single_conversation=True)
    contact = acct.add_contact("Ana", phone_number="+5511988887777")

    first = api.post("/conversations", {"contact_id": contact.id, "inbox_id": inbox.id}).json()
    second = api.post("/conversations", {"contact_id": contact.id, "inbox_id": inbox.id}).json()

    assert first["id"] == second["id"]


# -- seeding, changing, faults ---------------------------------------------------------------


def test_a_hundred_thousand_contacts_with_labels_and_attributes(
    acct: FakeAccount, api: Api
) -> None:
    acct.seed_contacts(
        100_000,
        labels=lambda i: ["vip"] if i % 10 == 0 else [],
        custom_attributes=lambda i: {"plan": "gold" if i % 2 else "free"},
        additional_attributes={"city": "São Paulo"},
    )

    everyone = api.get("/contacts", sort="created_at", page=6667)
    vip = api.get("/contacts", **{"labels[]": "vip"})

    assert everyone.json()["meta"]["count"] == 100_000 and len(ids(everyone)) == 10
    assert vip.json()["meta"]["count"] == 10_000
    assert everyone.json()["payload"][0]["additional_attributes"] == {"city": "São Paulo"}


def test_429_is_plain_text_before_auth_per_route_and_counted(
    fake_chatwoot: FakeChatwoot, acct: FakeAccount
) -> None:
    anonymous = Api(fake_chatwoot, acct.id, None)
    rule = fake_chatwoot.fail(Fault.TOO_MANY_REQUESTS, routes=["contacts#index"], times=2)

    first = anonymous.get("/contacts")
    other_route = anonymous.get("/inboxes")
    second = anonymous.get("/contacts")
    third = anonymous.get("/contacts")

    assert (first.status_code, first.text, first.headers["content-type"]) == (
        429,
        "Retry later\n",
        "text/plain",
    )
    assert "retry-after" not in first.headers
    assert other_route.status_code == 401 and second.status_code == 429 and third.status_code == 401
    assert rule.hits == 2
    assert [r.fault for r in fake_chatwoot.requests("contacts#index")] == ["429", "429", None]
    with pytest.raises(ValueError, match="unknown routes"):
        fake_chatwoot.fail(Fault.SLOW, routes=["contacts#list"])


def test_server_errors_drops_and_down_then_up(fake_chatwoot: FakeChatwoot, api: Api) -> None:
    fake_chatwoot.fail(Fault.SERVER_ERROR, times=1, status=503)
    fake_chatwoot.fail(Fault.DROP, times=1)

    assert api.get("/inboxes").status_code == 503
    with pytest.raises(httpx.RemoteProtocolError):
        api.get("/inboxes")
    assert api.get("/inboxes").status_code == 200

    port = fake_chatwoot.port
    fake_chatwoot.down()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    with pytest.raises(httpx.ConnectError):
        api.get("/inboxes")  # the kept-alive connection was cut too
    fake_chatwoot.up()
    assert fake_chatwoot.port == port and api.get("/inboxes").status_code == 200


def test_a_hook_changes_the_data_between_two_pages(
    fake_chatwoot: FakeChatwoot, acct: FakeAccount, api: Api
) -> None:
    seeded = acct.seed_contacts(30)
    seen: list[Received] = []

    def delete_first_before_page_two(request: Received) -> None:
        seen.append(request)
        if request.page == 2:
            acct.delete_contact(seeded[0])

    fake_chatwoot.add_hook(delete_first_before_page_two, routes=["contacts#index"])
    page1 = ids(api.get("/contacts", sort="created_at"))
    page2 = ids(api.get("/contacts", sort="created_at", page=2))

    assert page1 == seeded[:15] and page2 == seeded[16:]  # seeded[15] slipped into page 1
    assert [r.page for r in seen] == [1, 2]
    assert api.get(f"/contacts/{seeded[0]}").json() == {"error": "Resource could not be found"}
