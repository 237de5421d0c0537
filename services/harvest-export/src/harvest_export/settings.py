from pydantic_settings import SettingsConfigDict

from portal_kit.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PORTAL_HARVEST_", extra="ignore")

    service_name: str = "harvest_export"
