from pydantic_settings import SettingsConfigDict

from portal_kit.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PORTAL_STORAGE_", extra="ignore")

    service_name: str = "storage"
