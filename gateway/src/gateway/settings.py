from __future__ import annotations

from pathlib import Path
from typing import Annotated

from portal_kit.settings import ServiceSettings
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

CommaList = Annotated[list[str], NoDecode]


class Settings(ServiceSettings):
    """Gateway settings: ``PORTAL_GATEWAY_*`` (the first admin's are plain ``PORTAL_ADMIN_*``)."""

    model_config = SettingsConfigDict(env_prefix="PORTAL_GATEWAY_", extra="ignore")

    service_name: str = "gateway"
    port: int = 8000

    # upstreams (base URLs, no trailing slash needed)
    catalog_url: str = "http://127.0.0.1:8101"
    storage_url: str = "http://127.0.0.1:8102"
    quality_url: str = "http://127.0.0.1:8103"
    harvest_url: str = "http://127.0.0.1:8104"
    feedback_url: str = "http://127.0.0.1:8105"

    # proxy
    upstream_connect_timeout: float = 5.0
    upstream_read_timeout: float = 60.0
    upstream_pool_size: int = 200
    readiness_timeout: float = 2.0
    openapi_cache_seconds: float = 30.0
    # which peers may set X-Forwarded-For/Proto (uvicorn forwarded_allow_ips): the ingress only
    forwarded_allow_ips: str = "127.0.0.1"

    # identity
    signing_key_dir: Path = Path("var/gateway/signing-keys")
    token_lifetime_seconds: int = 15 * 60
    # JWTs minted when an API token is exchanged at the edge
    exchanged_token_lifetime_seconds: int = 5 * 60
    admin_email: str = Field(
        default="", validation_alias=AliasChoices("PORTAL_ADMIN_EMAIL", "portal_admin_email")
    )
    admin_password: SecretStr = Field(
        default=SecretStr(""),
        validation_alias=AliasChoices("PORTAL_ADMIN_PASSWORD", "portal_admin_password"),
    )
    admin_full_name: str = "Administrator"

    # CORS
    cors_origins: CommaList = Field(default_factory=list)

    # rate limits (token buckets, in memory, per gateway replica)
    rate_limit_enabled: bool = True
    # POST /api/v1/auth/token, per client IP
    rate_limit_auth_per_minute: float = 30
    rate_limit_auth_burst: int = 20
    # POST/PUT/PATCH/DELETE, per client IP and separately per bearer token
    rate_limit_write_per_minute: float = 600
    rate_limit_write_burst: int = 120
    rate_limit_token_write_per_minute: float = 300
    rate_limit_token_write_burst: int = 100
    # networks never limited; None = loopback in local/test environments, nothing otherwise
    rate_limit_exempt: CommaList | None = None

    @field_validator("cors_origins", "rate_limit_exempt", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    def upstreams(self) -> dict[str, str]:
        return {
            "catalog": self.catalog_url.rstrip("/"),
            "storage": self.storage_url.rstrip("/"),
            "quality": self.quality_url.rstrip("/"),
            "harvest": self.harvest_url.rstrip("/"),
            "feedback": self.feedback_url.rstrip("/"),
        }

    def exempt_networks(self) -> list[str]:
        if self.rate_limit_exempt is not None:
            return list(self.rate_limit_exempt)
        if self.environment in ("local", "test"):
            return ["127.0.0.0/8", "::1/128"]
        return []
