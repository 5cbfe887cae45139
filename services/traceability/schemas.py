"""Production context in and out: MES / ERP rows, import reports, containment."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from services.contracts.result import BARCODE_PATTERN, normalise_barcode
from services.core.time import plausible

CODE = r"^[A-Za-z0-9][A-Za-z0-9._/\-]{0,59}$"


class LotKind(StrEnum):
    """The materials whose lots a module's build records."""

    CELL = "cell"
    GLASS = "glass"
    EVA = "eva"
    POE = "poe"
    RIBBON = "ribbon"
    BACKSHEET = "backsheet"
    FRAME = "frame"
    JUNCTION_BOX = "junction_box"


LOT_KINDS = tuple(LotKind)


class MaterialSource(StrEnum):
    """How a lot got into a module: the MES build record, or a cell replaced at rework."""

    BUILD = "build"
    REWORK = "rework"


class ImportKind(StrEnum):
    """What an MES / ERP import carries (imported in this order: each refers to the ones before)."""

    PRODUCTS = "products"
    WORK_ORDERS = "work_orders"
    MATERIAL_LOTS = "material_lots"
    MODULE_BUILDS = "module_builds"
    SHIPMENTS = "shipments"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


Barcode = Annotated[
    str, BeforeValidator(lambda v: normalise_barcode(v) if isinstance(v, str) else v), Field(pattern=BARCODE_PATTERN)
]


class ProductIn(_In):
    code: str = Field(pattern=CODE, max_length=40)
    series: str = Field(min_length=1, max_length=40)
    cell_format: str = Field(min_length=1, max_length=40)
    grid: str = Field(pattern=r"^\d{1,2}x\d{1,2}$", description="cell grid of one string, RxC")
    strings: int = Field(default=6, ge=1, le=30)


class WorkOrderIn(_In):
    code: str = Field(pattern=CODE, max_length=40)
    product: str = Field(pattern=CODE, max_length=40)
    factory: str = Field(min_length=1, max_length=40)
    line: str = Field(min_length=1, max_length=40)
    planned_qty: int = Field(default=0, ge=0, le=10_000_000)


class MaterialLotIn(_In):
    """A material lot as the MES receives it (a module build may also name a lot it has not seen)."""

    code: str = Field(pattern=CODE, max_length=60)
    kind: LotKind
    supplier: str = Field(default="", max_length=80)


class ModuleBuildIn(_In):
    """A module's build record: its work order and the lots it consumed (kind -> lot code)."""

    barcode: Barcode
    work_order: str = Field(pattern=CODE, max_length=40)
    lots: dict[str, str] = Field(default_factory=dict, max_length=len(LOT_KINDS))

    @field_validator("lots")
    @classmethod
    def _lots(cls, v: dict[str, str]) -> dict[str, str]:
        for kind, code in v.items():
            if kind not in LOT_KINDS:
                raise ValueError(f"unknown lot kind {kind!r} (known: {', '.join(LOT_KINDS)})")
            if not re.fullmatch(CODE, code):
                raise ValueError(f"{kind} lot {code!r} is not a valid lot code")
        return v


class ShipmentIn(_In):
    barcode: Barcode
    customer: str = Field(min_length=1, max_length=80)
    delivery_no: str = Field(pattern=CODE, max_length=40)
    site: str = Field(default="", max_length=120)
    shipped_at: AwareDatetime

    @field_validator("shipped_at")
    @classmethod
    def _plausible(cls, v: datetime) -> datetime:
        return plausible(v, what="shipped_at")


class RowError(BaseModel):
    row: int = Field(description="1-based data row (the header is row 0)")
    field: str
    message: str


class ImportReport(BaseModel):
    """All rows or none: when any row is bad nothing is imported and every bad row is listed."""

    kind: str
    ok: bool
    rows: int
    imported: int
    unchanged: int
    errors: list[RowError]
    # Shipments of modules the gate blocks, imported anyway (ship_unreleased = flag): one row per module.
    flagged: list[RowError] = Field(default_factory=list)


class ShareDim(StrEnum):
    """What suspect modules may share with the rest of a containment result."""

    WORK_ORDER = "work_order"
    MATERIAL_LOT = "material_lot"
    STATION_SHIFT = "station_shift"


class ContainmentQuery(_In):
    """Given suspect barcodes (what they share) and / or direct criteria: the modules that match."""

    barcodes: list[str] = Field(default_factory=list, max_length=1000)
    share: list[ShareDim] = Field(default_factory=lambda: list(ShareDim))
    work_order: str | None = Field(default=None, max_length=40)
    lot: str | None = Field(default=None, max_length=60)
    station: str | None = Field(default=None, max_length=40)
    shift: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}/[A-Za-z0-9]{1,10}$")
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None


class ContainmentRow(BaseModel):
    barcode: str
    status: str
    grade: str
    product: str | None
    work_order: str | None
    customer: str | None
    delivery_no: str | None
    shipped_at: datetime | None
    matched_by: list[str]


class ContainmentResult(BaseModel):
    criteria: list[str]
    unknown_barcodes: list[str]
    total: int
    by_status: dict[str, int]
    by_customer: dict[str, int]
    offset: int
    limit: int
    items: list[ContainmentRow]


class ImportBody(BaseModel):
    """MES / ERP rows as JSON (validated row by row by the import)."""

    model_config = ConfigDict(extra="forbid")

    rows: list[dict[str, Any]] = Field(max_length=200_000)


class ImportRejected(BaseModel):
    """The usual error shape, plus the report listing every bad row."""

    error: str
    detail: str
    report: ImportReport | None = None  # absent when the file itself is unusable (not UTF-8, no header, ...)


class HoldResult(BaseModel):
    """What holding a containment result did."""

    matched: int
    held: int
    not_held: int = Field(description="already on hold, scrapped or shipped (shipped ones need a customer notification)")
