from portal_kit.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PORTAL_QUALITY_", extra="ignore")

    service_name: str = "quality"
    # rescoring (timeliness moves with time alone), snapshots, overdue alerts, URL checks
    schedule_interval_seconds: float = 3600.0
    # the feedback service's statistics (steward rating input R); default: public_base_url (gateway)
    feedback_url: str | None = None
    feedback_timeout: float = 5.0
    # harvest-export's statistics (the card's data.gov.ua harvest status); default: the gateway
    harvest_url: str | None = None
    harvest_timeout: float = 5.0
