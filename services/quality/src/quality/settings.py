from portal_kit.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PORTAL_QUALITY_", extra="ignore")

    service_name: str = "quality"
    # rescoring (timeliness moves with time alone), snapshots, overdue alerts, URL checks
    schedule_interval_seconds: float = 3600.0
