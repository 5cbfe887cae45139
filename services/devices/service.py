"""Provisioning, authentication and signing keys of edge devices."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy.orm import Session

from services.audit.service import record
from services.contracts import derive_signing_key
from services.contracts.result import DEVICE_PATTERN
from services.core.errors import Conflict, InvalidInput, NotFound
from services.core.i18n import N_
from services.core.time import utcnow
from services.devices import repository as repo
from services.devices.orm import Device, DeviceKey, Station
from services.devices.schemas import StationRead, StationUpdate


@dataclass(frozen=True)
class DeviceCredentials:
    """Shown once at provisioning; the server keeps only the API key's hash."""

    device_id: str
    station_id: str
    key_id: str
    api_key: str
    signing_key_hex: str


DEVICE_ROLES = ("edge", "mes")


@dataclass(frozen=True)
class AuthenticatedDevice:
    """The identity behind a valid device API key."""

    id: int
    code: str
    station_code: str
    key_id: str
    role: str = "edge"  # edge (an EL station's worker) or mes (a plant system's client)


def _hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def ensure_station(*, session: Session, code: str, name: str = "", factory: str = "", line: str = "") -> Station:
    """Get or create a station by code."""
    station = repo.station_by_code(session, code)
    if station is None:
        station = Station(code=code, name=name or code, factory=factory, line=line)
        session.add(station)
        session.flush()
    return station


def _new_key(*, session: Session, device: Device, station_code: str, master_secret: bytes) -> DeviceCredentials:
    key_id = f"k{secrets.token_hex(6)}"
    api_key = f"eltd_{key_id}_{secrets.token_urlsafe(32)}"
    session.add(DeviceKey(device_id=device.id, key_id=key_id, api_key_hash=_hash_key(api_key)))
    session.flush()
    signing = derive_signing_key(master_secret, device.code, key_id)
    return DeviceCredentials(device.code, station_code, key_id, api_key, signing.hex())


def provision_device(
    *,
    session: Session,
    code: str,
    station_code: str,
    master_secret: bytes,
    actor: str = "system",
    line: str | None = None,
    role: str = "edge",
) -> DeviceCredentials:
    """Register a device at a station (on a line) and issue its first key; ingest holds it to that station."""
    if not re.fullmatch(DEVICE_PATTERN, code):
        raise InvalidInput(N_("device id must match %(pattern)s"), pattern=DEVICE_PATTERN)
    if repo.device_by_code(session, code) is not None:
        raise Conflict(N_("device %(code)s already exists"), code=code)
    station = ensure_station(session=session, code=station_code, line=line or "")
    if line and station.line != line:
        if station.line:
            raise Conflict(
                N_("station %(station)s is on line %(on)s, not %(line)s"), station=station_code, on=station.line, line=line
            )
        station.line = line
    if role not in DEVICE_ROLES:
        raise InvalidInput(N_("device role must be one of %(choices)s"), choices=", ".join(DEVICE_ROLES))
    device = Device(code=code, station_id=station.id, role=role)
    session.add(device)
    session.flush()
    cred = _new_key(session=session, device=device, station_code=station.code, master_secret=master_secret)
    record(
        session=session,
        actor=actor,
        action="device.provisioned",
        entity="device",
        entity_id=code,
        after={"station": station.code, "key_id": cred.key_id, "role": role},
    )
    return cred


def rotate_key(
    *, session: Session, code: str, master_secret: bytes, revoke_old: bool = False, actor: str = "system"
) -> DeviceCredentials:
    """Issue a new key; old keys stay valid (outbox drains) until revoked."""
    device = repo.device_by_code(session, code)
    if device is None:
        raise NotFound(N_("device %(code)s not found"), code=code)
    station = repo.station(session, device.station_id)
    if station is None:
        raise NotFound(N_("station of device %(code)s not found"), code=code)
    revoked = []
    if revoke_old:
        for key in repo.active_keys(session, device.id):
            key.revoked_at = utcnow()
            revoked.append(key.key_id)
    cred = _new_key(session=session, device=device, station_code=station.code, master_secret=master_secret)
    record(
        session=session,
        actor=actor,
        action="device.key_rotated",
        entity="device",
        entity_id=code,
        after={"new_key_id": cred.key_id, "revoked": revoked},
    )
    return cred


def authenticate(*, session: Session, api_key: str) -> AuthenticatedDevice | None:
    """The device behind an API key, or None (unknown, revoked, inactive)."""
    parts = api_key.split("_", 2)
    if len(parts) != 3 or parts[0] != "eltd":
        return None
    row = repo.live_key(session, parts[1])
    if row is None or not hmac.compare_digest(row[0], _hash_key(api_key)):
        return None
    return AuthenticatedDevice(id=row[2], code=row[3], station_code=row[4], key_id=row[1], role=row[5])


def active_signing_keys(*, session: Session, master_secret: bytes) -> dict[tuple[str, str], bytes]:
    """(device code, key id) -> signing key, for every active key of every active device."""
    rows = repo.live_key_ids(session)
    return {(code, kid): derive_signing_key(master_secret, code, kid) for code, kid in rows}


def device_ids_by_code(*, session: Session) -> dict[str, tuple[int, str]]:
    """device code -> (device row id, station code)."""
    rows = repo.devices_with_stations(session)
    return {code: (did, st) for code, did, st in rows}


def station_line(*, session: Session, code: str) -> str | None:
    """The line a station is registered on (None when it is unknown or on no line)."""
    station = repo.station_by_code(session, code)
    return station.line if station is not None and station.line else None


def register_station(*, session: Session, code: str, line: str, name: str = "", actor: str) -> StationRead:
    """Register a station (a rework or EL station) on a line, or move it there (audited)."""
    ensure_station(session=session, code=code, name=name, line=line)
    return update_station(session=session, code=code, change=StationUpdate(line=line, name=name or None), actor=actor)


def stations(*, session: Session) -> list[StationRead]:
    """Every station with its line and devices."""
    return [
        StationRead(code=st.code, name=st.name, factory=st.factory, line=st.line, devices=devs)
        for st, devs in repo.stations_with_devices(session)
    ]


def update_station(*, session: Session, code: str, change: StationUpdate, actor: str) -> StationRead:
    """Rename a station or move it to another line (audited with before and after)."""
    station = repo.station_by_code(session, code)
    if station is None:
        raise NotFound(N_("station %(code)s not found"), code=code)
    before = {"name": station.name, "factory": station.factory, "line": station.line}
    for field, value in change.model_dump(exclude_none=True).items():
        setattr(station, field, value.strip())
    after = {"name": station.name, "factory": station.factory, "line": station.line}
    record(session=session, actor=actor, action="station.updated", entity="station", entity_id=code, before=before, after=after)
    session.flush()
    return next(s for s in stations(session=session) if s.code == code)
