"""Registering model versions and putting them on stations, live or in shadow; audited; never commits.

The ONNX file goes into the content-addressed blob store under its sha256 (the same store as the EL
images); an edge downloads it by that sha256 and checks the bytes against the signed assignment.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from services.audit.service import record as audit
from services.contracts.models import ModelAssignment, ModelFile, sign_assignment
from services.core.errors import Conflict, InvalidInput, NotFound
from services.core.i18n import N_
from services.core.time import utcnow
from services.imagestore.store import BlobStore
from services.registry import repository as repo
from services.registry.orm import ModelVersion, StationModel
from services.registry.schemas import AssignmentRead, ModelVersionRead, Role


def register(
    *,
    session: Session,
    blobs: BlobStore,
    onnx: bytes,
    metadata: Mapping[str, Any],
    card: str,
    evaluation: Mapping[str, Any] | None,
    actor: str,
) -> tuple[ModelVersionRead, bool]:
    """Register a model folder's contents; (the version, whether it is new). The same file again is a no-op."""
    sha = hashlib.sha256(onnx).hexdigest()
    name, version = str(metadata.get("name") or ""), str(metadata.get("version") or "")
    if not name or not version:
        raise InvalidInput(N_("metadata.json needs the model's name and version"))
    if metadata.get("sha256") and metadata["sha256"] != sha:
        raise InvalidInput(N_("model.onnx does not hash to the sha256 its metadata names: refused"))
    same = repo.by_sha(session, sha)
    if same is not None:
        if (same.name, same.version) != (name, version):
            raise Conflict(N_("this file is already registered as %(name)s %(version)s"), name=same.name, version=same.version)
        return _read(session, same), False
    if repo.by_name_version(session, name, version) is not None:
        raise Conflict(
            N_("%(name)s %(version)s is registered with another file: give the new one its own version"),
            name=name,
            version=version,
        )
    blobs.put(sha, onnx)
    row = ModelVersion(
        name=name,
        version=version,
        sha256=sha,
        size_bytes=len(onnx),
        meta=dict(metadata),
        card=card,
        evaluation=dict(evaluation) if evaluation else None,
        registered_at=utcnow(),
        registered_by=actor,
    )
    session.add(row)
    session.flush()
    audit(
        session=session,
        actor=actor,
        action="model.register",
        entity="model",
        entity_id=f"{name} {version}",
        after={"sha256": sha},
    )
    return _read(session, row), True


def _read(session: Session, v: ModelVersion) -> ModelVersionRead:
    where = repo.current(session)
    return ModelVersionRead(
        name=v.name,
        version=v.version,
        sha256=v.sha256,
        size_bytes=v.size_bytes,
        registered_at=v.registered_at,
        registered_by=v.registered_by,
        metadata=v.meta,
        evaluation=v.evaluation,
        live_at=[a.station_code for a, m in where if m.id == v.id and a.role == Role.LIVE],
        shadow_at=[a.station_code for a, m in where if m.id == v.id and a.role == Role.SHADOW],
    )


def versions(*, session: Session) -> list[ModelVersionRead]:
    """Every registered version, newest first, with the stations running it."""
    return [_read(session, v) for v in repo.versions(session)]


def _assignment_read(a: StationModel, v: ModelVersion) -> AssignmentRead:
    return AssignmentRead(
        station=a.station_code,
        role=Role(a.role),
        name=v.name,
        version=v.version,
        sha256=v.sha256,
        since=a.since,
        until=a.until,
        by=a.by,
        reason=a.reason,
    )


