"""What an edge device says and hears over HTTP besides its results (those travel through Redis)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

RESULT_ID = r"^[0-9a-f\-]{36}$"


class ConfirmationQuery(BaseModel):
    """Result ids the edge still holds in its outbox."""

    model_config = ConfigDict(extra="forbid")

    result_ids: list[Annotated[str, Field(pattern=RESULT_ID)]] = Field(max_length=1000)


class ConfirmationRead(BaseModel):
    """Those of them stored with their images: the edge may forget these."""

    stored: list[str]


class WhoAmI(BaseModel):
    """The identity behind a device key (for commissioning a station)."""

    model_config = ConfigDict(from_attributes=True)

    device_id: str = Field(validation_alias="code")
    station_id: str = Field(validation_alias="station_code")
    key_id: str
