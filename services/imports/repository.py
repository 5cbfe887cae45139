"""Reads and the idempotent insert of MES messages."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.core.upsert import insert_ignore
from services.imports.orm import MesMessage


def message(session: Session, source: str, kind: str, mes_id: str) -> MesMessage | None:
    """The message a client already posted under this id, if any."""
    stmt = select(MesMessage).where(MesMessage.source == source, MesMessage.kind == kind, MesMessage.mes_id == mes_id)
    return session.scalars(stmt).first()


def claim(session: Session, row: dict[str, object]) -> bool:
    """Insert the message unless its (source, kind, id) exists; False: another transaction has it."""
    # RETURNING, not rowcount: a skipped row returns nothing on both databases, whatever the driver counts.
    table = MesMessage.__table__
    stmt = insert_ignore(session, table, ["source", "kind", "mes_id"]).values(**row).returning(table.c.id)  # type: ignore[attr-defined]
    return session.execute(stmt).first() is not None
