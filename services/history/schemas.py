"""The module record: one barcode's context, inspections, loops, holds, events, escapes, complaints, shipment."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from services.inspection.schemas import InspectionRead
from services.rework.schemas import EscapeRead, EventRead, HoldRead, LoopRead


class LotRead(BaseModel):
    """A material lot built into the module."""

    kind: str
    code: str
    supplier: str
    source: str


class ShipmentRead(BaseModel):
    """Where the module went."""

    model_config = ConfigDict(from_attributes=True)

    customer: str
    delivery_no: str
    site: str
    shipped_at: datetime


class ComplaintRef(BaseModel):
    """A customer complaint naming the module, with its 8D case."""

    number: str
    customer: str
    received_at: datetime
    symptom: str
    justified: bool | None
    case: str | None


class ModuleRecord(BaseModel):
    """Everything about one barcode: context, inspections, loops, holds, events, escapes, shipment."""

    barcode: str
    created_at: datetime
    status: str
    grade: str
    product: str | None
    series: str | None
    work_order: str | None
    factory: str | None
    line: str | None
    lots: list[LotRead]
    shipment: ShipmentRead | None
    latest_verdict_by_string: dict[int, str]
    inspections: list[InspectionRead]
    loops: list[LoopRead]
    holds: list[HoldRead]
    events: list[EventRead]
    escapes: list[EscapeRead]
    complaints: list[ComplaintRef] = Field(default_factory=list)
    # For people who may not read complaints (operators): how many there are, not who complained or why.
    complaints_not_shown: int = 0
