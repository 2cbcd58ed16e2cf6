"""The Chatwoot client against the fake Chatwoot over real HTTP."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from core.chatwoot import (
    MESSAGE_TYPES,
    ChatwootAuthError,
    ChatwootClient,
    ChatwootError,
    ChatwootNotFoundError,
    ChatwootRejectedError,
    phone_variants,
    to_e164,
)
from tests.fake_chatwoot import PAGE_SIZE, FakeAccount, FakeChatwoot, Fault, Received
from tests.fake_chatwoot import fake_chatwoot as fake_chatwoot  # noqa: F401  (fixture)


class Sleeps(list[float]):
    """Stands in for time.sleep: remembers the waits, waits for nothing."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class HalfwayRandom(random.Random):
    """Jitter always in the middle of its range, so the waits are known."""

    def random(self) -> float:
        return 0.5


def client_for(fake: FakeChatwoot, acct: FakeAccount, **kwargs: Any) -> ChatwootClient:
    kwargs.setdefault("timeout", 5.0)
    kwargs.setdefault("sleep", Sleeps())
    kwargs.setdefault("rng", HalfwayRandom())
    token = kwargs.pop("token", acct.token)
    account_id = kwargs.pop("account_id", acct.id)
    return ChatwootClient(fake.base_url, account_id, token, **kwargs)


@pytest.fixture
def acct(fake_chatwoot: FakeChatwoot) -> FakeAccount:
    return fake_chatwoot.add_account("Loja Exemplo")


@pytest.fixture
def client(fake_chatwoot: FakeChatwoot, acct: FakeAccount) -> Iterator[ChatwootClient]:
    with client_for(fake_chatwoot, acct) as c:
        yield c


# -- listings --------------------------------------------------------------------------------


def test_every_contact_is_read_once_across_many_pages_in_creation_order(
    fake_chatwoot: FakeChatwoot, acct: FakeAccount, client: ChatwootClient
) -> None:
    ids = acct.seed_contacts(200)  # 14 pages
    acct.add_contact("No way to reach me")  # not listed by Chatwoot: no phone, email, identifier

    seen = [c.id for c in client.iter_contacts()]

    assert seen == ids
    pages = fake_chatwoot.requests("contacts#index")
    assert [r.page for r in pages] == list(range(1, 15))
    assert {r.query["sort"][0] for r in pages} == {"created_at"}


def test_listing_is_lazy_one_request_per_page_consumed(
    fake_chatwoot: FakeChatwoot, acct: FakeAccount, client: ChatwootClient
) -> None:
    acct.seed_contacts(100)
    contacts = client.iter_contacts()

    first = [next(contacts) for _ in range(PAGE_SIZE + 1)]

    assert len(first) == PAGE_SIZE + 1
    assert [r.page for r in fake_chatwoot.requests("contacts#index")] == [1, 2]


def test_a_row_pushed_back_onto_the_next_page_is_yielded_once(
    fake_chatwoot: FakeChatwoot, acct: FakeAccount, client: ChatwootClient
) -> None:
    start = datetime(2026, 1, 10, tzinfo=UTC).timestamp()
    ids = acct.seed_contacts(50, last_activity_at=lambda i: start - i * 60)  # newest first
    moved = ids[-1]

    # Between page 1 and page 2 the last contact writes: it jumps to the front, every other
    # row moves back one, and page 2 starts with the row page 1 ended on.
    def contact_writes(request: Received) -> None:
        if request.page == 2:
            acct.record_activity(moved, at=start + 60)

    fake_chatwoot.add_hook(contact_writes, routes=["contacts#index"])

    seen = [c.id for c in client.iter_contacts(sort="-last_activity_at")]

    assert len(seen) == len(set(seen))  # the repeated row came once
    assert set(seen) == set(ids) - {moved}  # the moved row went to an already-read page ...
    assert client.get_contact(moved).id == moved  # ... which does not mean it is gone


