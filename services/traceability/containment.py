"""The reverse (containment) query: which modules share what the suspect ones share, and where are they now."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Select, literal, select, union_all
from sqlalchemy.orm import Session

from services.contracts import Stage
from services.core.errors import InvalidInput
from services.core.i18n import N_
from services.core.spreadsheet import safe_cell
from services.inspection.orm import Inspection, Module
from services.traceability.orm import MaterialLot, ModuleMaterial, Shipment, WorkOrder
from services.traceability.schemas import ContainmentQuery, ContainmentResult, ContainmentRow

MAX_MODULES = 250_000


def _criteria(session: Session, q: ContainmentQuery) -> tuple[list[tuple[str, Select[Any]]], list[str]]:
    """(label, select of module ids) per criterion, and the suspect barcodes that are unknown."""
    crit: list[tuple[str, Select[Any]]] = []
    unknown: list[str] = []
    if q.barcodes:
        known = dict(session.execute(select(Module.barcode, Module.id).where(Module.barcode.in_(q.barcodes))).all())
        unknown = [b for b in dict.fromkeys(q.barcodes) if b not in known]
        ids = list(known.values())
        if ids:
            crit.append(("suspect", select(Module.id).where(Module.id.in_(ids))))
        if ids and "work_order" in q.share:
            for code, wid in session.execute(
                select(WorkOrder.code, WorkOrder.id)
                .join(Module, Module.work_order_id == WorkOrder.id)
                .where(Module.id.in_(ids))
                .distinct()
            ).all():
                crit.append((f"work order {code}", select(Module.id).where(Module.work_order_id == wid)))
        if ids and "material_lot" in q.share:
            for code, kind, lid in session.execute(
                select(MaterialLot.code, MaterialLot.kind, MaterialLot.id)
                .join(ModuleMaterial, ModuleMaterial.lot_id == MaterialLot.id)
                .where(ModuleMaterial.module_id.in_(ids))
                .distinct()
            ).all():
                crit.append((f"{kind} lot {code}", select(ModuleMaterial.module_id).where(ModuleMaterial.lot_id == lid)))
        if ids and "station_shift" in q.share:
            for station, shift in session.execute(
                select(Inspection.station_code, Inspection.shift)
                .where(Inspection.module_id.in_(ids), Inspection.stage == Stage.STRING_EL, Inspection.shift.is_not(None))
                .distinct()
            ).all():
                crit.append((f"station {station} shift {shift}", _station_shift(station, shift)))
    if q.work_order:
        crit.append(
            (
                f"work order {q.work_order}",
                select(Module.id).join(WorkOrder, WorkOrder.id == Module.work_order_id).where(WorkOrder.code == q.work_order),
            )
        )
    if q.lot:
        crit.append(
            (
                f"lot {q.lot}",
                select(ModuleMaterial.module_id)
                .join(MaterialLot, MaterialLot.id == ModuleMaterial.lot_id)
                .where(MaterialLot.code == q.lot),
            )
        )
    if q.shift:
        if not q.station:
            raise InvalidInput(N_("a shift needs a station (the shift of which station?)"))
        crit.append((f"station {q.station} shift {q.shift}", _station_shift(q.station, q.shift)))
    elif q.since or q.until or q.station:
        if not (q.since and q.until):
            raise InvalidInput(N_("a station or time window query needs both since and until"))
        if q.until <= q.since:
            raise InvalidInput(N_("until must be after since"))
        stmt = select(Inspection.module_id).where(Inspection.captured_at >= q.since, Inspection.captured_at < q.until)
        label = f"{q.since:%Y-%m-%d %H:%M}..{q.until:%Y-%m-%d %H:%M}"
        if q.station:
            stmt, label = stmt.where(Inspection.station_code == q.station), f"station {q.station} {label}"
        crit.append((label, stmt))
    if not crit and not unknown:
        raise InvalidInput(N_("give suspect barcodes or at least one of work order, lot, station + shift, since + until"))
    return crit, unknown


def _station_shift(station: str, shift: str) -> Select[Any]:
    return select(Inspection.module_id).where(Inspection.station_code == station, Inspection.shift == shift)


def _matches(session: Session, crit: list[tuple[str, Select[Any]]]) -> dict[int, list[str]]:
    if not crit:
        return {}
    stmt = union_all(*(s.add_columns(literal(label)) for label, s in crit))
    out: dict[int, list[str]] = {}
    for mid, label in session.execute(stmt):
        labels = out.setdefault(mid, [])
        if label not in labels:
            labels.append(label)
        if len(out) > MAX_MODULES:
            raise InvalidInput(N_("more than %(n)s modules match: narrow the query"), n=f"{MAX_MODULES:,}")
    return out


def _rows(session: Session, ids: list[int]) -> Iterator[tuple[Any, ...]]:
    for i in range(0, len(ids), 5000):
        yield from session.execute(
            select(
                Module.id,
                Module.barcode,
                Module.status,
                Module.grade,
                Module.product_code,
                WorkOrder.code,
                Shipment.customer,
                Shipment.delivery_no,
                Shipment.shipped_at,
            )
            .outerjoin(WorkOrder, WorkOrder.id == Module.work_order_id)
            .outerjoin(Shipment, Shipment.module_id == Module.id)
            .where(Module.id.in_(ids[i : i + 5000]))
        ).all()


def containment(*, session: Session, query: ContainmentQuery, offset: int = 0, limit: int | None = 500) -> ContainmentResult:
    """The matching modules with where each is now; `limit=None` returns every row (CSV export)."""
    crit, unknown = _criteria(session, query)
    matches = _matches(session, crit)
    rows = [
        ContainmentRow(
            barcode=b,
            status=st,
            grade=g,
            product=p,
            work_order=wo,
            customer=c,
            delivery_no=d,
            shipped_at=at,
            matched_by=matches[mid],
        )
        for mid, b, st, g, p, wo, c, d, at in _rows(session, list(matches))
    ]
    rows.sort(key=lambda r: r.barcode)
    by_status = Counter(r.status for r in rows)
    by_customer = Counter(r.customer for r in rows if r.customer)
    page = rows[offset:] if limit is None else rows[offset : offset + limit]
    return ContainmentResult(
        criteria=[label for label, _ in crit],
        unknown_barcodes=unknown,
        total=len(rows),
        by_status=dict(sorted(by_status.items())),
        by_customer=dict(by_customer.most_common()),
        offset=offset,
        limit=len(rows) if limit is None else limit,
        items=page,
    )


def module_ids_of(session: Session, query: ContainmentQuery) -> list[int]:
    """Module ids matching a containment query (for putting the whole set on hold)."""
    crit, _ = _criteria(session, query)
    return sorted(_matches(session, crit))


CSV_COLUMNS = ["barcode", "status", "grade", "product", "work_order", "customer", "delivery_no", "shipped_at", "matched_by"]


def csv_lines(result: ContainmentResult) -> Iterator[list[str]]:
    """CSV rows (header first) of a containment result."""
    yield CSV_COLUMNS
    for r in result.items:
        # Customer, delivery and codes come from MES / ERP imports: neutralised, never run as formulas.
        yield [
            safe_cell(v)
            for v in (
                r.barcode,
                r.status,
                r.grade,
                r.product or "",
                r.work_order or "",
                r.customer or "",
                r.delivery_no or "",
                r.shipped_at.isoformat() if r.shipped_at else "",
                "; ".join(r.matched_by),
            )
        ]
