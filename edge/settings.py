"""Edge worker settings (env prefix ELTRACE_EDGE_); the edge shares no settings code with the server."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class EdgeSettings(BaseSettings):
    """One edge worker = one station = one device identity."""

    model_config = SettingsConfigDict(env_prefix="ELTRACE_EDGE_", extra="ignore")

    # The plant-wide ELTRACE_PROFILE works here too; outside the demo an edge must have its credentials.
    profile: Literal["demo", "production", "test"] = Field(
        default="demo", validation_alias=AliasChoices("ELTRACE_EDGE_PROFILE", "ELTRACE_PROFILE")
    )
    device_id: str = "edge-1"
    station_id: str = "STR-EL-01"
    api_url: str = "http://127.0.0.1:8000"
    api_key: SecretStr = SecretStr("")
    key_id: str = ""
    signing_key: SecretStr = SecretStr("")  # hex, as printed by `eltrace devices add`
    redis_url: str = "redis://127.0.0.1:6399/0"  # the embedded server of `eltrace redis` / `eltrace ingest`
    watch_dir: Path = Path("data/edge/incoming")
    done_dir: Path | None = Path("data/edge/done")  # None: delete accepted files
    rejected_dir: Path = Path("data/edge/rejected")
    outbox_path: Path = Path("data/edge/outbox.sqlite")
    models_dir: Path = Path("models")
    model_name: str = "el-cell-classifier"
    model_version: str | None = None
    rules_path: Path | None = None
    recipe: str = "full-1x12"
    grid: str = "1x12"
    cell_aspect: float | None = None
    stage: str = "string_el"
    filename_pattern: str = r"^(?P<barcode>[A-Za-z0-9][A-Za-z0-9.\-]{0,63})_S(?P<pos>\d{1,2})$"
    confirm: bool = True
    resend_after_s: float = Field(default=30.0, gt=0)
    settle_s: float = Field(default=0.2, ge=0)
    poll_s: float = Field(default=0.2, gt=0)
    threads: int = Field(default=2, ge=1)
    # New images wait unjudged below this much free space on the outbox disk (status: disk full).
    min_free_mb: float = Field(default=128, ge=0)
    # `eltrace edge status` (the health check) fails when a result waits longer than this unconfirmed.
    stuck_after_s: float = Field(default=600, gt=0)
    metrics_port: int | None = None  # Prometheus scrape port of this worker
    # How often to ask the API which model this station runs (0: never; the local DEFAULT / model_version stays).
    model_sync_s: float = Field(default=30.0, ge=0)
    metrics_addr: str = "127.0.0.1"

    @model_validator(mode="after")
    def _credentials_outside_the_demo(self) -> EdgeSettings:
        if self.profile == "demo":
            return self
        key = self.signing_key.get_secret_value()
        if not key or not self.key_id or not self.api_key.get_secret_value():
            raise ValueError("ELTRACE_EDGE_SIGNING_KEY, _KEY_ID and _API_KEY are required outside the demo profile")
        try:
            raw = bytes.fromhex(key)
        except ValueError as exc:
            raise ValueError("ELTRACE_EDGE_SIGNING_KEY must be hex, as printed by `eltrace devices add`") from exc
        if len(raw) < 16:
            raise ValueError("ELTRACE_EDGE_SIGNING_KEY is too short (at least 16 bytes)")
        return self