def test_per_label_listing_and_contact_labels(
    fake_chatwoot: FakeChatwoot, acct: FakeAccount, client: ChatwootClient
) -> None:
    ids = acct.seed_contacts(
        90, labels=lambda i: ["vip"] if i % 4 == 0 else (["Cold"] if i % 5 == 0 else [])
    )

    vip = [c.id for c in client.iter_contacts_with_label("VIP")]
    cold = [c.id for c in client.iter_contacts(labels=["cold"])]

    assert vip == [cid for i, cid in enumerate(ids) if i % 4 == 0]
    assert cold == [cid for i, cid in enumerate(ids) if i % 4 and i % 5 == 0]
    assert fake_chatwoot.requests("contacts#index")[0].query["labels[]"] == ["VIP"]
    assert client.contact_labels(ids[0]) == ["vip"]
    assert client.contact_labels(ids[5]) == ["Cold"]
    assert client.contact_labels(ids[1]) == []


def test_search_follows_has_more(
    fake_chatwoot: FakeChatwoot, acct: FakeAccount, client: ChatwootClient
) -> None:
    ids = acct.seed_contacts(20, name=lambda i: f"Maria {i}")
    acct.seed_contacts(5, name=lambda i: f"João {i}")

    found = [c.id for c in client.search_contacts("maria")]

    assert sorted(found) == ids
    assert [r.page for r in fake_chatwoot.requests("contacts#search")] == [1, 2]


# -- changed since: the filter API -----------------------------------------------------------


def test_contacts_active_since_asks_from_the_day_before_and_keeps_only_the_exact_ones(
    fake_chatwoot: FakeChatwoot, acct: FakeAccount, client: ChatwootClient
) -> None:
    since = datetime(2026, 3, 5, 10, 0, tzinfo=UTC)
    at = since.timestamp()
    older, same_day_before, exactly, later, never = (
        acct.add_contact(name, phone_number=f"+55119000000{n}", last_activity_at=stamp).id
        for n, (name, stamp) in enumerate(
            [("older", at - 2 * 86400), ("earlier", at - 1), ("exact", at), ("later", at + 3600),
             ("never", None)]
        )
    )  # fmt: skip

    found = [c.id for c in client.iter_contacts_active_since(since)]

    assert found == [exactly, later]
    body = fake_chatwoot.requests("contacts#filter")[0].body
    assert body == {
        "payload": [
            {
                "attribute_key": "last_activity_at",
                "filter_operator": "is_greater_than",
                "values": ["2026-03-04"],  # the server compares whole days, strictly after
                "query_operator": None,
            }
        ]
    }
    assert {older, same_day_before, never}.isdisjoint(found)


def test_contacts_created_since_reads_all_pages_of_the_filter(
    fake_chatwoot: FakeChatwoot, acct: FakeAccount, client: ChatwootClient
) -> None:
    since = datetime(2026, 3, 5, tzinfo=UTC)
    acct.seed_contacts(10, created_at=lambda i: since.timestamp() - 86400 * 3 - i)
    new = acct.seed_contacts(40, created_at=lambda i: since.timestamp() + i)

    found = [c.id for c in client.iter_contacts_created_since(since)]

    assert found == new
    assert [r.page for r in fake_chatwoot.requests("contacts#filter")] == [1, 2, 3]


def test_since_must_be_timezone_aware(client: ChatwootClient) -> None:
    with pytest.raises(ValueError, match="timezone"):
        list(client.iter_contacts_active_since(datetime(2026, 1, 1)))


def test_find_contact_by_phone_is_exact_and_knows_the_brazilian_ninth_digit(
    fake_chatwoot: FakeChatwoot, acct: FakeAccount, client: ChatwootClient
) -> None:
    old_form = acct.add_contact("Ana", phone_number="+551188887777")  # arrived without the 9
    acct.add_contact("Bia", phone_number="+5511988887777123")  # contains it, is not it

    found = client.find_contact_by_phone("+55 (11) 98888-7777")

    assert found is not None and found.id == old_form.id
    assert client.find_contact_by_phone("+5511977776666") is None
    assert fake_chatwoot.requests("contacts#search") == []  # throttled harder; not used


