"""Contact routes over the contacts service: every route, status code and role."""

from __future__ import annotations

import pytest

from tests.address_book_files import google_csv
from tests.builders import make_account, make_api_token, make_contact


@pytest.fixture
def headers(session, admin, manager, viewer) -> dict[str, dict[str, str]]:
    tokens = {
        actor.role.value: make_api_token(session, actor) for actor in (admin, manager, viewer)
    }
    session.commit()
    return {role: {"api_access_token": token} for role, token in tokens.items()}


def base(account) -> str:
    return f"/api/v1/accounts/{account.id}/contacts"


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_create_normalises_the_phone_and_answers_the_contact(client, account, headers, role):
    answer = client.post(
        base(account),
        json={
            "phone": "(11) 99999-0001",  # local to the account's country (BR)
            "name": "Ana",
            "labels": ["VIP", "new "],
            "custom_attributes": {"city": "São Paulo", "orders": 3},
        },
        headers=headers[role],
    )
    assert answer.status_code == 201, answer.text
    contact = answer.json()
    assert contact["phone"] == "+5511999990001"
    assert contact["name"] == "Ana"
    assert contact["labels"] == ["new", "vip"]
    assert contact["custom_attributes"] == {"city": "São Paulo", "orders": 3}
    assert contact["opted_out"] is False
    fetched = client.get(f"{base(account)}/{contact['id']}", headers=headers["viewer"])
    assert fetched.status_code == 200 and fetched.json() == contact


def test_a_viewer_reads_but_cannot_write(client, session, account, headers):
    contact = make_contact(session, account, "+5511999990001")
    session.commit()
    viewer = headers["viewer"]
    url = f"{base(account)}/{contact.id}"
    assert client.get(base(account), headers=viewer).status_code == 200
    assert (
        client.post(base(account), json={"phone": "+5511999990002"}, headers=viewer).status_code
        == 403
    )
    assert client.patch(url, json={"name": "x"}, headers=viewer).status_code == 403
    assert client.delete(url, headers=viewer).status_code == 403
    files = {"file": ("c.csv", b"phone\n+5511999990009\n", "text/csv")}
    assert client.post(f"{base(account)}/import", files=files, headers=viewer).status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "phone"),
        ({"phone": "not a phone"}, "phone"),
        ({"phone": "+5511999990001", "labels": "vip"}, "labels"),
        ({"phone": "+5511999990001", "custom_attributes": []}, "custom_attributes"),
        ({"phone": "+5511999990001", "unknown": 1}, "unknown"),
    ],
)
def test_invalid_contacts_are_422_naming_the_field(client, account, headers, body, field):
    answer = client.post(base(account), json=body, headers=headers["manager"])
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"].split(".")[0] == field


def test_a_duplicate_phone_is_422(client, session, account, headers):
    make_contact(session, account, "+5511999990001")
    session.commit()
    answer = client.post(
        base(account), json={"phone": "+55 11 99999-0001"}, headers=headers["manager"]
    )
    assert answer.status_code == 422
    assert "already exists" in answer.json()["error"]


def test_list_filters_and_paginates(client, session, account, headers):
    make_contact(session, account, "+5511999990001", "Ana", ["vip"], city="Rio")
    make_contact(session, account, "+5511999990002", "Bia", ["vip", "new"], city="SP")
    make_contact(session, account, "+5511999990003", "Caio", ["new"], city="Rio")
    session.commit()
    viewer = headers["viewer"]

    def names(**params) -> list[str]:
        answer = client.get(base(account), params=params, headers=viewer)
        assert answer.status_code == 200, answer.text
        return sorted(c["name"] for c in answer.json()["payload"])

    assert names() == ["Ana", "Bia", "Caio"]
    assert names(q="bi") == ["Bia"]
    assert names(q="990003") == ["Caio"]
    assert names(labels="vip") == ["Ana", "Bia"]
    assert names(labels="vip,new", labels_match="all") == ["Bia"]
    assert names(attribute="city", attribute_value="rio") == ["Ana", "Caio"]
    page = client.get(base(account), params={"per_page": 2, "page": 2}, headers=viewer).json()
    assert page["meta"] == {"count": 3, "page": 2, "per_page": 2}
    assert len(page["payload"]) == 1


