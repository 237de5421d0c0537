"""Small process helpers: free ports, a managed child process with a log file, waiting."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

_handed_out: set[int] = set()
_lock = threading.Lock()

VENV_BIN = Path(sys.executable).parent


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free now on ``host`` (never the same twice in this process)."""
    with _lock:
        for _ in range(200):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind((host, 0))
                port = s.getsockname()[1]
            if port not in _handed_out:
                _handed_out.add(port)
                return port
    raise RuntimeError("no free port found")


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def tail(path: Path | str | None, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file ('' if there is none)."""
    if path is None:
        return ""
    p = Path(path)
    if not p.exists():
        return ""
    with p.open("rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 64 * 1024))
        data = f.read().decode("utf-8", "replace")
    return "\n".join(data.splitlines()[-lines:])


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    interval: float = 0.1,
    alive: Callable[[], str | None] | None = None,
) -> None:
    """Poll ``check`` until true; ``alive`` returns an error text when the process died."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        if alive is not None:
            err = alive()
            if err:
                raise RuntimeError(f"{what}: {err}")
        try:
            if check():
                return
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last_exc = exc
        if time.monotonic() > deadline:
            extra = f" (last error: {last_exc!r})" if last_exc else ""
            raise TimeoutError(f"{what}: not ready after {timeout:.0f}s{extra}")
        time.sleep(interval)


class ManagedProcess:
    """A child process in its own process group, logging to a file, stopped with
    a polite signal first and SIGKILL after a grace period. Restartable."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | str | None = None,
        user: str | None = None,
        stop_signal: int = signal.SIGTERM,
        stop_timeout: float = 15.0,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = Path(log_path)
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.user = user
        self.stop_signal = stop_signal
        self.stop_timeout = stop_timeout
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exit_error(self) -> str | None:
        """An error text if the process was started and has exited."""
        if self.proc is not None and self.proc.poll() is not None:
            return (
                f"{self.name} exited with code {self.proc.returncode}; "
                f"log {self.log_path}:\n{tail(self.log_path)}"
            )
        return None

    def start(self) -> None:
        if self.running():
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        try:
            log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} start {self.name}\n".encode())
            log.flush()
            kwargs: dict = {}
            if self.user is not None:
                kwargs["user"] = self.user
                import pwd

                kwargs["group"] = pwd.getpwnam(self.user).pw_gid
                kwargs["extra_groups"] = []
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
                **kwargs,
            )
        finally:
            log.close()

    def _signal_group(self, sig: int) -> None:
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float | None = None) -> int | None:
        """Polite signal, then SIGKILL to the whole group after ``timeout`` seconds."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self._signal_group(self.stop_signal)
            try:
                self.proc.wait(timeout=self.stop_timeout if timeout is None else timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.proc.wait(timeout=10)
        # reap anything left in the group (e.g. children of a killed parent)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL the whole group at once (crash simulation)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self._signal_group(signal.SIGKILL)
        self.proc.wait(timeout=10)