def test_phone_helpers() -> None:
    assert to_e164("+55 (11) 99999-0000") == "+5511999990000"
    assert phone_variants("5511999990000") == ["+5511999990000", "+551199990000"]
    assert phone_variants("+551199990000") == ["+551199990000", "+5511999990000"]
    assert phone_variants("+14155550100") == ["+14155550100"]
    with pytest.raises(ValueError):
        to_e164("011 1234")


# -- contacts, conversations, messages -------------------------------------------------------


def test_create_contact_then_conversation_then_one_outgoing_message(
    fake_chatwoot: FakeChatwoot, acct: FakeAccount, client: ChatwootClient
) -> None:
    inbox = acct.add_inbox("WhatsApp (Evolution)")

    created = client.create_contact(
        name="Carla", phone_number="+55 11 98888-0000", inbox_id=inbox.id,
        custom_attributes={"origin": "campaign"},
    )  # fmt: skip
    conversation = client.find_or_create_conversation(created.contact.id, inbox.id)
    message = client.post_outgoing_message(conversation.id, "Olá Carla!")

    assert created.contact.phone_number == "+5511988880000"
    assert created.source_id == acct.contact(created.contact.id).contact_inboxes[0][1]
    assert conversation.status == "open" and conversation.inbox_id == inbox.id
    assert conversation.contact_id == created.contact.id
    assert message.outgoing and message.message_type == MESSAGE_TYPES["outgoing"] == 1
    assert message.conversation_id == conversation.id and message.content == "Olá Carla!"
    assert acct.outgoing_counts() == {conversation.id: 1}
    # the conversation reused the contact's identity in the inbox: no second one was made
    assert fake_chatwoot.requests("conversations#create")[0].body["source_id"] == created.source_id
    assert len(acct.contact(created.contact.id).contact_inboxes) == 1


def test_a_number_already_taken_is_rejected_with_chatwoots_words(
    acct: FakeAccount, client: ChatwootClient
) -> None:
    acct.add_contact("Old", phone_number="+5511988880000")

    with pytest.raises(ChatwootRejectedError) as caught:
        client.create_contact(name="New", phone_number="+5511988880000")

    assert caught.value.status == 422 and not caught.value.transient
    assert "Phone number has already been taken" in str(caught.value)


def test_find_or_create_contact_finds_before_it_creates(
    fake_chatwoot: FakeChatwoot, acct: FakeAccount, client: ChatwootClient
) -> None:
    existing = acct.add_contact("Ana", phone_number="+551188887777")

    again = client.find_or_create_contact("+5511988887777", name="Ana")
    new = client.find_or_create_contact("+5511911112222", name="Zeca")

    assert again.id == existing.id
    assert new.phone_number == "+5511911112222" and new.name == "Zeca"
    assert len(fake_chatwoot.requests("contacts#create")) == 1


def test_open_conversation_in_the_inbox_is_reused_others_are_not(
    fake_chatwoot: FakeChatwoot, acct: FakeAccount, client: ChatwootClient
) -> None:
    evolution, other = acct.add_inbox("Evolution"), acct.add_inbox("Site")
    contact = acct.add_contact("Ana", phone_number="+5511988887777")
    acct.add_conversation(contact.id, evolution.id, status="resolved")
    acct.add_conversation(contact.id, other.id, status="open")
    wanted = acct.add_conversation(contact.id, evolution.id, status="open")

    found = client.find_or_create_conversation(contact.id, evolution.id)
    acct.set_conversation_status(wanted.id, "resolved")
    fresh = client.find_or_create_conversation(contact.id, evolution.id)

    assert found.id == wanted.id
    assert fresh.id != wanted.id
    assert fresh.status == "open" and fresh.inbox_id == evolution.id
    assert len(fake_chatwoot.requests("conversations#create")) == 1


def test_a_campaign_mirror_leaves_exactly_one_outgoing_message_per_conversation(
    fake_chatwoot: FakeChatwoot, acct: FakeAccount, client: ChatwootClient
) -> None:
    inbox = acct.add_inbox("Evolution")
    acct.add_contact("Known", phone_number="+5511900000001", inbox_ids=[inbox.id])
    numbers = [f"+551190000000{n}" for n in range(1, 6)]

    for number in numbers:
        contact = client.find_or_create_contact(number, inbox_id=inbox.id)
        conversation = client.find_or_create_conversation(contact.id, inbox.id)
        client.post_outgoing_message(conversation.id, "Promoção de março")

    counts = acct.outgoing_counts()
    assert len(counts) == len(numbers) and set(counts.values()) == {1}
    assert len(fake_chatwoot.requests("messages#create")) == len(numbers)


