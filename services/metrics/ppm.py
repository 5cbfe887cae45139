"""Complaint PPM: distinct modules in (justified) complaints / modules shipped x 1,000,000, by a versioned definition."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.audit.service import record as audit
from services.complaints.orm import Complaint, ComplaintModule, Discipline, EightDCase
from services.core.errors import InvalidInput
from services.core.i18n import N_
from services.core.time import utcnow
from services.inspection.orm import Module
from services.metrics.orm import PpmDefinition, ShipmentMonth
from services.metrics.schemas import Attribution, DenominatorWindow, NumeratorStatus, PpmGroup
from services.traceability.orm import Product, Shipment, WorkOrder

GroupBy = PpmGroup
NUMERATORS = tuple(NumeratorStatus)
WINDOWS = tuple(DenominatorWindow)
ATTRIBUTIONS = tuple(Attribution)
TARGET_PPM = 8.0


def month_of(at: datetime) -> str:
    """'YYYY-MM' of an aware UTC timestamp."""
    return f"{at.year:04d}-{at.month:02d}"


def months_between(first: str, last: str) -> list[str]:
    """Inclusive list of months 'YYYY-MM'."""
    y, m = int(first[:4]), int(first[5:])
    out = []
    while f"{y:04d}-{m:02d}" <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def shift_month(month: str, delta: int) -> str:
    """The month `delta` months after (before, if negative) 'YYYY-MM'."""
    y, m = int(month[:4]), int(month[5:]) - 1 + delta
    return f"{y + m // 12:04d}-{m % 12 + 1:02d}"


# ---- definitions ---------------------------------------------------------------------------------


def active_definition(session: Session, version: int | None = None) -> PpmDefinition:
    """The newest definition (or a given version)."""
    stmt = select(PpmDefinition)
    stmt = stmt.where(PpmDefinition.version == version) if version else stmt.order_by(PpmDefinition.version.desc())
    d = session.scalars(stmt.limit(1)).first()
    if d is None:
        if version:
            raise InvalidInput(N_("no PPM definition version %(version)s"), version=version)
        raise InvalidInput(N_("no PPM definition (run eltrace db migrate)"))
    return d


def new_definition(
    *, session: Session, numerator_status: str, denominator_window: str, attribution: str, note: str, actor: str
) -> PpmDefinition:
    """A new version; old figures keep naming the version that made them."""
    if numerator_status not in NUMERATORS or denominator_window not in WINDOWS or attribution not in ATTRIBUTIONS:
        raise InvalidInput(
            N_("numerator one of %(numerators)s, window one of %(windows)s, attribution one of %(attributions)s"),
            numerators=", ".join(NUMERATORS),
            windows=", ".join(WINDOWS),
            attributions=", ".join(ATTRIBUTIONS),
        )
    last = session.scalar(select(func.max(PpmDefinition.version))) or 0
    d = PpmDefinition(
        version=last + 1,
        numerator_status=numerator_status,
        denominator_window=denominator_window,
        attribution=attribution,
        note=note[:500],
        created_by=actor,
    )
    session.add(d)
    session.flush()
    audit(
        session=session,
        actor=actor,
        action="ppm.definition",
        entity="ppm_definition",
        entity_id=str(d.version),
        after={"numerator": numerator_status, "window": denominator_window, "attribution": attribution},
    )
    return d


def definitions(session: Session) -> list[PpmDefinition]:
    """Every version, newest first."""
    return list(session.scalars(select(PpmDefinition).order_by(PpmDefinition.version.desc())))


# ---- the shipment roll-up ------------------------------------------------------------------------


def _upsert_increment(session: Session, rows: list[dict[str, Any]]) -> None:
    name = session.get_bind().dialect.name
    ins = (postgresql.insert if name == "postgresql" else sqlite.insert)(ShipmentMonth.__table__)
    stmt = ins.on_conflict_do_update(
        index_elements=["month", "customer", "product_code", "factory"],
        set_={"shipped": ShipmentMonth.__table__.c.shipped + ins.excluded.shipped},
    )
    session.execute(stmt, rows)


def add_shipments(session: Session, module_ids: Sequence[int]) -> None:
    """Count newly recorded shipments into the monthly roll-up (same transaction as the shipments)."""
    counts: dict[tuple[str, str, str, str], int] = defaultdict(int)
    for i in range(0, len(module_ids), 5000):
        for shipped_at, customer, product, factory in session.execute(
            select(Shipment.shipped_at, Shipment.customer, Module.product_code, WorkOrder.factory)
            .join(Module, Module.id == Shipment.module_id)
            .outerjoin(WorkOrder, WorkOrder.id == Module.work_order_id)
            .where(Shipment.module_id.in_(module_ids[i : i + 5000]))
        ):
            counts[(month_of(shipped_at), customer, product or "", factory or "")] += 1
    if counts:
        _upsert_increment(
            session,
            [{"month": k[0], "customer": k[1], "product_code": k[2], "factory": k[3], "shipped": n} for k, n in counts.items()],
        )


def rebuild_rollup(session: Session) -> int:
    """Recount the roll-up from the shipment table (reconciliation); returns the number of shipments."""
    name = session.get_bind().dialect.name
    month = (
        func.to_char(func.timezone("UTC", Shipment.shipped_at), "YYYY-MM")
        if name == "postgresql"
        else func.substr(Shipment.shipped_at, 1, 7)
    )
    session.execute(delete(ShipmentMonth))
    grouped = (
        select(
            month.label("month"),
            Shipment.customer,
            func.coalesce(Module.product_code, ""),
            func.coalesce(WorkOrder.factory, ""),
            func.count(Shipment.id),
        )
        .join(Module, Module.id == Shipment.module_id)
        .outerjoin(WorkOrder, WorkOrder.id == Module.work_order_id)
        .group_by(month, Shipment.customer, Module.product_code, WorkOrder.factory)
    )
    session.execute(insert(ShipmentMonth).from_select(["month", "customer", "product_code", "factory", "shipped"], grouped))
    return int(session.scalar(select(func.coalesce(func.sum(ShipmentMonth.shipped), 0))) or 0)


# ---- the figures ---------------------------------------------------------------------------------


class PpmRow(BaseModel):
    month: str
    group: str | None
    complained_modules: int
    shipped: int
    ppm: float | None  # None: nothing shipped in the window (no figure, not zero)
    rolling12_complained: int
    rolling12_shipped: int
    rolling12_ppm: float | None


class PpmReport(BaseModel):
    definition_version: int
    definition: dict[str, str]
    group_by: str | None
    first_month: str
    last_month: str
    target_ppm: float
    rows: list[PpmRow]
    excluded_not_shipped: int  # complained modules with no shipment record: not counted (cannot be a field failure of a shipment)
    excluded_unknown: int  # complained barcodes traceability does not know


def _group_key(group_by: GroupBy | None, customer: str, product: str, factory: str, series: dict[str, str]) -> str | None:
    if group_by == PpmGroup.CUSTOMER:
        return customer
    if group_by == PpmGroup.PRODUCT:
        return series.get(product, product or "?")
    if group_by == PpmGroup.FACTORY:
        return factory or "?"
    return None


def ppm(
    *,
    session: Session,
    first_month: str,
    last_month: str,
    group_by: GroupBy | None = None,
    version: int | None = None,
    customer: str | None = None,
) -> PpmReport:
    """Monthly and rolling-12-month complaint PPM from first_month to last_month ('YYYY-MM')."""
    for m in (first_month, last_month):
        if len(m) != 7 or m[4] != "-" or not (m[:4] + m[5:]).isdigit() or not 1 <= int(m[5:]) <= 12:
            raise InvalidInput(N_("months are YYYY-MM, got %(month)s"), month=m)
    months = months_between(first_month, last_month)
    if not months or len(months) > 120:
        raise InvalidInput(N_("give 1 to 120 months, first before last"))
    d = active_definition(session, version)
    series = dict(session.execute(select(Product.code, Product.series)).all())
    since = shift_month(first_month, -11)  # rolling windows and trailing denominators look back 11 months
    # Denominator: the roll-up (a few thousand rows for years of shipments), never the shipment table.
    den: dict[tuple[str, str | None], int] = defaultdict(int)
    stmt = select(
        ShipmentMonth.month, ShipmentMonth.customer, ShipmentMonth.product_code, ShipmentMonth.factory, ShipmentMonth.shipped
    ).where(ShipmentMonth.month >= since, ShipmentMonth.month <= last_month)
    if customer:
        stmt = stmt.where(ShipmentMonth.customer == customer)
    for month, cust, prod, fac, n in session.execute(stmt):
        den[(month, _group_key(group_by, cust, prod, fac, series))] += int(n)
    # Numerator: complained modules of the counted complaints, with their shipment.
    status = (
        Complaint.justified.is_(True) if d.numerator_status == NumeratorStatus.JUSTIFIED else Complaint.justified.is_not(False)
    )
    cstmt = (
        select(
            ComplaintModule.module_id,
            Complaint.received_at,
            Shipment.shipped_at,
            Shipment.customer,
            Module.product_code,
            WorkOrder.factory,
        )
        .join(Complaint, Complaint.id == ComplaintModule.complaint_id)
        .outerjoin(Module, Module.id == ComplaintModule.module_id)
        .outerjoin(Shipment, Shipment.module_id == ComplaintModule.module_id)
        .outerjoin(WorkOrder, WorkOrder.id == Module.work_order_id)
        .where(status)
    )
    num: dict[tuple[str, str | None], set[int]] = defaultdict(set)
    not_shipped: set[int] = set()
    unknown = 0
    for mid, received, shipped, cust, prod, fac in session.execute(cstmt):
        if mid is None:
            unknown += 1
            continue
        if shipped is None:
            not_shipped.add(mid)
            continue
        if customer and cust != customer:
            continue
        month = month_of(received) if d.attribution == Attribution.COMPLAINT_DATE else month_of(shipped)
        if since <= month <= last_month:
            num[(month, _group_key(group_by, cust, prod or "", fac or "", series))].add(mid)
    groups = sorted({g for _, g in den} | {g for _, g in num}, key=lambda g: g or "") or [None]
    rows = []
    for month in months:
        window = [shift_month(month, -k) for k in range(12)]
        for g in groups:
            c = len(num.get((month, g), ()))
            s_same = den.get((month, g), 0)
            s_window = sum(den.get((w, g), 0) for w in window)
            shipped = s_same if d.denominator_window == DenominatorWindow.SAME_PERIOD else s_window
            c12 = len(set().union(*(num.get((w, g), set()) for w in window)))
            if not (c or shipped or c12 or s_window) and group_by:
                continue
            rows.append(
                PpmRow(
                    month=month,
                    group=g,
                    complained_modules=c,
                    shipped=shipped,
                    ppm=c / shipped * 1e6 if shipped else None,
                    rolling12_complained=c12,
                    rolling12_shipped=s_window,
                    rolling12_ppm=c12 / s_window * 1e6 if s_window else None,
                )
            )
    return PpmReport(
        definition_version=d.version,
        definition={"numerator": d.numerator_status, "denominator": d.denominator_window, "attribution": d.attribution},
        group_by=group_by,
        first_month=first_month,
        last_month=last_month,
        target_ppm=TARGET_PPM,
        rows=rows,
        excluded_not_shipped=len(not_shipped),
        excluded_unknown=unknown,
    )


class ResponseStats(BaseModel):
    complaints_by_month: dict[str, int]
    justified_by_month: dict[str, int]
    cases: int
    first_response_hours_median: float | None
    first_response_within_target: float | None  # share of cases answered (D0-D3) within the target
    closure_days_median: float | None
    closure_within_target: float | None
    open_overdue: int
    first_response_target_h: int
    closure_target_days: int


def response_stats(
    *, session: Session, first_month: str, last_month: str, first_response_h: int, closure_h: int
) -> ResponseStats:
    """Complaint counts and 8D response / closure times against their targets, for complaints received in the months."""
    counts: dict[str, int] = defaultdict(int)
    justified: dict[str, int] = defaultdict(int)
    case_ids: set[int] = set()
    for received, is_justified, case_id in session.execute(select(Complaint.received_at, Complaint.justified, Complaint.case_id)):
        m = month_of(received)
        if first_month <= m <= last_month:
            counts[m] += 1
            justified[m] += 1 if is_justified else 0
            if case_id:
                case_ids.add(case_id)
    cases = list(session.scalars(select(EightDCase).where(EightDCase.id.in_(case_ids)))) if case_ids else []
    first = sorted((c.first_response_at - c.opened_at).total_seconds() / 3600 for c in cases if c.first_response_at)
    closed = sorted((c.closed_at - c.opened_at).total_seconds() / 86400 for c in cases if c.closed_at)
    now = utcnow()
    late = session.scalar(
        select(func.count(func.distinct(Discipline.case_id))).where(
            Discipline.case_id.in_(case_ids or {-1}), Discipline.status != "completed", Discipline.due_at < now
        )
    )
    return ResponseStats(
        complaints_by_month={m: counts.get(m, 0) for m in months_between(first_month, last_month)},
        justified_by_month={m: justified.get(m, 0) for m in months_between(first_month, last_month)},
        cases=len(cases),
        first_response_hours_median=first[len(first) // 2] if first else None,
        first_response_within_target=sum(1 for h in first if h <= first_response_h) / len(first) if first else None,
        closure_days_median=closed[len(closed) // 2] if closed else None,
        closure_within_target=sum(1 for dd in closed if dd * 24 <= closure_h) / len(closed) if closed else None,
        open_overdue=int(late or 0),
        first_response_target_h=first_response_h,
        closure_target_days=closure_h // 24,
    )
