"""Stations and the edge devices that publish their results."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from services.core.db import Base
from services.core.time import UTCDateTime, utcnow


class Station(Base):
    """A string EL (or later-stage EL) station on a line."""

    __tablename__ = "station"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    factory: Mapped[str] = mapped_column(String(40), default="")
    line: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Device(Base):
    """An edge worker; its identity comes from its credential, never from a payload."""

    __tablename__ = "device"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # edge: an EL station's worker (result routes); mes: a plant system's client (gate, events feed, MES posts).
    role: Mapped[str] = mapped_column(String(10), default="edge", server_default="edge")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    station: Mapped[Station] = relationship(lazy="raise")
    keys: Mapped[list[DeviceKey]] = relationship(back_populates="device", lazy="raise")


class DeviceKey(Base):
    """One credential of a device. Several may be active during a rotation."""

    __tablename__ = "device_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id"), index=True)
    key_id: Mapped[str] = mapped_column(String(40), unique=True)
    # sha256 of the random API key; the signing key is derived from the server secret.
    api_key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    device: Mapped[Device] = relationship(back_populates="keys", lazy="raise")
