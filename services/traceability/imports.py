"""MES / ERP data in, by API rows or CSV: validate every row first, then write all or nothing."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.audit.service import record as audit
from services.core.errors import InvalidInput
from services.core.i18n import N_
from services.core.time import utcnow
from services.core.upsert import insert_ignore
from services.inspection.orm import Module
from services.inspection.schemas import ModuleStatus
from services.traceability.orm import MaterialLot, ModuleMaterial, Product, Shipment, WorkOrder
from services.traceability.schemas import (
    LOT_KINDS,
    ImportKind,
    ImportReport,
    MaterialLotIn,
    MaterialSource,
    ModuleBuildIn,
    ProductIn,
    RowError,
    ShipmentIn,
    WorkOrderIn,
)

MAX_ROWS = 200_000
_CHUNK = 5_000
Writer = Callable[..., list[Any]]  # (session, items, *, dry_run) -> row errors (dry run) or unchanged items
MODELS: dict[str, type[BaseModel]] = {
    "products": ProductIn,
    "work_orders": WorkOrderIn,
    "material_lots": MaterialLotIn,
    "module_builds": ModuleBuildIn,
    "shipments": ShipmentIn,
}


def parse_csv(kind: ImportKind, text: str) -> tuple[list[dict[str, Any]], list[RowError]]:
    """CSV text -> raw row dicts (module_builds: every `<kind>_lot` column becomes lots[kind])."""
    reader = csv.DictReader(io.StringIO(text))
    try:
        return _parse_rows(kind, reader)
    except csv.Error as exc:  # a bare carriage return or quote inside an unquoted value: refused, never a 500
        raise InvalidInput(
            N_("the CSV cannot be read at line %(line)s: a line break or quote inside a value that is not in quotes"),
            line=reader.line_num + 1,  # lines read before the one that failed
        ) from exc


def _parse_rows(kind: ImportKind, reader: csv.DictReader[str]) -> tuple[list[dict[str, Any]], list[RowError]]:
    if not reader.fieldnames:
        raise InvalidInput(N_("the CSV file is empty (a header row is required)"))
    fields = [f.strip() for f in reader.fieldnames]
    known = set(MODELS[kind].model_fields)
    lot_cols = [f for f in fields if f.endswith("_lot")] if kind == "module_builds" else []
    unknown = [f for f in fields if f not in known and f not in lot_cols]
    if unknown:
        raise InvalidInput(
            N_("unknown column(s) for %(kind)s: %(unknown)s; expected %(known)s"),
            kind=kind,
            unknown=", ".join(unknown),
            known=", ".join(sorted(known)),
        )
    rows: list[dict[str, Any]] = []
    errors: list[RowError] = []
    for n, raw in enumerate(reader, start=1):
        if n > MAX_ROWS:
            raise InvalidInput(N_("more than %(n)s rows: split the file"), n=f"{MAX_ROWS:,}")
        if None in raw:
            errors.append(RowError(row=n, field="*", message="more values than header columns"))
            continue
        row: dict[str, Any] = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        if kind == "module_builds":
            row["lots"] = {c[: -len("_lot")]: row.pop(c) for c in lot_cols if row.get(c)}
            for c in lot_cols:
                row.pop(c, None)
        rows.append({k: v for k, v in row.items() if v != "" or k in ("barcode",)})
    return rows, errors


ShippedHook = Callable[[Session, Sequence[int]], None]


def import_rows(
    *,
    session: Session,
    kind: ImportKind,
    rows: Sequence[dict[str, Any]],
    actor: str,
    pre_errors: Sequence[RowError] = (),
    on_shipped: ShippedHook | None = None,
) -> ImportReport:
    """Validate all rows (shape, references, conflicts); write them only when every row is good.

    on_shipped gets the ids of newly shipped modules, in the same transaction (the PPM roll-up
    is a metrics concern: services.imports passes it in, so traceability never imports metrics).
    """
    if len(rows) > MAX_ROWS:
        raise InvalidInput(N_("more than %(n)s rows: split the import"), n=f"{MAX_ROWS:,}")
    errors = list(pre_errors)
    items: list[tuple[int, Any]] = []
    for n, raw in enumerate(rows, start=1):
        try:
            items.append((n, MODELS[kind].model_validate(raw)))
        except ValidationError as exc:
            for e in exc.errors():
                errors.append(RowError(row=n, field=".".join(str(p) for p in e["loc"]) or "*", message=e["msg"]))
    writers: dict[str, Writer] = {
        "products": _products,
        "work_orders": _work_orders,
        "material_lots": _lots,
        "module_builds": _builds,
        "shipments": partial(_shipments, on_shipped=on_shipped),
    }
    writer = writers[kind]
    errors += writer(session, items, dry_run=True)
    if errors:
        errors.sort(key=lambda e: e.row)
        return ImportReport(kind=kind, ok=False, rows=len(rows), imported=0, unchanged=0, errors=errors)
    unchanged = writer(session, items, dry_run=False)
    session.flush()  # the next import in the same transaction (work orders after products) must see these rows
    imported = len(items) - len(unchanged)
    audit(
        session=session,
        actor=actor,
        action=f"import.{kind}",
        entity="import",
        entity_id=kind,
        after={"rows": len(rows), "imported": imported, "unchanged": len(unchanged)},
    )
    return ImportReport(kind=kind, ok=True, rows=len(rows), imported=imported, unchanged=len(unchanged), errors=[])


def _chunks(seq: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(seq), _CHUNK):
        yield seq[i : i + _CHUNK]


def _existing(session: Session, col: Any, keys: Iterable[str], *cols: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    keys = sorted(set(keys))
    for chunk in _chunks(keys):
        for row in session.execute(select(col, *cols).where(col.in_(chunk))).all():
            out[row[0]] = row if cols else row[0]
    return out


def _duplicates(items: Sequence[tuple[int, Any]], key: str) -> list[RowError]:
    seen: dict[str, int] = {}
    errs = []
    for n, it in items:
        k = getattr(it, key)
        if k in seen:
            errs.append(RowError(row=n, field=key, message=f"{key} {k} also on row {seen[k]}"))
        seen.setdefault(k, n)
    return errs


def _products(session: Session, items: Sequence[tuple[int, ProductIn]], *, dry_run: bool) -> list[Any]:
    existing = _existing(session, Product.code, [p.code for _, p in items])
    if dry_run:
        return _duplicates(items, "code")
    new = [p for _, p in items if p.code not in existing]
    for p in new:
        r, c = (int(x) for x in p.grid.split("x"))
        session.add(Product(code=p.code, series=p.series, cell_format=p.cell_format, grid_rows=r, grid_cols=c, strings=p.strings))
    return [p for _, p in items if p.code in existing]


def _work_orders(session: Session, items: Sequence[tuple[int, WorkOrderIn]], *, dry_run: bool) -> list[Any]:
    existing = _existing(session, WorkOrder.code, [w.code for _, w in items], WorkOrder.product_code, WorkOrder.line)
    if dry_run:
        products = _existing(session, Product.code, [w.product for _, w in items])
        errs = _duplicates(items, "code")
        for n, w in items:
            if w.product not in products:
                errs.append(RowError(row=n, field="product", message=f"unknown product {w.product}"))
            old = existing.get(w.code)
            if old is not None and (old[1], old[2]) != (w.product, w.line):
                errs.append(
                    RowError(row=n, field="code", message=f"work order {w.code} exists with product {old[1]}, line {old[2]}")
                )
        return errs
    new = [w for _, w in items if w.code not in existing]
    session.add_all(
        WorkOrder(code=w.code, product_code=w.product, factory=w.factory, line=w.line, planned_qty=w.planned_qty) for w in new
    )
    return [w for _, w in items if w.code in existing]


def _lots(session: Session, items: Sequence[tuple[int, MaterialLotIn]], *, dry_run: bool) -> list[Any]:
    existing = _existing(session, MaterialLot.code, [lot.code for _, lot in items], MaterialLot.kind, MaterialLot.supplier)
    if dry_run:
        errs = _duplicates(items, "code")
        for n, lot in items:
            old = existing.get(lot.code)
            if old is not None and old[1] != lot.kind:
                errs.append(RowError(row=n, field="kind", message=f"lot {lot.code} exists as a {old[1]} lot"))
            if old is not None and old[2] and lot.supplier and old[2] != lot.supplier:
                errs.append(RowError(row=n, field="supplier", message=f"lot {lot.code} exists with supplier {old[2]}"))
        return errs
    unchanged = []
    for _, lot in items:
        old = existing.get(lot.code)
        if old is None:
            session.add(MaterialLot(code=lot.code, kind=lot.kind.value, supplier=lot.supplier))
        elif lot.supplier and not old[2]:
            # A build may have named the lot before the MES sent it: the lot record fills in its supplier.
            session.execute(
                MaterialLot.__table__.update().where(MaterialLot.__table__.c.code == lot.code).values(supplier=lot.supplier)
            )
        else:
            unchanged.append(lot)
    return unchanged


def _builds(session: Session, items: Sequence[tuple[int, ModuleBuildIn]], *, dry_run: bool) -> list[Any]:
    orders = _existing(session, WorkOrder.code, [b.work_order for _, b in items], WorkOrder.id, WorkOrder.product_code)
    modules = _existing(session, Module.barcode, [b.barcode for _, b in items], Module.id, Module.work_order_id)
    lots = _existing(session, MaterialLot.code, [c for _, b in items for c in b.lots.values()], MaterialLot.kind)
    if dry_run:
        errs = _duplicates(items, "barcode")
        order_ids = {v[1]: k for k, v in orders.items()}
        for n, b in items:
            if b.work_order not in orders:
                errs.append(RowError(row=n, field="work_order", message=f"unknown work order {b.work_order}"))
            m = modules.get(b.barcode)
            if m is not None and m[2] is not None and order_ids.get(m[2]) != b.work_order:
                errs.append(
                    RowError(row=n, field="work_order", message=f"module {b.barcode} already belongs to another work order")
                )
            for kind, code in b.lots.items():
                if code in lots and lots[code][1] != kind:
                    errs.append(RowError(row=n, field=f"{kind}_lot", message=f"lot {code} is a {lots[code][1]} lot"))
        return errs
    now = utcnow()
    unchanged = [b for _, b in items if b.barcode in modules and modules[b.barcode][2] == orders[b.work_order][1] and not b.lots]
    new_lots = {code: kind for _, b in items for kind, code in b.lots.items() if code not in lots}
    for chunk in _chunks(sorted(new_lots)):
        session.execute(
            insert_ignore(session, MaterialLot.__table__, ["code"]),
            [{"code": c, "kind": new_lots[c], "supplier": ""} for c in chunk],
        )
    lot_ids = _existing(session, MaterialLot.code, [c for _, b in items for c in b.lots.values()], MaterialLot.id)
    for chunk in _chunks([b for _, b in items]):
        session.execute(
            insert_ignore(session, Module.__table__, ["barcode"]), [{"barcode": b.barcode, "created_at": now} for b in chunk]
        )
    ids = _existing(session, Module.barcode, [b.barcode for _, b in items], Module.id)
    for _, b in items:
        session.execute(
            Module.__table__.update()
            .where(Module.__table__.c.id == ids[b.barcode][1])
            .values(work_order_id=orders[b.work_order][1], product_code=orders[b.work_order][2])
        )
    links = [
        {"module_id": ids[b.barcode][1], "lot_id": lot_ids[code][1], "source": MaterialSource.BUILD, "recorded_at": now}
        for _, b in items
        for code in b.lots.values()
    ]
    for chunk in _chunks(links):
        session.execute(insert_ignore(session, ModuleMaterial.__table__, ["module_id", "lot_id"]), list(chunk))
    return unchanged


def _shipments(
    session: Session, items: Sequence[tuple[int, ShipmentIn]], *, dry_run: bool, on_shipped: ShippedHook | None = None
) -> list[Any]:
    modules = _existing(session, Module.barcode, [s.barcode for _, s in items], Module.id, Module.status)
    shipped = {
        mid: (delivery, at)
        for chunk in _chunks([m[1] for m in modules.values()])
        for mid, delivery, at in session.execute(
            select(Shipment.module_id, Shipment.delivery_no, Shipment.shipped_at).where(Shipment.module_id.in_(chunk))
        ).all()
    }
    if dry_run:
        errs = _duplicates(items, "barcode")
        for n, s in items:
            m = modules.get(s.barcode)
            if m is None:
                errs.append(RowError(row=n, field="barcode", message=f"unknown barcode {s.barcode}: never built or inspected"))
                continue
            if m[2] in (ModuleStatus.HOLD, ModuleStatus.SCRAPPED):
                errs.append(RowError(row=n, field="barcode", message=f"module {s.barcode} is {m[2]}: it may not ship"))
            old = shipped.get(m[1])
            if old is not None and old[0] != s.delivery_no:
                errs.append(
                    RowError(row=n, field="delivery_no", message=f"module {s.barcode} already shipped in delivery {old[0]}")
                )
        return errs
    new = [s for _, s in items if modules[s.barcode][1] not in shipped]
    for chunk in _chunks(new):
        session.execute(
            Shipment.__table__.insert(),
            [
                {
                    "module_id": modules[s.barcode][1],
                    "customer": s.customer,
                    "delivery_no": s.delivery_no,
                    "site": s.site,
                    "shipped_at": s.shipped_at,
                    "recorded_at": utcnow(),
                }
                for s in chunk
            ],
        )
        session.execute(
            Module.__table__.update()
            .where(Module.__table__.c.id.in_([modules[s.barcode][1] for s in chunk]))
            .values(status=ModuleStatus.SHIPPED)
        )
    if on_shipped is not None:
        on_shipped(session, [modules[s.barcode][1] for s in new])
    return [s for _, s in items if modules[s.barcode][1] in shipped]


__all__ = ["LOT_KINDS", "MAX_ROWS", "ShippedHook", "import_rows", "parse_csv"]
