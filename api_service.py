"""The REST API and Evolution webhook receiver:
`python api_service.py [--host H] [--port P] [--workers N]`."""

from __future__ import annotations

import argparse
import copy
from collections.abc import Sequence
from typing import Any

import uvicorn
import uvicorn.config

from core.base import ValidationError, get_settings


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    settings = get_settings()
    parser = argparse.ArgumentParser(description="WhatsApp API Campaigns: REST API and webhooks")
    parser.add_argument("--host", default=settings.api_host, help="default: API_HOST or 127.0.0.1")
    parser.add_argument(
        "--port", type=int, default=settings.api_port, help="default: API_PORT or 8000"
    )
    parser.add_argument(
        "--workers",
        type=_positive,
        default=settings.api_workers,
        help="server processes (default: API_WORKERS or 1); one process serves about 150 "
        "campaign reads a second on one core",
    )
    return parser.parse_args(argv)


def _positive(raw: str) -> int:
    number = int(raw)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {number})")
    return number


def logging_config(level: str) -> dict[str, Any]:
    """uvicorn's own logging, plus ours (api.access, api.errors) on stderr. Passed to uvicorn
    so that each worker process, which starts afresh, sets it up too."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["formatters"]["plain"] = {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    config["handlers"]["plain"] = {
        "formatter": "plain",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
    }
    config["root"] = {"handlers": ["plain"], "level": level}
    return config


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = get_settings()
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=logging_config(settings.log_level),
        log_level=settings.log_level.lower(),
        proxy_headers=True,
        # uvicorn's access log prints query strings (a webhook secret may be one): api.app logs
        # requests itself, path only.
        access_log=False,
    )
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except ValidationError as error:  # a malformed setting: named, without a traceback
        raise SystemExit(f"error: {error}") from None
