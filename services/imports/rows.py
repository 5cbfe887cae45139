"""The import step: MES / ERP rows into traceability, new shipments through the gate and into the PPM roll-up, one transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy.orm import Session

from services.gate import service as gate
from services.gate.schemas import Reason
from services.metrics.ppm import add_shipments
from services.traceability import imports
from services.traceability.imports import parse_csv
from services.traceability.schemas import ImportKind, ImportReport, RowError, ShipmentIn

ShipUnreleased = Literal["refuse", "flag"]


def import_rows(
    *,
    session: Session,
    kind: ImportKind,
    rows: Sequence[dict[str, Any]],
    actor: str,
    pre_errors: Sequence[RowError] = (),
    ship_unreleased: ShipUnreleased = "refuse",
    gate_checks: Mapping[str, Sequence[str]] | None = None,
) -> ImportReport:
    """All rows or none (see traceability.imports); a shipment of a module the gate blocks is refused or flagged."""
    if kind != "shipments":
        return imports.import_rows(session=session, kind=kind, rows=rows, actor=actor, pre_errors=pre_errors)
    blocked = _blocked(session, rows, gate_checks)
    if ship_unreleased == "refuse":
        refusals = [
            RowError(row=n, field="barcode", message=f"module {bc} may not ship: {_say(reasons)}")
            for n, (bc, _dn, reasons) in blocked.items()
        ]
        return imports.import_rows(
            session=session, kind=kind, rows=rows, actor=actor, pre_errors=[*pre_errors, *refusals], on_shipped=add_shipments
        )
    report = imports.import_rows(
        session=session, kind=kind, rows=rows, actor=actor, pre_errors=pre_errors, on_shipped=add_shipments
    )
    if not report.ok:
        return report
    for n, (bc, dn, reasons) in blocked.items():
        gate.flag_shipment(session=session, barcode=bc, delivery_no=dn, reasons=reasons, actor=actor)
        report.flagged.append(RowError(row=n, field="barcode", message=f"module {bc} shipped unreleased: {_say(reasons)}"))
    return report


def _blocked(
    session: Session, rows: Sequence[dict[str, Any]], config: Mapping[str, Sequence[str]] | None
) -> dict[int, tuple[str, str, list[Reason]]]:
    """Row number -> (barcode, delivery, reasons) for each well-formed row whose module the gate blocks."""
    out: dict[int, tuple[str, str, list[Reason]]] = {}
    seen: set[str] = set()
    for n, raw in enumerate(rows, start=1):
        try:
            row = ShipmentIn.model_validate(raw)
        except ValidationError:
            continue  # the import itself reports the bad row
        if row.barcode in seen:
            continue  # a duplicate row is the import's error, not a second refusal
        seen.add(row.barcode)
        reasons = gate.shipment_reasons(session=session, barcode=row.barcode, config=config)
        if reasons:
            out[n] = (row.barcode, row.delivery_no, reasons)
    return out


def _say(reasons: Sequence[Reason]) -> str:
    return "; ".join(f"{r.detail} ({r.action})" for r in reasons)


__all__ = ["ShipUnreleased", "import_rows", "parse_csv"]
