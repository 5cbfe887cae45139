"""The import step: MES / ERP rows into traceability, new shipments into the PPM roll-up, one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from services.metrics.ppm import add_shipments
from services.traceability import imports
from services.traceability.imports import parse_csv
from services.traceability.schemas import ImportKind, ImportReport, RowError


def import_rows(
    *, session: Session, kind: ImportKind, rows: Sequence[dict[str, Any]], actor: str, pre_errors: Sequence[RowError] = ()
) -> ImportReport:
    """All rows or none (see traceability.imports); shipments also count into the PPM denominator."""
    return imports.import_rows(
        session=session, kind=kind, rows=rows, actor=actor, pre_errors=pre_errors, on_shipped=add_shipments
    )


__all__ = ["import_rows", "parse_csv"]
