"""The command every image runs: ``python -m <service> migrate|serve|api|worker``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from portal_kit.migrations import downgrade, upgrade
from portal_kit.settings import ServiceSettings
from portal_kit.timeouts import header_timeout_protocol


def run_cli(
    *,
    name: str,
    settings_factory: Callable[[], ServiceSettings],
    app_factory: Callable[..., FastAPI],
    migrations_dir: Path,
    argv: list[str] | None = None,
) -> None:
    parser = argparse.ArgumentParser(prog=name)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply database migrations (alembic upgrade head)")
    down = sub.add_parser("downgrade", help="revert migrations")
    down.add_argument("revision", default="base", nargs="?")
    sub.add_parser("serve", help="HTTP API and event worker in one process")
    sub.add_parser("api", help="HTTP API only (no outbox relay, no consumers)")
    sub.add_parser("worker", help="event worker only (health and metrics routes stay)")
    args = parser.parse_args(argv)

    settings = settings_factory()
    if args.command == "migrate":
        upgrade(migrations_dir, settings.database_url)
        return
    if args.command == "downgrade":
        downgrade(migrations_dir, settings.database_url, args.revision)
        return
    with_routes = True
    if args.command == "api":
        settings.run_worker = False
    elif args.command == "worker":
        settings.run_worker = True
        with_routes = False
    app = app_factory(settings, with_routes=with_routes)
    http_protocol = (
        header_timeout_protocol(settings.header_timeout) if settings.header_timeout > 0 else None
    )
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        # services sit behind the gateway; the gateway itself narrows this to its ingress
        forwarded_allow_ips=getattr(settings, "forwarded_allow_ips", "*"),
        timeout_graceful_shutdown=25,
        # hardening (docs/hardening.md "Slow clients"): bounded header reads, idle keep-alive,
        # optional cap on concurrent connections; request bodies: BodyIdleTimeoutMiddleware
        http=http_protocol or "auto",
        timeout_keep_alive=settings.keep_alive_timeout,
        limit_concurrency=settings.limit_concurrency,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    server.run()
    sys.exit(0 if server.started else 1)
