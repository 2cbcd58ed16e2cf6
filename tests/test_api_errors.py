"""Unexpected failures answer a plain 500 and log no secrets; the service's command line."""

from __future__ import annotations

import logging

from fastapi.testclient import TestClient

import api_service
from api.app import create_app
from core.errors import Conflict


def test_an_unexpected_error_is_a_plain_500_and_the_log_has_no_message(engine, caplog):
    app = create_app()

    def boom() -> None:
        secret = "hunter" + "2"
        raise RuntimeError(f"password={secret} in the message")

    def conflict() -> None:
        raise Conflict("cannot pause a completed campaign")

    app.add_api_route("/boom", boom)
    app.add_api_route("/conflict", conflict)
    with caplog.at_level(logging.INFO), TestClient(app) as client:  # raises if the error escaped
        answer = client.get("/boom")
        assert answer.status_code == 500
        assert answer.json() == {"error": "internal error"}
        assert "hunter2" not in answer.text and "Traceback" not in answer.text
        refused = client.get("/conflict")
        assert refused.status_code == 409
        assert refused.json() == {"error": "cannot pause a completed campaign"}
    assert "RuntimeError" in caplog.text
    assert "hunter2" not in caplog.text


def test_the_access_log_never_has_query_strings(engine, caplog):
    with caplog.at_level(logging.INFO, logger="api.access"), TestClient(create_app()) as client:
        client.post("/webhooks/evolution/1?token=the-webhook-secret", json={"event": "x"})
    assert "/webhooks/evolution/1" in caplog.text
    assert "the-webhook-secret" not in caplog.text


def test_unknown_routes_are_json_404(engine):
    with TestClient(create_app()) as client:
        answer = client.get("/nope")
        assert answer.status_code == 404 and answer.json() == {"error": "Not Found"}


def test_host_and_port_default_to_the_settings(monkeypatch):
    from core.settings import reset_settings_cache

    monkeypatch.setenv("API_HOST", "0.0.0.0")
    monkeypatch.setenv("API_PORT", "9123")
    reset_settings_cache()
    args = api_service.parse_args([])
    assert (args.host, args.port) == ("0.0.0.0", 9123)
    args = api_service.parse_args(["--host", "127.0.0.1", "--port", "8111"])
    assert (args.host, args.port) == ("127.0.0.1", 8111)
