"""Settings base: one typed Settings per service, read from the environment with its own prefix."""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Fields every service has. Subclasses set ``model_config`` with their ``env_prefix``."""

    model_config = SettingsConfigDict(
        env_prefix="PORTAL_", extra="ignore", env_nested_delimiter="__"
    )

    service_name: str = "service"
    environment: Literal["local", "test", "staging", "production"] = "local"
    host: str = "127.0.0.1"
    port: int = 8100
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    database_pool_size: int = 10
    nats_url: str = "nats://127.0.0.1:4222"
    jwks_url: str = "http://127.0.0.1:8000/.well-known/jwks.json"
    jwt_issuer: str = "zp-open-data-portal"
    jwt_audience: str = "portal"
    public_base_url: str = "http://127.0.0.1:8000"
    log_level: str = "INFO"
    log_json: bool = True
    run_worker: bool = True
    # the relay polls the outbox this often when idle (seconds)
    outbox_poll_interval: float = 0.2

    # slow clients (portal_kit.timeouts), seconds: no request-body chunk for this long -> 408
    # and the request is aborted; a request's headers not complete this long after its first
    # byte (or the connection) -> 408 and close; idle keep-alive connections closed after this.
    # 0 disables the first two. limit_concurrency: connections + running requests per process
    # beyond which uvicorn answers 503 (None = unlimited; the ingress should bound this too).
    body_idle_timeout: float = 30.0
    header_timeout: float = 20.0
    keep_alive_timeout: int = 5
    limit_concurrency: int | None = None

    # S3 (only services that use object storage read these)
    s3_endpoint: str = "127.0.0.1:9000"
    s3_access_key: str = "portal"
    s3_secret_key: SecretStr = SecretStr("portal-secret")
    s3_bucket: str = "portal"
    s3_secure: bool = False
    s3_region: str = "us-east-1"

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> ServiceSettings:
        if self.environment in ("staging", "production"):
            if self.s3_secret_key.get_secret_value() == "portal-secret":
                raise ValueError("S3 secret key must be set outside local/test environments")
        return self

    @property
    def uses_s3(self) -> bool:
        return False
