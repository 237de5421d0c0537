"""What the gateway holds while running (in ``ctx.extras["gateway"]``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import Request
from portal_kit.app import ServiceContext

from gateway.identity import ActiveCache
from gateway.keys import KeyRing
from gateway.ratelimit import RateLimiter
from gateway.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    ctx: ServiceContext
    keys: KeyRing
    upstream: httpx.AsyncClient
    limiter: RateLimiter
    active: ActiveCache = field(default_factory=ActiveCache)
    # service -> (fetched_at monotonic, document or None, error text)
    openapi_cache: dict[str, tuple[float, dict[str, Any] | None, str]] = field(default_factory=dict)


def runtime(request: Request) -> Runtime:
    ctx: ServiceContext = request.state.ctx
    return ctx.extras["gateway"]