def test_patch_changes_what_is_sent_and_opts_out(client, session, account, headers):
    contact = make_contact(session, account, "+5511999990001", "Ana", ["vip"], city="Rio")
    session.commit()
    url = f"{base(account)}/{contact.id}"
    answer = client.patch(
        url, json={"labels": ["gold"], "opted_out": True}, headers=headers["manager"]
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["labels"] == ["gold"] and body["opted_out"] is True
    assert body["name"] == "Ana" and body["custom_attributes"] == {"city": "Rio"}
    assert (
        client.get(base(account), params={"opted_out": True}, headers=headers["viewer"]).json()[
            "meta"
        ]["count"]
        == 1
    )
    put = client.put(url, json={"name": None, "opted_out": False}, headers=headers["manager"])
    assert put.status_code == 200
    assert put.json()["name"] is None and put.json()["opted_out"] is False


def test_delete_is_204_then_404(client, session, account, headers):
    contact = make_contact(session, account, "+5511999990001")
    session.commit()
    url = f"{base(account)}/{contact.id}"
    answer = client.delete(url, headers=headers["manager"])
    assert answer.status_code == 204 and answer.content == b""
    assert client.get(url, headers=headers["manager"]).status_code == 404
    assert client.delete(url, headers=headers["manager"]).status_code == 404


def test_another_accounts_contact_is_404_everywhere(client, session, account, headers):
    other = make_account(session, "Other shop")
    theirs = make_contact(session, other, "+5511999990009", "Secret")
    session.commit()
    url = f"{base(account)}/{theirs.id}"
    admin = headers["admin"]
    answers = [
        client.get(url, headers=admin),
        client.patch(url, json={"name": "x"}, headers=admin),
        client.put(url, json={"name": "x"}, headers=admin),
        client.delete(url, headers=admin),
        client.get(base(other), headers=admin),
    ]
    assert [a.status_code for a in answers] == [404] * 5
    assert all("Secret" not in a.text for a in answers)
    listed = client.get(base(account), headers=admin).json()
    assert listed["meta"]["count"] == 0


def test_import_answers_the_report(client, session, account, headers):
    make_contact(session, account, "+5511999990001", "Old name")
    session.commit()
    csv = (
        b"phone,name,labels,city\n"
        b"+5511999990001,Ana,vip,Rio\n"
        b'(11) 99999-0002,Bia,"vip,new",SP\n'
        b"not-a-phone,Nobody,,\n"
    )
    answer = client.post(
        f"{base(account)}/import",
        files={"file": ("contacts.csv", csv, "text/csv")},
        headers=headers["manager"],
    )
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["filename"] == "contacts.csv"
    assert (report["created"], report["updated"], report["rejected"]) == (1, 1, 1)
    assert report["errors"][0]["row"] == 4 and report["errors"][0]["reason"]
    listed = client.get(base(account), params={"labels": "vip"}, headers=headers["viewer"]).json()
    assert {c["phone"] for c in listed["payload"]} == {"+5511999990001", "+5511999990002"}


def test_import_with_a_mapping_and_country(client, account, headers):
    csv = b"celular;nome\n(212) 555-0100;Ann\n"
    answer = client.post(
        f"{base(account)}/import",
        files={"file": ("us.csv", csv, "text/csv")},
        data={"default_country": "US", "mapping": '{"celular": "phone", "nome": "name"}'},
        headers=headers["manager"],
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["created"] == 1
    listed = client.get(base(account), headers=headers["manager"]).json()
    assert listed["payload"][0]["phone"] == "+12125550100"


def test_an_address_book_export_imports_without_a_mapping(client, account, headers):
    answer = client.post(
        f"{base(account)}/import",
        files={"file": ("google.csv", google_csv(), "text/csv")},
        headers=headers["manager"],
    )
    assert answer.status_code == 200, answer.text
    assert (answer.json()["created"], answer.json()["rejected"]) == (2, 0)
    listed = client.get(base(account), params={"labels": "vip"}, headers=headers["manager"])
    by_phone = {c["phone"]: c for c in listed.json()["payload"]}
    assert set(by_phone) == {"+5521998765432", "+5511987654321"}  # Bruno's is his mobile
    assert by_phone["+5521998765432"]["name"] == "Ana Maria Souza"


def test_the_other_phone_target_is_a_mapping_choice(client, account, headers):
    csv = b"fixo,recado\n+55 11 3333-4444,(11) 98765-4321\n123,+55 21 99876-5432\n"
    answer = client.post(
        f"{base(account)}/import",
        files={"file": ("c.csv", csv, "text/csv")},
        data={"mapping": '{"fixo": "phone", "recado": "other_phone"}'},
        headers=headers["manager"],
    )
    assert answer.status_code == 200, answer.text
    listed = client.get(base(account), headers=headers["manager"]).json()["payload"]
    # The landline is valid, so it is the phone; "123" is not, so the other column's number is.
    assert {c["phone"] for c in listed} == {"+551133334444", "+5521998765432"}


@pytest.mark.parametrize(
    ("data", "files", "field"),
    [
        ({}, None, "file"),
        ({"mapping": "{not json"}, {"file": ("c.csv", b"phone\n+5511999990001\n")}, "mapping"),
        ({}, {"file": ("c.csv", b"")}, None),
    ],
)
def test_a_refused_import_is_422(client, account, headers, data, files, field):
    answer = client.post(
        f"{base(account)}/import", data=data, files=files, headers=headers["manager"]
    )
    assert answer.status_code == 422, answer.text
    if field:
        assert answer.json()["errors"][0]["field"] == field
