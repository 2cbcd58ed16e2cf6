"""Schemathesis against the app's own /openapi.json: no server errors, every answer as documented.

Runs in-process (ASGI) on the per-test database, with a bounded number of examples per
operation so the whole run stays well under a minute. Path ids are half the time real objects
of the account (so the happy paths are exercised), half the time whatever was generated.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from tests.builders import (
    make_api_token,
    make_campaign_row,
    make_contact,
    make_recipient_row,
    make_sender_instance,
)

EXAMPLES_PER_OPERATION = 12
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def world(engine, session, account, admin):
    instance = make_sender_instance(session, account, "main", state="open")
    contact = make_contact(session, account, "+5511999990001", "Ana", ["vip"], city="Rio")
    campaign = make_campaign_row(session, account, status="draft", instances=[instance])
    campaign.audience = {"labels": ["vip"]}
    running = make_campaign_row(session, account, status="running", instances=[instance])
    make_recipient_row(session, running, contact=contact, status="sent", provider_message_id="X1")
    token = make_api_token(session, admin)
    session.commit()
    return {
        "token": token,
        "ids": {
            "account_id": account.id,
            "campaign_id": campaign.id,
            "contact_id": contact.id,
            "instance_id": instance.id,
        },
    }


def test_the_api_answers_as_its_openapi_document_says(world):
    app = create_app()
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    # Deletions last, so the other operations meet the real objects too.
    operations.sort(key=lambda operation: operation.method.upper() == "DELETE")
    assert len(operations) >= 20
    headers = {"api_access_token": world["token"]}
    for operation in operations:

        @given(case=operation.as_strategy(), real_ids=st.booleans())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def check(case, real_ids: bool) -> None:
            path = case.path_parameters or {}
            if "account_id" in path:
                path["account_id"] = world["ids"]["account_id"]
            if real_ids:
                for name in ("campaign_id", "contact_id", "instance_id"):
                    if name in path:
                        path[name] = world["ids"][name]
            response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS)

        check()
