"""What an edge device says and hears over HTTP besides its results (those travel through Redis)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

RESULT_ID = r"^[0-9a-f\-]{36}$"


class ConfirmationQuery(BaseModel):
    """Result ids the edge still holds in its outbox."""

    model_config = ConfigDict(extra="forbid")

    result_ids: list[Annotated[str, Field(pattern=RESULT_ID)]] = Field(max_length=1000)


class RefusedRead(BaseModel):
    """A result ingest dead-lettered: the edge parks its row (when it is the entry it sent) with the reason."""

    result_id: str
    stream_id: str
    key_id: str | None = None  # the key it was signed with: a refusal under an old key is re-sent, re-signed
    reason: str


class ConfirmationRead(BaseModel):
    """Stored with their images: forget these. Refused: park them. Images missing from the store: upload again."""

    stored: list[str]
    refused: list[RefusedRead] = Field(default_factory=list)
    reupload: list[str] = Field(default_factory=list)


class WhoAmI(BaseModel):
    """The identity behind a device key (for commissioning a station)."""

    model_config = ConfigDict(from_attributes=True)

    device_id: str = Field(validation_alias="code")
    station_id: str = Field(validation_alias="station_code")
    key_id: str


class StationRead(BaseModel):
    """A station, its line (operators see their line only) and the devices that may publish for it."""

    code: str
    name: str
    factory: str
    line: str
    devices: list[str]


class StationUpdate(BaseModel):
    """What an admin may change about a station (moving it to another line is audited)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=100)
    factory: str | None = Field(default=None, max_length=40)
    line: str | None = Field(default=None, max_length=40, pattern=r"^[A-Za-z0-9._\-]*$")
