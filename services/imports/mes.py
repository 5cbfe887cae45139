"""MES in, one message at a time: the same rules as the batch imports, idempotent by the MES's own id."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from services.core.errors import Conflict
from services.core.i18n import N_
from services.core.time import utcnow
from services.imports import repository as repo
from services.imports.orm import MesMessage
from services.imports.rows import ShipUnreleased, import_rows
from services.traceability.schemas import ImportKind, ImportReport, RowError


class MesPost(BaseModel):
    """One MES message: the MES's own id for it, and one row as the batch import takes it."""

    mes_id: str = Field(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$", description="the MES's own message id")
    row: dict[str, Any]


class MesAnswer(BaseModel):
    """How the message landed; a resent message gets its first answer again, with replayed = true."""

    mes_id: str
    kind: ImportKind
    outcome: str = Field(description="imported | unchanged | flagged")
    replayed: bool
    received_at: datetime
    flagged: list[RowError] = Field(default_factory=list)


class MesRejected(Exception):
    """The row broke an import rule: the caller rolls back, and the id stays free for a corrected message."""

    def __init__(self, report: ImportReport) -> None:
        super().__init__("; ".join(e.message for e in report.errors))
        self.report = report


def _sha(row: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(row, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def post(
    *,
    session: Session,
    source: str,
    kind: ImportKind,
    message: MesPost,
    ship_unreleased: ShipUnreleased = "refuse",
    gate_checks: Mapping[str, Sequence[str]] | None = None,
) -> MesAnswer:
    """Apply one message, or answer a resent one as the first time; the same id with other content is a conflict.

    Raises MesRejected when the row breaks an import rule: the caller rolls back, which frees the id again.
    """
    sha = _sha(message.row)
    key = (source, kind.value, message.mes_id)
    first = repo.message(session, *key)
    if first is None:
        now = utcnow()
        row = {"source": source, "kind": kind.value, "mes_id": message.mes_id, "payload_sha256": sha, "outcome": ""}
        # Claimed before it is applied: a copy arriving at the same moment waits here for this one's
        # commit, and then gets its answer instead of applying the row a second time.
        if repo.claim(session, {**row, "received_at": now}):
            return _apply(session, source, kind, message, now, ship_unreleased, gate_checks)
        first = repo.message(session, *key)
        assert first is not None
    return _replay(first, kind, sha)


def _apply(
    session: Session,
    source: str,
    kind: ImportKind,
    message: MesPost,
    now: datetime,
    ship_unreleased: ShipUnreleased,
    gate_checks: Mapping[str, Sequence[str]] | None,
) -> MesAnswer:
    report = import_rows(
        session=session,
        kind=kind,
        rows=[message.row],
        actor=f"mes:{source}",
        ship_unreleased=ship_unreleased,
        gate_checks=gate_checks,
    )
    if not report.ok:
        raise MesRejected(report)
    outcome = "flagged" if report.flagged else ("imported" if report.imported else "unchanged")
    stored = repo.message(session, source, kind.value, message.mes_id)
    assert stored is not None
    stored.outcome = outcome
    return MesAnswer(mes_id=message.mes_id, kind=kind, outcome=outcome, replayed=False, received_at=now, flagged=report.flagged)


def _replay(first: MesMessage, kind: ImportKind, sha: str) -> MesAnswer:
    mes_id = first.mes_id
    if first.payload_sha256 != sha:
        raise Conflict(
            N_("%(kind)s message %(id)s was received at %(at)s with other content; a changed record needs a new message id"),
            kind=kind,
            id=mes_id,
            at=first.received_at.isoformat(),
        )
    return MesAnswer(mes_id=mes_id, kind=kind, outcome=first.outcome, replayed=True, received_at=first.received_at)