def test_conversation_labels_are_replaced(acct: FakeAccount, client: ChatwootClient) -> None:
    inbox = acct.add_inbox()
    contact = acct.add_contact("Ana", phone_number="+5511988887777")
    conversation = acct.add_conversation(contact.id, inbox.id, labels=["old"])

    stored = client.set_conversation_labels(conversation.id, ["campanha-marco", "vip"])

    assert stored == ["campanha-marco", "vip"]
    assert acct.conversation(conversation.id).labels == ["campanha-marco", "vip"]


def test_check_connection_names_the_account_and_its_inboxes(
    fake_chatwoot: FakeChatwoot, acct: FakeAccount, client: ChatwootClient
) -> None:
    acct.add_inbox("Evolution", "Channel::Api")
    acct.add_inbox("Cloud API", "Channel::Whatsapp", phone_number="+5511999990000")

    info = client.check_connection()

    assert info.account_id == acct.id and info.account_name == "Loja Exemplo"
    assert [(i.name, i.channel_type) for i in info.inboxes] == [
        ("Evolution", "Channel::Api"),
        ("Cloud API", "Channel::Whatsapp"),
    ]
    assert fake_chatwoot.requests("profiles#show") == []  # it would send our token back


# -- errors ----------------------------------------------------------------------------------


def test_a_wrong_token_is_a_clear_auth_error(
    fake_chatwoot: FakeChatwoot, acct: FakeAccount
) -> None:
    with (
        client_for(fake_chatwoot, acct, token="not-the-token") as wrong,
        pytest.raises(ChatwootAuthError) as caught,
    ):
        wrong.check_connection()

    assert caught.value.status == 401 and not caught.value.transient
    assert "Invalid Access Token" in str(caught.value)


def test_a_user_outside_the_account_and_a_bot_token_are_auth_errors(
    fake_chatwoot: FakeChatwoot, acct: FakeAccount
) -> None:
    other = fake_chatwoot.add_account("Other")
    bot = fake_chatwoot.add_bot(accounts=[acct.id])

    with (
        client_for(fake_chatwoot, acct, token=other.token) as outsider,
        pytest.raises(ChatwootAuthError, match="not authorized to access this account"),
    ):
        list(outsider.iter_contacts())
    with (
        client_for(fake_chatwoot, acct, token=bot.token) as as_bot,
        pytest.raises(ChatwootAuthError, match="not authorized for bots"),
    ):
        list(as_bot.iter_contacts())


def test_an_unknown_account_is_named_in_the_error(
    fake_chatwoot: FakeChatwoot, acct: FakeAccount
) -> None:
    with (
        client_for(fake_chatwoot, acct, account_id=999) as lost,
        pytest.raises(ChatwootNotFoundError, match="account 999") as caught,
    ):
        lost.check_connection()

    assert caught.value.status == 404


def test_a_deleted_contact_is_not_found(acct: FakeAccount, client: ChatwootClient) -> None:
    contact = acct.add_contact("Ana", phone_number="+5511988887777")
    assert client.get_contact(contact.id).name == "Ana"

    acct.delete_contact(contact.id)

    with pytest.raises(ChatwootNotFoundError) as caught:
        client.get_contact(contact.id)
    assert caught.value.status == 404 and not caught.value.transient
    assert "Resource could not be found" in str(caught.value)


def test_a_blank_token_or_bad_account_never_reaches_the_network() -> None:
    with pytest.raises(ValueError):
        ChatwootClient("http://127.0.0.1:9", 1, "  ")
    with pytest.raises(ValueError):
        ChatwootClient("http://127.0.0.1:9", "one", "tok")
    with pytest.raises(ValueError, match="control characters") as caught:
        ChatwootClient("http://127.0.0.1:9", 1, "abc\r\nX-Evil: 1")
    assert "abc" not in str(caught.value)


