"""``python -m portal_dev run`` (``make run``): the whole system on the embedded stack.

Environment:
  PORTAL_DATA_DIR        state folder (default ./var): servers' data, logs, admin password, keys
  PORTAL_GATEWAY_PORT    gateway port (default 8000)
  PORTAL_<SVC>_PORT      a service's port (default: a free port)
  PORTAL_PG_PORT, PORTAL_NATS_PORT, PORTAL_S3_PORT  server ports (default: free; kept in ports.json)
  PORTAL_ADMIN_EMAIL     first admin (default admin@example.com)
  PORTAL_ADMIN_PASSWORD  its password (default: generated once, kept in <data>/admin-password)
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import sys
import time
from pathlib import Path

from .servers import Servers
from .services import DEFAULT_ADMIN_EMAIL, System, SystemNotReady

log = logging.getLogger("portal_dev.run")


def admin_credentials(data_dir: Path) -> tuple[str, str, bool]:
    """(email, password, generated_now). The password comes from PORTAL_ADMIN_PASSWORD,
    else from <data>/admin-password, else is generated once and stored there (mode 600)."""
    email = os.environ.get("PORTAL_ADMIN_EMAIL") or DEFAULT_ADMIN_EMAIL
    if os.environ.get("PORTAL_ADMIN_PASSWORD"):
        return email, os.environ["PORTAL_ADMIN_PASSWORD"], False
    path = data_dir / "admin-password"
    if path.exists():
        return email, path.read_text().strip(), False
    password = secrets.token_urlsafe(18)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    return email, password, True


def start_system(
    servers: Servers,
    data_dir: Path,
    environment: str,
    admin_email: str,
    admin_password: str,
    timeout: float = 120,
    **kwargs,
) -> System:
    """The one code path shared by ``make run`` and the ``system`` fixture: create the
    databases, migrate every service, start every process, wait until all are ready."""
    system = System(
        servers,
        data_dir,
        environment=environment,
        admin_email=admin_email,
        admin_password=admin_password,
        **kwargs,
    )
    try:
        system.prepare()
        system.start(timeout=timeout)
    except BaseException:
        system.stop()
        raise
    return system


def _on_sigterm(signum, frame):  # noqa: ARG001
    raise KeyboardInterrupt


def _say(msg: str = "") -> None:
    print(msg, flush=True)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    signal.signal(signal.SIGTERM, _on_sigterm)
    # also when started in the background, where SIGINT is inherited as ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    data_dir = Path(os.environ.get("PORTAL_DATA_DIR") or "./var").resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    admin_email, admin_password, generated = admin_credentials(data_dir)

    servers = Servers(data_dir, profile="local")
    system: System | None = None
    code = 0
    try:
        t0 = time.monotonic()
        _say(f"[portal] data in {data_dir}; starting PostgreSQL, NATS, S3 ...")
        servers.start()
        _say(
            f"[portal] servers up in {time.monotonic() - t0:.1f}s: postgres 127.0.0.1:"
            f"{servers.pg_port}, {servers.nats_url}, s3 http://{servers.s3_endpoint}"
        )
        _say("[portal] creating databases, migrating and starting the services ...")
        system = start_system(servers, data_dir, "local", admin_email, admin_password)
        if system.missing:
            _say(f"[portal] not installed, left out: {', '.join(system.missing)}")
        _say(f"[portal] all ready in {time.monotonic() - t0:.1f}s")

        marker = data_dir / "seeded"
        if "gateway" not in system.procs:
            _say("[portal] no gateway yet: demo seed skipped")
        elif not marker.exists():
            _say("[portal] first start: seeding demo data through the API ...")
            try:
                from .seed import run_seed

                ctx = run_seed(system.gateway_url, admin_email, admin_password)
                accounts = data_dir / "demo-accounts.json"
                fd = os.open(accounts, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as f:
                    json.dump(ctx.accounts, f, indent=1, ensure_ascii=False)
                marker.write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + "\n")
                _say(f"[portal] demo data seeded; demo accounts in {accounts}")
            except Exception as exc:  # noqa: BLE001 - keep the system up, retry next start
                log.exception("seed failed")
                _say(f"[portal] SEED FAILED ({exc!r}); it will run again on the next start")

        _say("")
        _say(f"  Gateway:   {system.gateway_url}")
        _say(f"  API docs:  {system.gateway_url}/docs")
        _say(f"  Admin:     {admin_email}")
        if generated:
            _say(f"  Password:  {admin_password}   (shown once; kept in {data_dir}/admin-password)")
        elif not os.environ.get("PORTAL_ADMIN_PASSWORD"):
            _say(f"  Password:  in {data_dir}/admin-password")
        _say(f"  Logs:      {system.log_dir}/")
        _say("  Ctrl-C stops everything.")
        _say("")

        reported: set[str] = set()
        while True:
            time.sleep(1)
            for name, err in system.dead().items():
                if name not in reported:
                    reported.add(name)
                    _say(f"[{name}] DIED: {err}")
                    _say(f"[portal] {name} is down; the rest keeps running. Ctrl-C to stop.")
    except KeyboardInterrupt:
        _say("\n[portal] stopping ...")
    except SystemNotReady as exc:
        _say(f"[portal] FAILED to start:\n{exc}")
        code = 1
    except Exception as exc:  # noqa: BLE001
        log.exception("failed")
        _say(f"[portal] FAILED: {exc}")
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if system is not None:
            system.stop()
        servers.stop()
        _say("[portal] stopped.")
    return code


if __name__ == "__main__":
    sys.exit(main())
