"""Registered model versions and station assignments."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class Role(StrEnum):
    """How a station runs a model: live verdicts act; shadow verdicts are stored beside them, not acted on."""

    LIVE = "live"
    SHADOW = "shadow"


class ModelVersionRead(BaseModel):
    """A registered version and where it runs now."""

    name: str
    version: str
    sha256: str
    size_bytes: int
    registered_at: datetime
    registered_by: str
    metadata: dict[str, Any]
    evaluation: dict[str, Any] | None
    live_at: list[str] = Field(default_factory=list)
    shadow_at: list[str] = Field(default_factory=list)


class AssignmentRead(BaseModel):
    """One period a station ran a version in a role."""

    station: str
    role: Role
    name: str
    version: str
    sha256: str
    since: datetime
    until: datetime | None
    by: str
    reason: str


class AssignBody(BaseModel):
    """Put a registered version on a station, live (promote) or in shadow."""

    name: str = Field(default="el-cell-classifier", min_length=1, max_length=100)
    version: str = Field(min_length=1, max_length=50)
    role: Role = Role.LIVE
    reason: str = Field(min_length=3, max_length=500)


class RollbackBody(BaseModel):
    """Return a station to the version it ran live before the current one."""

    reason: str = Field(min_length=3, max_length=500)
