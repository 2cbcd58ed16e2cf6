"""Unexpected failures answer a plain 500 and log no secrets; the service's command line."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time

import httpx
import pytest
from fastapi.testclient import TestClient

import api_service
from api.app import create_app
from core.base import Conflict
from tests.worker_harness import ROOT, free_port


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
    from core.base import reset_settings_cache

    monkeypatch.setenv("API_HOST", "0.0.0.0")
    monkeypatch.setenv("API_PORT", "9123")
    monkeypatch.setenv("API_WORKERS", "3")
    reset_settings_cache()
    args = api_service.parse_args([])
    assert (args.host, args.port, args.workers) == ("0.0.0.0", 9123, 3)
    args = api_service.parse_args(["--host", "127.0.0.1", "--port", "8111", "--workers", "1"])
    assert (args.host, args.port, args.workers) == ("127.0.0.1", 8111, 1)
    with pytest.raises(SystemExit):
        api_service.parse_args(["--workers", "0"])


@pytest.mark.parametrize(
    ("service", "variable", "value", "message"),
    [
        ("api_service.py", "API_WORKERS", "0", "API_WORKERS must be at least 1 (got 0)"),
        ("api_service.py", "API_PORT", "eighty", "API_PORT='eighty' is not a valid int"),
        ("scheduler_service.py", "LEASE_SECONDS", "abc", "LEASE_SECONDS='abc' is not a valid"),
    ],
)
def test_a_malformed_setting_stops_a_service_with_its_name_and_no_traceback(
    service: str, variable: str, value: str, message: str
):
    stopped = subprocess.run(
        [sys.executable, service],
        cwd=ROOT,
        env={**os.environ, variable: value},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert stopped.returncode != 0
    assert stopped.stderr.strip().startswith(f"error: {message}")
    assert "Traceback" not in stopped.stderr


def test_several_server_processes_answer_and_log_their_requests(engine, tmp_path):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "api_service.py", "--port", str(port), "--workers", "2"],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        answers = []
        deadline = time.monotonic() + 60
        while len(answers) < 20 and time.monotonic() < deadline:
            try:
                # A new connection each time, so that both processes get some of them.
                answers.append(httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5))
            except httpx.TransportError:
                time.sleep(0.2)
    finally:
        server.terminate()
        _, logged = server.communicate(timeout=30)
    assert len(answers) == 20 and all(answer.status_code == 200 for answer in answers)
    # uvicorn starts each process afresh: our logging is set up in every one of them.
    access_lines = [line for line in logged.splitlines() if "api.access" in line]
    assert len(access_lines) == 20, logged[-3000:]
    assert len(set(re.findall(r"\[(\d+)\]", logged))) >= 2, "expected two server processes"
