from portal_kit.settings import ServiceSettings
from pydantic import model_validator
from pydantic_settings import SettingsConfigDict


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PORTAL_HARVEST_", extra="ignore")

    service_name: str = "harvest_export"
    # the public base URL harvesters see (URIs, download links, Hydra links); defaults to
    # public_base_url (the gateway)
    site_url: str = ""
    site_title: str = "Портал відкритих даних Запорізької міської ради"
    site_description: str = (
        "Відкриті дані Запорізької міської ради та її виконавчих органів і комунальних підприємств"
    )
    publisher_name: str = "Запорізька міська рада"
    # prefix for exported CKAN names, so they stay distinct on data.gov.ua across cities
    name_prefix: str = "zp-"
    # validate every dataset's DCAT-AP against the SHACL shapes when its export is built
    validate_shacl: bool = True
    ckan_version: str = "2.10.4"
    # a harvest run is a series of pulls from one client with no gap longer than this (seconds)
    run_gap_seconds: int = 1800
    # who is the national portal's harvester (GET /api/v1/stats/harvest/organizations): a pull
    # counts when its client address is listed or its user agent contains one of these
    # (case-insensitive). ckanext-harvest sends python-requests/x unless its config names one.
    national_harvester_user_agents: list[str] = [
        "data.gov.ua",
        "ckanext-harvest",
        "python-requests/",
    ]
    national_harvester_clients: list[str] = []

    @model_validator(mode="after")
    def _site_url(self) -> "Settings":
        if not self.site_url:
            self.site_url = self.public_base_url
        self.site_url = self.site_url.rstrip("/")
        return self