def assign(*, session: Session, station: str, name: str, version: str, role: Role, actor: str, reason: str) -> AssignmentRead:
    """Put a version on a station live (promote) or in shadow, from now on; the one it replaces ends now."""
    v = repo.by_name_version(session, name, version)
    if v is None:
        raise NotFound(N_("no registered model %(name)s %(version)s"), name=name, version=version)
    now = utcnow()
    current = {a.role: (a, m) for a, m in repo.current(session, station)}
    held = current.get(role.value)
    if held is not None and held[1].id == v.id:
        raise Conflict(N_("station %(station)s already runs %(version)s %(role)s"), station=station, version=version, role=role)
    if role is Role.SHADOW and Role.LIVE.value in current and current[Role.LIVE.value][1].id == v.id:
        raise Conflict(N_("%(version)s is live at %(station)s: a shadow must be another model"), version=version, station=station)
    repo.end(session, station, role.value, now)
    if role is Role.LIVE and Role.SHADOW.value in current and current[Role.SHADOW.value][1].id == v.id:
        repo.end(session, station, Role.SHADOW.value, now)  # the shadow is promoted: it stops shadowing itself
    row = StationModel(station_code=station, role=role.value, model_version_id=v.id, since=now, by=actor, reason=reason)
    session.add(row)
    session.flush()
    audit(
        session=session,
        actor=actor,
        action="model.promote" if role is Role.LIVE else "model.shadow",
        entity="station",
        entity_id=station,
        before={role.value: f"{held[1].name} {held[1].version}" if held else None},
        after={role.value: f"{v.name} {v.version}", "sha256": v.sha256},
        reason=reason,
    )
    return _assignment_read(row, v)


def rollback(*, session: Session, station: str, actor: str, reason: str) -> AssignmentRead:
    """Return a station to the version it ran live before the current one (audited as a rollback)."""
    lives = [(a, v) for a, v in repo.history(session, station) if a.role == Role.LIVE]
    if not lives or lives[0][0].until is not None:
        raise NotFound(N_("station %(station)s runs no registered model live"), station=station)
    now_v = lives[0][1]
    before = next((v for a, v in lives[1:] if v.id != now_v.id), None)
    if before is None:
        raise Conflict(N_("station %(station)s has no earlier live model to return to"), station=station)
    now = utcnow()
    repo.end(session, station, Role.LIVE.value, now)
    row = StationModel(station_code=station, role=Role.LIVE.value, model_version_id=before.id, since=now, by=actor, reason=reason)
    session.add(row)
    session.flush()
    audit(
        session=session,
        actor=actor,
        action="model.rollback",
        entity="station",
        entity_id=station,
        before={"live": f"{now_v.name} {now_v.version}"},
        after={"live": f"{before.name} {before.version}", "sha256": before.sha256},
        reason=reason,
    )
    return _assignment_read(row, before)


def stop_shadow(*, session: Session, station: str, actor: str, reason: str) -> AssignmentRead:
    """End the station's shadow model now (audited); the edge stops running it within one poll."""
    current = {a.role: (a, v) for a, v in repo.current(session, station)}
    held = current.get(Role.SHADOW.value)
    if held is None:
        raise NotFound(N_("station %(station)s runs no shadow model"), station=station)
    now = utcnow()
    repo.end(session, station, Role.SHADOW.value, now)
    session.flush()
    audit(
        session=session,
        actor=actor,
        action="model.shadow_stop",
        entity="station",
        entity_id=station,
        before={"shadow": f"{held[1].name} {held[1].version}"},
        after={"shadow": None},
        reason=reason,
    )
    held[0].until = now
    return _assignment_read(*held)


def in_force(*, session: Session) -> list[AssignmentRead]:
    """Every station's live and shadow model now."""
    return [_assignment_read(a, v) for a, v in repo.current(session)]


def station_history(*, session: Session, station: str) -> list[AssignmentRead]:
    """Every model a station ran, newest first."""
    return [_assignment_read(a, v) for a, v in repo.history(session, station)]


def _file(v: ModelVersion) -> ModelFile:
    return ModelFile(name=v.name, version=v.version, sha256=v.sha256, size_bytes=v.size_bytes, metadata=v.meta)


def assignment(*, session: Session, station: str, device_id: str, key: bytes) -> ModelAssignment:
    """The station's live and shadow model, signed with the asking device's key (live None: keep your own)."""
    current = {a.role: v for a, v in repo.current(session, station)}
    live, shadow = current.get(Role.LIVE.value), current.get(Role.SHADOW.value)
    a = ModelAssignment(
        station=station,
        device_id=device_id,
        live=_file(live) if live else None,
        shadow=_file(shadow) if shadow else None,
        issued_at=utcnow(),
    )
    return sign_assignment(a, key)


def model_bytes(*, session: Session, blobs: BlobStore, sha256: str) -> bytes:
    """The ONNX file of a registered version."""
    if repo.by_sha(session, sha256) is None:
        raise NotFound(N_("no registered model file %(sha)s"), sha=sha256)
    return blobs.get(sha256)
