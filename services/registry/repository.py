"""Queries of the model registry (SQLAlchemy 2 select())."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.registry.orm import ModelVersion, StationModel


def by_sha(session: Session, sha256: str) -> ModelVersion | None:
    """The version whose file has this sha256."""
    return session.scalar(select(ModelVersion).where(ModelVersion.sha256 == sha256))


def by_name_version(session: Session, name: str, version: str) -> ModelVersion | None:
    """A version by name and version."""
    return session.scalar(select(ModelVersion).where(ModelVersion.name == name, ModelVersion.version == version))


def versions(session: Session) -> Sequence[ModelVersion]:
    """Every registered version, newest first."""
    return session.scalars(select(ModelVersion).order_by(ModelVersion.registered_at.desc(), ModelVersion.id.desc())).all()


def current(session: Session, station: str | None = None) -> Sequence[tuple[StationModel, ModelVersion]]:
    """Assignments in force (of one station, or all), with their versions."""
    stmt = (
        select(StationModel, ModelVersion)
        .join(ModelVersion, ModelVersion.id == StationModel.model_version_id)
        .where(StationModel.until.is_(None))
    )
    if station is not None:
        stmt = stmt.where(StationModel.station_code == station)
    return [(a, v) for a, v in session.execute(stmt.order_by(StationModel.station_code, StationModel.role)).all()]


def history(session: Session, station: str) -> Sequence[tuple[StationModel, ModelVersion]]:
    """Every assignment a station had, newest first."""
    stmt = (
        select(StationModel, ModelVersion)
        .join(ModelVersion, ModelVersion.id == StationModel.model_version_id)
        .where(StationModel.station_code == station)
        .order_by(StationModel.since.desc(), StationModel.id.desc())
    )
    return [(a, v) for a, v in session.execute(stmt).all()]


def end(session: Session, station: str, role: str, at: datetime) -> None:
    """Close the station's assignment in this role (if any)."""
    session.execute(
        update(StationModel)
        .where(StationModel.station_code == station, StationModel.role == role, StationModel.until.is_(None))
        .values(until=at)
    )


def by_version(session: Session, version: str) -> ModelVersion | None:
    """The newest registered version with this version string (results name the version, not always the name)."""
    stmt = select(ModelVersion).where(ModelVersion.version == version)
    return session.scalar(stmt.order_by(ModelVersion.registered_at.desc(), ModelVersion.id.desc()).limit(1))
