"""The REST API and Evolution webhook receiver: `python api_service.py [--host H] [--port P]`."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import uvicorn

from api.app import create_app
from core.settings import get_settings


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    settings = get_settings()
    parser = argparse.ArgumentParser(description="WhatsApp API Campaigns: REST API and webhooks")
    parser.add_argument("--host", default=settings.api_host, help="default: API_HOST or 127.0.0.1")
    parser.add_argument(
        "--port", type=int, default=settings.api_port, help="default: API_PORT or 8000"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    uvicorn.run(
        create_app(),
        host=args.host,
        port=args.port,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
        # uvicorn's access log prints query strings (a webhook secret may be one): api.app logs
        # requests itself, path only.
        access_log=False,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
