from portal_kit.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PORTAL_CATALOG_", extra="ignore")

    service_name: str = "catalog"
    # the quality service's pre-check is called here (default: public_base_url, the gateway)
    quality_url: str | None = None
    quality_timeout: float = 10.0
    # storage's file metadata route, asked when a resource names a file the catalog has not
    # heard of yet (default: public_base_url, the gateway)
    storage_url: str | None = None
    # load the mandatory list into the register on startup (idempotent)
    preload_register: bool = True