# -- 429, 5xx, the network -------------------------------------------------------------------


def test_429_is_retried_with_bounded_exponential_backoff_then_succeeds(
    fake_chatwoot: FakeChatwoot, acct: FakeAccount
) -> None:
    ids = acct.seed_contacts(20)
    fake_chatwoot.fail(Fault.TOO_MANY_REQUESTS, routes=["contacts#index"], times=3)
    sleeps = Sleeps()

    with client_for(fake_chatwoot, acct, sleep=sleeps, backoff_base=1.0, backoff_max=3.0) as c:
        seen = [x.id for x in c.iter_contacts()]

    assert seen == ids
    # jitter 0.5 → three quarters of min(max, base·2^n): 0.75, 1.5, then capped at 3 → 2.25
    assert sleeps == [0.75, 1.5, 2.25]
    assert [r.status for r in fake_chatwoot.requests("contacts#index")] == [429, 429, 429, 200, 200]


def test_retry_after_is_honoured_and_capped(fake_chatwoot: FakeChatwoot, acct: FakeAccount) -> None:
    acct.seed_contacts(3)
    fake_chatwoot.fail(Fault.TOO_MANY_REQUESTS, times=1, retry_after=7)
    fake_chatwoot.fail(Fault.TOO_MANY_REQUESTS, times=1, retry_after=3600)
    sleeps = Sleeps()

    with client_for(fake_chatwoot, acct, sleep=sleeps, backoff_max=60.0) as c:
        assert len(list(c.iter_contacts())) == 3

    assert sleeps == [7.0, 60.0]


def test_429_that_never_ends_gives_up_with_a_transient_error(
    fake_chatwoot: FakeChatwoot, acct: FakeAccount
) -> None:
    fake_chatwoot.fail(Fault.TOO_MANY_REQUESTS, routes=["inboxes#index"])
    sleeps = Sleeps()

    with (
        client_for(fake_chatwoot, acct, sleep=sleeps, max_retries=3) as c,
        pytest.raises(ChatwootError) as caught,
    ):
        c.list_inboxes()

    assert caught.value.status == 429 and caught.value.transient
    assert not caught.value.may_have_applied
    assert len(sleeps) == 3 and len(fake_chatwoot.requests("inboxes#index")) == 4


def test_a_write_that_met_429_is_resent_and_lands_once(
    fake_chatwoot: FakeChatwoot, acct: FakeAccount, client: ChatwootClient
) -> None:
    conversation = acct.add_conversation(
        acct.add_contact("Ana", phone_number="+5511988887777").id, acct.add_inbox().id
    )
    fake_chatwoot.fail(Fault.TOO_MANY_REQUESTS, routes=["messages#create"], times=2)

    client.post_outgoing_message(conversation.id, "Oi")

    assert acct.outgoing_counts() == {conversation.id: 1}  # Rack::Attack stopped the first two


def test_5xx_is_transient_and_not_retried(
    fake_chatwoot: FakeChatwoot, acct: FakeAccount, client: ChatwootClient
) -> None:
    contact = acct.add_contact("Ana", phone_number="+5511988887777")
    fake_chatwoot.fail(Fault.SERVER_ERROR, routes=["contacts#show"], times=1, status=503)

    with pytest.raises(ChatwootError) as caught:
        client.get_contact(contact.id)

    assert caught.value.status == 503 and caught.value.transient
    assert not caught.value.may_have_applied  # a read
    assert len(fake_chatwoot.requests("contacts#show")) == 1
    assert client.get_contact(contact.id).id == contact.id  # the caller's retry works


def test_a_5xx_on_a_message_may_have_applied(
    fake_chatwoot: FakeChatwoot, acct: FakeAccount, client: ChatwootClient
) -> None:
    conversation = acct.add_conversation(
        acct.add_contact("Ana", phone_number="+5511988887777").id, acct.add_inbox().id
    )
    fake_chatwoot.fail(Fault.SERVER_ERROR, routes=["messages#create"], times=1, status=502)

    with pytest.raises(ChatwootError) as caught:
        client.post_outgoing_message(conversation.id, "Oi")

    assert caught.value.status == 502 and caught.value.may_have_applied
    assert len(fake_chatwoot.requests("messages#create")) == 1  # not resent


