"""Queries on stations, devices and their keys (SQLAlchemy 2 select())."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from services.devices.orm import Device, DeviceKey, Station


def station_by_code(session: Session, code: str) -> Station | None:
    """A station by its code."""
    return session.scalar(select(Station).where(Station.code == code))


def station(session: Session, station_id: int) -> Station | None:
    """A station by id."""
    return session.get(Station, station_id)


def device_by_code(session: Session, code: str) -> Device | None:
    """A device by its code."""
    return session.scalar(select(Device).where(Device.code == code))


def active_keys(session: Session, device_id: int) -> Sequence[DeviceKey]:
    """The device's keys that are not revoked."""
    return session.scalars(select(DeviceKey).where(DeviceKey.device_id == device_id, DeviceKey.revoked_at.is_(None))).all()


def live_key(session: Session, key_id: str) -> Row[Any] | None:
    """(api key hash, key id, device id, device code, station code, role) of an unrevoked key of an active device."""
    stmt = (
        select(DeviceKey.api_key_hash, DeviceKey.key_id, Device.id, Device.code, Station.code, Device.role)
        .join(Device, Device.id == DeviceKey.device_id)
        .join(Station, Station.id == Device.station_id)
        .where(DeviceKey.key_id == key_id, DeviceKey.revoked_at.is_(None), Device.active.is_(True))
    )
    return session.execute(stmt).first()


def live_key_ids(session: Session) -> Sequence[Row[Any]]:
    """(device code, key id) of every unrevoked key of every active device."""
    stmt = (
        select(Device.code, DeviceKey.key_id)
        .join(DeviceKey, DeviceKey.device_id == Device.id)
        .where(DeviceKey.revoked_at.is_(None), Device.active.is_(True))
    )
    return session.execute(stmt).all()


def stations_with_devices(session: Session) -> Sequence[tuple[Station, list[str]]]:
    """Every EL station, by code, with the codes of the edge devices registered at it (MES clients' are not stations)."""
    stations = list(session.scalars(select(Station).order_by(Station.code)))
    devices: dict[int, list[str]] = {}
    clients: set[int] = set()
    for code, station_id, role in session.execute(select(Device.code, Device.station_id, Device.role).order_by(Device.code)):
        if role == "edge":
            devices.setdefault(station_id, []).append(code)
        else:
            clients.add(station_id)
    return [(st, devices.get(st.id, [])) for st in stations if st.id in devices or st.id not in clients]


def devices_with_stations(session: Session) -> Sequence[Row[Any]]:
    """(device code, device id, station code) of every device."""
    return session.execute(select(Device.code, Device.id, Station.code).join(Station, Station.id == Device.station_id)).all()
