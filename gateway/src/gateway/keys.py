"""Ed25519 signing keys kept as PEM files in one directory; all are published, the newest signs.

Rotation: ``python -m gateway rotate-key`` (or drop a new ``<kid>.pem`` into the directory).
Every replica rescans the directory at most every ``rescan_seconds``, so a key written by one
replica (or by a rotation) is published by all of them. A key is retired by deleting its file
once the tokens it signed have expired (token lifetime, default 15 minutes).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

log = logging.getLogger("gateway.keys")


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: Ed25519PrivateKey

    def public_jwk(self) -> dict[str, Any]:
        jwk = json.loads(OKPAlgorithm.to_jwk(self.private.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "EdDSA"})
        return jwk


def new_kid() -> str:
    # sortable by creation time, so "newest" needs no file metadata
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(4)


def write_new_key(directory: Path) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    kid = new_kid()
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    tmp = directory / f".{kid}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, directory / f"{kid}.pem")
    log.info("created signing key %s", kid)
    return kid


class KeyRing:
    def __init__(self, directory: Path, rescan_seconds: float = 30.0) -> None:
        self.directory = Path(directory)
        self.rescan_seconds = rescan_seconds
        self._keys: dict[str, SigningKey] = {}
        self._scanned = 0.0

    def load(self, *, create: bool = True) -> None:
        self._scan()
        if not self._keys and create:
            write_new_key(self.directory)
            self._scan()
        if not self._keys:
            raise RuntimeError(f"no signing keys in {self.directory}")

    def _scan(self) -> None:
        keys: dict[str, SigningKey] = {}
        if self.directory.is_dir():
            for path in sorted(self.directory.glob("*.pem")):
                try:
                    private = serialization.load_pem_private_key(path.read_bytes(), password=None)
                except Exception:
                    log.exception("unreadable signing key %s", path)
                    continue
                if isinstance(private, Ed25519PrivateKey):
                    keys[path.stem] = SigningKey(path.stem, private)
                else:
                    log.warning("ignoring non-Ed25519 key %s", path)
        if keys:
            self._keys = keys
        self._scanned = time.monotonic()

    def maybe_rescan(self) -> None:
        if time.monotonic() - self._scanned > self.rescan_seconds:
            self._scan()

    @property
    def current(self) -> SigningKey:
        self.maybe_rescan()
        return self._keys[max(self._keys)]

    def get(self, kid: str) -> SigningKey | None:
        key = self._keys.get(kid)
        if key is None and time.monotonic() - self._scanned > 1.0:
            self._scan()
            key = self._keys.get(kid)
        return key

    def jwks(self) -> dict[str, Any]:
        self.maybe_rescan()
        return {"keys": [self._keys[k].public_jwk() for k in sorted(self._keys, reverse=True)]}
