"""Schemathesis over the whole OpenAPI (issue 16, fuzz): generated requests, with an admin's
token and the account's real id, never get a 5xx, and every answer matches the schema the API
documents for it (body and content type). Bounded examples per operation (< 60 s)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from api.app import create_app
from tests.builders import make_api_token, make_sender_instance

APP = create_app()
SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture
def auth(engine, session, account, admin):
    account.campaigns_enabled = True
    make_sender_instance(session, account, "main", webhook_secret="webhook-secret-123")
    token = make_api_token(session, admin)
    session.commit()
    return account.id, {"api_access_token": token}


@SCHEMA.parametrize()
@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_request_gets_a_server_error(case, auth):
    account_id, headers = auth
    if case.path_parameters and "account_id" in case.path_parameters:
        case.path_parameters["account_id"] = account_id
    response = case.call(headers=headers)
    assert response.status_code < 500, (case.method, case.path, response.text[:300])
    case.validate_response(response, checks=[response_schema_conformance, content_type_conformance])
