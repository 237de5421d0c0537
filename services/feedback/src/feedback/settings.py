from typing import Any

from portal_kit.settings import ServiceSettings
from pydantic import PrivateAttr, SecretStr
from pydantic_settings import SettingsConfigDict


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PORTAL_FEEDBACK_", extra="ignore")

    service_name: str = "feedback"
    port: int = 8105

    # --- response deadlines
    # working days a steward has to answer a report
    response_working_days: int = 5
    # Under martial law (since 2022, Law No. 2136-IX art. 12) public holidays are NOT days off in
    # Ukraine; they are ordinary working days. Default False: holidays count as working days, as
    # the law says today. Set True once days off are restored (or to model peace-time rules).
    holidays_are_days_off: bool = False
    # extra non-working dates (ISO, comma separated in env as JSON list), e.g. declared days off
    extra_days_off: list[str] = []
    # local time zone of the council: deadlines end at the close of a local working day
    timezone: str = "Europe/Kyiv"
    # warn the steward this many hours before the deadline
    deadline_warning_hours: int = 24

    # --- anti-abuse (no third-party service)
    # anonymous writes (reports, survey answers) per client IP per window
    anon_writes_per_window: int = 5
    # signed-in users' writes per window
    user_writes_per_window: int = 30
    rate_window_seconds: int = 600
    # a report with the same text on the same dataset within this many days is a duplicate
    duplicate_window_days: int = 7
    # secret mixed into hashed client keys (IPs are never stored in clear)
    client_key_salt: SecretStr = SecretStr("feedback-local-salt")

    # --- notifications (SMTP; disabled when host is empty)
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_from: str = "noreply@portal.zp.gov.ua"
    smtp_starttls: bool = False
    smtp_timeout: float = 10.0
    notify_interval: float = 5.0
    # where personal-data reports and new requests are announced (comma list)
    moderators_email: str = ""

    # --- showcase link checks
    link_check_interval: float = 6 * 3600.0
    link_check_timeout: float = 10.0
    # consecutive failed checks before a link is flagged dead
    link_dead_after: int = 2
    # allow checking links that resolve to private / loopback addresses (tests, intranet)
    link_check_allow_private: bool = False
    # minimum seconds between checks of the same showcase by the loop
    link_recheck_after: float = 24 * 3600.0

    # periodic housekeeping (deadline warnings, link checks) wakes this often
    housekeeping_interval: float = 60.0

    # the clock (tests replace it with a fixed one; production uses the system clock)
    _clock: Any = PrivateAttr(default=None)
