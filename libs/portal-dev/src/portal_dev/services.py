"""The registry of the system's processes and a controller that migrates, starts,
watches and stops them. Used by ``make run`` and by the ``system`` test fixture.

Contract every service package obeys:
  ``python -m <package> migrate``  apply its Alembic migrations to its own database
  ``python -m <package> serve``    uvicorn API + event worker; SIGTERM = graceful stop
  ``GET /healthz`` and ``GET /readyz`` (200 when ready)
and reads its settings from ``PORTAL_<SVC>_*`` environment variables (see ``ServiceSpec``).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .proc import ManagedProcess, free_port, tail
from .servers import HOST, Servers

log = logging.getLogger("portal_dev.services")


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # short name, also the gateway's upstream key and the log file name
    package: str  # importable package, run as ``python -m <package>``
    prefix: str  # environment prefix
    database: str  # database name (without test suffix)
    uses_s3: bool = True

    def available(self) -> bool:
        try:
            return (
                importlib.util.find_spec(self.package) is not None
                and importlib.util.find_spec(f"{self.package}.__main__") is not None
            )
        except (ImportError, ValueError):
            return False


GATEWAY = ServiceSpec("gateway", "gateway", "PORTAL_GATEWAY_", "portal_gateway")
SERVICES = (
    ServiceSpec("catalog", "catalog", "PORTAL_CATALOG_", "portal_catalog"),
    ServiceSpec("storage", "storage", "PORTAL_STORAGE_", "portal_storage"),
    ServiceSpec("quality", "quality", "PORTAL_QUALITY_", "portal_quality"),
    ServiceSpec("harvest", "harvest_export", "PORTAL_HARVEST_", "portal_harvest"),
    ServiceSpec("feedback", "feedback", "PORTAL_FEEDBACK_", "portal_feedback"),
)
ALL_SPECS = (GATEWAY, *SERVICES)

DEFAULT_GATEWAY_PORT = 8000
DEFAULT_ADMIN_EMAIL = "admin@example.com"


def registry() -> list[ServiceSpec]:
    """The specs whose package is importable (upstream services first, gateway last)."""
    present, missing = [], []
    for spec in (*SERVICES, GATEWAY):
        (present if spec.available() else missing).append(spec)
    if missing:
        log.warning("not installed, left out: %s", ", ".join(s.package for s in missing))
    return present


class SystemNotReady(RuntimeError):
    pass


@dataclass
class ServiceProcess:
    spec: ServiceSpec
    port: int
    env: dict[str, str]  # the PORTAL_* variables this process gets
    log_path: Path
    process: ManagedProcess
    expected_down: bool = field(default=False)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


class System:
    """All registered services and the gateway as separate processes on one set of servers."""

    def __init__(
        self,
        servers: Servers,
        data_dir: Path | str,
        environment: str = "local",
        db_suffix: str = "",
        gateway_port: int | None = None,
        admin_email: str = DEFAULT_ADMIN_EMAIL,
        admin_password: str = "",
        specs: list[ServiceSpec] | None = None,
        ports_from_env: bool = True,
        inherit_portal_env: bool = True,
    ) -> None:
        self.servers = servers
        self.data_dir = Path(data_dir).resolve()
        self.log_dir = self.data_dir / "log"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.environment = environment
        self.db_suffix = db_suffix
        self.admin_email = admin_email
        self.admin_password = admin_password
        self.specs = list(specs) if specs is not None else registry()
        self.missing = [s.package for s in ALL_SPECS if s not in self.specs]

        def port_for(spec: ServiceSpec) -> int:
            var = f"{spec.prefix}PORT"
            if ports_from_env and os.environ.get(var):
                return int(os.environ[var])
            if spec is GATEWAY and ports_from_env:
                return DEFAULT_GATEWAY_PORT
            return free_port()

        ports = {s.name: port_for(s) for s in self.specs if s is not GATEWAY}
        self.gateway_port = gateway_port or port_for(GATEWAY)
        ports["gateway"] = self.gateway_port
        self.gateway_url = f"http://{HOST}:{self.gateway_port}"

        base = {
            k: v for k, v in os.environ.items() if inherit_portal_env or not k.startswith("PORTAL_")
        }
        base["PYTHONUNBUFFERED"] = "1"

        self.procs: dict[str, ServiceProcess] = {}
        for spec in self.specs:
            env = self._env_for(spec, ports)
            log_path = self.log_dir / f"{spec.name}.log"
            mp = ManagedProcess(
                spec.name,
                [sys.executable, "-m", spec.package, "serve"],
                log_path,
                env={**base, **env},
                stop_signal=signal.SIGTERM,
                stop_timeout=20,
            )
            self.procs[spec.name] = ServiceProcess(spec, ports[spec.name], env, log_path, mp)
        self._base_env = base

    # -- configuration
    def _env_for(self, spec: ServiceSpec, ports: dict[str, int]) -> dict[str, str]:
        s = self.servers
        p = spec.prefix
        env = {
            f"{p}HOST": HOST,
            f"{p}PORT": str(ports[spec.name]),
            f"{p}DATABASE_URL": s.database_url(spec.database + self.db_suffix),
            f"{p}NATS_URL": s.nats_url,
            f"{p}S3_ENDPOINT": s.s3_endpoint,
            f"{p}S3_ACCESS_KEY": s.s3_access_key,
            f"{p}S3_SECRET_KEY": s.s3_secret_key,
            f"{p}S3_BUCKET": s.s3_bucket,
            f"{p}S3_SECURE": "false",
            f"{p}JWKS_URL": f"{self.gateway_url}/.well-known/jwks.json",
            f"{p}PUBLIC_BASE_URL": self.gateway_url,
            f"{p}ENVIRONMENT": self.environment,
        }
        if spec is GATEWAY:
            for other in SERVICES:
                if other.name in ports:
                    env[f"PORTAL_GATEWAY_{other.name.upper()}_URL"] = (
                        f"http://{HOST}:{ports[other.name]}"
                    )
            keys = self.data_dir / "gateway" / "signing-keys"
            keys.mkdir(parents=True, exist_ok=True)
            env["PORTAL_GATEWAY_SIGNING_KEY_DIR"] = str(keys)
            env["PORTAL_ADMIN_EMAIL"] = self.admin_email
            env["PORTAL_ADMIN_PASSWORD"] = self.admin_password
        return env

    @property
    def service_urls(self) -> dict[str, str]:
        """name -> base URL of every process, the gateway included."""
        return {name: sp.url for name, sp in self.procs.items()}

    @property
    def env(self) -> dict[str, dict[str, str]]:
        """name -> the PORTAL_* variables that process got."""
        return {name: dict(sp.env) for name, sp in self.procs.items()}

    @property
    def log_paths(self) -> dict[str, Path]:
        return {name: sp.log_path for name, sp in self.procs.items()}

    def databases(self) -> list[str]:
        return [s.database + self.db_suffix for s in self.specs]

    # -- steps
    def create_databases(self) -> None:
        self.servers.postgres.create_databases(self.databases())

    def migrate(self, timeout: float = 180) -> None:
        """Run every service's ``migrate`` (in parallel: each has its own database)."""
        running: list[tuple[ServiceProcess, subprocess.Popen[bytes], object]] = []
        for sp in self.procs.values():
            sp.log_path.parent.mkdir(parents=True, exist_ok=True)
            f = sp.log_path.open("ab")
            f.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} migrate\n".encode())
            f.flush()
            proc = subprocess.Popen(
                [sys.executable, "-m", sp.spec.package, "migrate"],
                stdin=subprocess.DEVNULL,
                stdout=f,
                stderr=subprocess.STDOUT,
                env={**self._base_env, **sp.env},
                start_new_session=True,
            )
            running.append((sp, proc, f))
        failures = []
        deadline = time.monotonic() + timeout
        for sp, proc, f in running:
            try:
                rc = proc.wait(timeout=max(1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                rc = "timeout"
            f.close()  # type: ignore[attr-defined]
            if rc != 0:
                failures.append(
                    f"{sp.spec.name} migrate failed ({rc}); {sp.log_path}:\n{tail(sp.log_path)}"
                )
        if failures:
            raise SystemNotReady("\n\n".join(failures))

    def prepare(self) -> None:
        self.create_databases()
        self.migrate()

    def start(self, timeout: float = 120) -> None:
        """Start every process (services, then the gateway) and wait until all are ready."""
        for sp in self.procs.values():
            sp.expected_down = False
            sp.process.start()
        self.wait_ready(timeout)

    def dead(self) -> dict[str, str]:
        """name -> error text, for processes that exited while they should run."""
        out = {}
        for name, sp in self.procs.items():
            if not sp.expected_down:
                err = sp.process.exit_error()
                if err:
                    out[name] = err
        return out

    def _ready(self, client: httpx.Client, sp: ServiceProcess) -> tuple[bool, str]:
        try:
            r = client.get(f"{sp.url}/readyz")
        except httpx.HTTPError as exc:
            return False, f"{type(exc).__name__}: {exc}"
        return r.status_code == 200, f"{r.status_code} {r.text[:300]}"

    def wait_ready(self, timeout: float = 120, names: list[str] | None = None) -> None:
        names = names or list(self.procs)
        deadline = time.monotonic() + timeout
        status: dict[str, str] = {}
        with httpx.Client(timeout=5) as client:
            while True:
                dead = {n: e for n, e in self.dead().items() if n in names}
                if dead:
                    raise SystemNotReady(
                        "process died while starting:\n" + "\n\n".join(dead.values())
                    )
                pending = []
                for name in names:
                    ok, status[name] = self._ready(client, self.procs[name])
                    if not ok:
                        pending.append(name)
                if not pending:
                    return
                if time.monotonic() > deadline:
                    parts = [
                        f"{n} not ready at {self.procs[n].url}/readyz (last: {status[n]}); "
                        f"log {self.procs[n].log_path}:\n{tail(self.procs[n].log_path)}"
                        for n in pending
                    ]
                    raise SystemNotReady(f"not ready after {timeout:.0f}s:\n" + "\n\n".join(parts))
                time.sleep(0.2)

    def stop(self) -> None:
        """Stop the gateway first, then the services, each SIGTERM then SIGKILL."""
        order = ["gateway"] if "gateway" in self.procs else []
        for sp in self.procs.values():
            sp.expected_down = True
        if order:
            self.procs["gateway"].process.stop()
        threads = [
            threading.Thread(target=sp.process.stop)
            for name, sp in self.procs.items()
            if name not in order
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    # -- fault injection (tests)
    def stop_service(self, name: str) -> None:
        sp = self.procs[name]
        sp.expected_down = True
        sp.process.stop()

    def kill_service(self, name: str) -> None:
        sp = self.procs[name]
        sp.expected_down = True
        sp.process.kill()

    def start_service(self, name: str, timeout: float = 60) -> None:
        sp = self.procs[name]
        sp.expected_down = False
        sp.process.start()
        self.wait_ready(timeout, names=[name])

    def restart_service(self, name: str, timeout: float = 60) -> None:
        self.stop_service(name)
        self.start_service(name, timeout)
