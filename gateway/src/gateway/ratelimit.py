"""Rate limits per client: in-memory token buckets, so the limits hold PER GATEWAY REPLICA.

With N replicas behind a load balancer a client gets up to N times the configured rate; set
the numbers accordingly (or move the buckets to a shared store if that ever matters).

Buckets are keyed by (scope, client), so one client running dry never affects another:
- ``auth``: ``POST /api/v1/auth/token`` per client IP (password guessing);
- ``write``: POST/PUT/PATCH/DELETE per client IP;
- ``token-write``: the same per bearer token (by its hash), when one is sent.

The client IP is the ASGI peer address, which uvicorn rewrites from ``X-Forwarded-For`` only
when the peer is in ``forwarded_allow_ips`` (the ingress), so clients cannot pick their IP.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
from dataclasses import dataclass

from portal_kit.errors import problem
from starlette.types import ASGIApp, Receive, Scope, Send

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
AUTH_PATHS = frozenset({"/api/v1/auth/token"})


@dataclass(frozen=True)
class Rule:
    per_minute: float
    burst: int

    @property
    def rate(self) -> float:
        return self.per_minute / 60.0


class RateLimiter:
    def __init__(self, rules: dict[str, Rule], *, max_keys: int = 200_000) -> None:
        self.rules = rules
        self.max_keys = max_keys
        # (scope, key) -> (tokens, last refill time)
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}

    def hit(self, scope: str, key: str, now: float | None = None) -> float:
        """Take one token; returns 0 when allowed, else the seconds to wait."""
        rule = self.rules[scope]
        if rule.per_minute <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.get((scope, key), (float(rule.burst), now))
        tokens = min(float(rule.burst), tokens + (now - last) * rule.rate)
        if tokens >= 1.0:
            self._buckets[(scope, key)] = (tokens - 1.0, now)
            if len(self._buckets) > self.max_keys:
                self._prune(now)
            return 0.0
        self._buckets[(scope, key)] = (tokens, now)
        return (1.0 - tokens) / rule.rate

    def _prune(self, now: float) -> None:
        """Drop buckets that have refilled completely: they hold no information."""
        keep = {}
        for (scope, key), (tokens, last) in self._buckets.items():
            rule = self.rules[scope]
            if tokens + (now - last) * rule.rate < rule.burst:
                keep[(scope, key)] = (tokens, last)
        self._buckets = keep

    def __len__(self) -> int:
        return len(self._buckets)


def _bearer_key(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            kind, _, token = value.partition(b" ")
            if kind.lower() == b"bearer" and token.strip():
                return hashlib.sha256(token.strip()).hexdigest()[:32]
            return None
    return None


class RateLimitMiddleware:
    """Pure ASGI: answers 429 problem+json with Retry-After before anything else runs."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, exempt: list[str]) -> None:
        self.app = app
        self.limiter = limiter
        self.exempt = [ipaddress.ip_network(n, strict=False) for n in exempt]

    def _exempt(self, host: str) -> bool:
        if not self.exempt:
            return False
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(addr in net for net in self.exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        host = client[0] if client else "unknown"
        if self._exempt(host):
            await self.app(scope, receive, send)
            return
        wait = 0.0
        if scope["path"] in AUTH_PATHS:
            wait = self.limiter.hit("auth", host)
        else:
            wait = self.limiter.hit("write", host)
            token = _bearer_key(scope)
            if not wait and token is not None:
                wait = self.limiter.hit("token-write", token)
        if wait:
            retry = max(1, math.ceil(wait))
            response = problem(
                429,
                f"Too many requests; retry in {retry} s",
                instance=scope["path"],
                headers={"Retry-After": str(retry)},
                retry_after=retry,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class HeaderLimitMiddleware:
    """Pure ASGI: 431 problem+json when the request headers are too large or too many
    (uvicorn's httptools parser accepts hundreds of kilobytes). Added by hardening (issue 10)."""

    def __init__(self, app: ASGIApp, max_bytes: int = 32 * 1024, max_count: int = 200) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_count = max_count

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = scope.get("headers", [])
            size = sum(len(k) + len(v) + 4 for k, v in headers)
            if size > self.max_bytes or len(headers) > self.max_count:
                response = problem(431, "Request headers too large", instance=scope.get("path", ""))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