def test_a_lost_answer_after_the_message_went_in_is_flagged(
    fake_chatwoot: FakeChatwoot, acct: FakeAccount, client: ChatwootClient
) -> None:
    conversation = acct.add_conversation(
        acct.add_contact("Ana", phone_number="+5511988887777").id, acct.add_inbox().id
    )
    fake_chatwoot.fail(Fault.HANG, routes=["messages#create"], times=1, seconds=0)

    with pytest.raises(ChatwootError) as caught:
        client.post_outgoing_message(conversation.id, "Oi")

    assert caught.value.status is None and caught.value.transient
    assert caught.value.may_have_applied
    assert acct.outgoing_counts() == {conversation.id: 1}  # it did go in


def test_a_slow_answer_times_out_as_a_transient_error(
    fake_chatwoot: FakeChatwoot, acct: FakeAccount
) -> None:
    fake_chatwoot.fail(Fault.SLOW, routes=["inboxes#index"], times=1, seconds=5)

    with (
        client_for(fake_chatwoot, acct, timeout=0.2) as c,
        pytest.raises(ChatwootError, match="Timeout") as caught,
    ):
        c.list_inboxes()
        assert caught.value.status is None and caught.value.transient
        assert c.list_inboxes() == []


def test_server_down_is_transient_never_applied_and_the_client_recovers(
    fake_chatwoot: FakeChatwoot, acct: FakeAccount, client: ChatwootClient
) -> None:
    conversation = acct.add_conversation(
        acct.add_contact("Ana", phone_number="+5511988887777").id, acct.add_inbox().id
    )
    assert client.list_inboxes()  # a kept-alive connection exists now

    fake_chatwoot.down()
    with pytest.raises(ChatwootError) as caught:
        client.post_outgoing_message(conversation.id, "Oi")
    fake_chatwoot.up()

    assert caught.value.status is None and caught.value.transient
    assert not caught.value.may_have_applied  # refused: it never reached the server
    assert acct.outgoing_counts() == {}
    client.post_outgoing_message(conversation.id, "Oi")
    assert acct.outgoing_counts() == {conversation.id: 1}


# -- the token -------------------------------------------------------------------------------


def test_the_token_never_leaks(
    fake_chatwoot: FakeChatwoot, acct: FakeAccount, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx and httpcore included
    token = acct.token
    contact = acct.add_contact("Ana", phone_number="+5511988887777")
    shared = httpx.Client()
    texts: list[str] = []
    client = client_for(fake_chatwoot, acct, http=shared)
    texts.append(repr(client))

    fake_chatwoot.fail(Fault.TOO_MANY_REQUESTS, times=1)  # logs a retry
    client.get_contact(contact.id)
    # a server (or proxy) that echoes the token in its error body
    fake_chatwoot.fail(Fault.STATUS, times=1, status=500, body={"error": f"bad token {token}"})
    fake_chatwoot.fail(Fault.STATUS, times=1, status=422, body={"message": token})
    for _ in range(2):
        with pytest.raises(ChatwootError) as caught:
            client.get_contact(contact.id)
        texts += [str(caught.value), repr(caught.value)]
    fake_chatwoot.down()
    with pytest.raises(ChatwootError) as caught:
        client.get_contact(contact.id)
    texts += [str(caught.value), repr(caught.value)]
    fake_chatwoot.up()
    texts += [record.getMessage() for record in caplog.records]

    assert caplog.records and texts
    assert all(token not in text for text in texts)
    assert "[token]" in texts[2]  # scrubbed, not dropped silently
    assert token not in str(shared.headers)  # the shared client was not given it
    received = fake_chatwoot.requests()
    assert received and all(r.access_token == token for r in received)  # the header, always
    assert all(token not in r.path + str(r.query) + str(r.body) for r in received)
    client.close()
    assert not shared.is_closed  # not ours to close
    shared.close()
