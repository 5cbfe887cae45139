"""Modules, their EL inspections and the defective cells found."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, SmallInteger, String, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from services.core.db import Base
from services.core.time import UTCDateTime, utcnow
from services.inspection.schemas import ModuleStatus


class Module(Base):
    """A PV module, known by its barcode."""

    __tablename__ = "module"

    id: Mapped[int] = mapped_column(primary_key=True)
    barcode: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Production context (from the MES; NULL until it is imported).
    product_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_order.id"), nullable=True, index=True)
    # Where the module is now (ModuleStatus; the rework loop and the imports move it).
    status: Mapped[str] = mapped_column(String(10), default=ModuleStatus.WIP, server_default=ModuleStatus.WIP.value)
    grade: Mapped[str] = mapped_column(String(2), default="A", server_default="A")

    inspections: Mapped[list[Inspection]] = relationship(back_populates="module", lazy="raise")


class Inspection(Base):
    """One judged (or unjudgeable) string EL image; result_id makes ingest idempotent."""

    __tablename__ = "inspection"
    __table_args__ = (
        Index("ix_inspection_module_captured", "module_id", "captured_at"),
        Index("ix_inspection_station_shift", "station_code", "shift"),
        # The dashboard's Pareto reads a window's NG images only (about 1 in 100).
        Index(
            "ix_inspection_ng_captured", "captured_at", postgresql_where=text("ng_cells > 0"), sqlite_where=text("ng_cells > 0")
        ),
        # The EL review queue: the few REVIEW images of a station, oldest first.
        Index(
            "ix_inspection_review_waiting",
            "station_code",
            "captured_at",
            postgresql_where=text("verdict = 'REVIEW'"),
            sqlite_where=text("verdict = 'REVIEW'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    result_id: Mapped[str] = mapped_column(String(36), unique=True)
    module_id: Mapped[int] = mapped_column(ForeignKey("module.id"))
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id"), index=True)
    station_code: Mapped[str] = mapped_column(String(40))
    string_position: Mapped[int] = mapped_column(SmallInteger)
    stage: Mapped[str] = mapped_column(String(30))
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    shift: Mapped[str | None] = mapped_column(String(20), nullable=True)  # "2026-11-25/C" (shift calendar)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    recipe: Mapped[str] = mapped_column(String(60))
    grid_rows: Mapped[int] = mapped_column(SmallInteger)
    grid_cols: Mapped[int] = mapped_column(SmallInteger)
    model_name: Mapped[str] = mapped_column(String(100))
    model_version: Mapped[str] = mapped_column(String(50))
    model_sha256: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(6))  # OK / REVIEW / NG / ERROR (services.contracts.Verdict)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    ng_cells: Mapped[int] = mapped_column(SmallInteger, default=0)
    review_cells: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    # v2 results: every cell's [row, col, decision, p_defect, top_class, top_score], OK cells too, so the
    # score distribution per station / model can be monitored and an OK verdict audited later.
    cell_scores: Mapped[list[list[Any]] | None] = mapped_column(JSON, nullable=True)
    # v3 results: the station's shadow model on the same image (its version, verdict, every cell's
    # [row, col, decision, p_defect, top_class, top_score], time), never acted on; compared in the reports.
    shadow_version: Mapped[str | None] = mapped_column(String(50), nullable=True)
    shadow: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    image_sha256: Mapped[str] = mapped_column(String(64), index=True)
    image_uploaded: Mapped[bool] = mapped_column(Boolean, default=True)
    overlay_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    image_width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    image_height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    timings_ms: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    schema_version: Mapped[int] = mapped_column(SmallInteger)
    # The first image of this module string at string EL (a retest after rework is not): the first-pass
    # population of yield and rework rate, decided once at ingest; first_of_module: the module's first.
    first_pass: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    first_of_module: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # When the rework loop took this result into account (NULL: not yet). Makes the loop step idempotent
    # on its own: a redelivered result, or the same ids passed twice, moves no loop a second time.
    rework_applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    module: Mapped[Module] = relationship(back_populates="inspections", lazy="raise")
    defects: Mapped[list[CellDefect]] = relationship(back_populates="inspection", lazy="raise")


class CellDefect(Base):
    """A cell the classifier did not call OK (judged NG or tolerated by the severity rules)."""

    __tablename__ = "cell_defect"

    id: Mapped[int] = mapped_column(primary_key=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("inspection.id", ondelete="CASCADE"), index=True)
    row: Mapped[int] = mapped_column(SmallInteger)
    col: Mapped[int] = mapped_column(SmallInteger)
    cls: Mapped[str] = mapped_column(String(40))
    score: Mapped[float] = mapped_column(Float)
    ng: Mapped[bool] = mapped_column(Boolean)
    decision: Mapped[str] = mapped_column(String(6), default="NG", server_default="NG")  # OK (tolerated) / REVIEW / NG
    p_defect: Mapped[float | None] = mapped_column(Float, nullable=True)  # v2 results only
    box_x: Mapped[int] = mapped_column(Integer)
    box_y: Mapped[int] = mapped_column(Integer)
    box_w: Mapped[int] = mapped_column(Integer)
    box_h: Mapped[int] = mapped_column(Integer)
    defect_box: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)

    inspection: Mapped[Inspection] = relationship(back_populates="defects", lazy="raise")


class ShiftPattern(Base):
    """One shift of the plant's daily pattern (minutes after local midnight)."""

    __tablename__ = "shift_pattern"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(10), unique=True)
    start_minute: Mapped[int] = mapped_column(SmallInteger)
    end_minute: Mapped[int] = mapped_column(SmallInteger)
    utc_offset_minutes: Mapped[int] = mapped_column(SmallInteger, default=0)


class RefusedResult(Base):
    """A result ingest dead-lettered, as its device's edge may ask about it (park the row, show the reason).

    Keyed by the stream entry it came in: a re-send after the cause is fixed is a new entry and is not
    refused by an old record.
    """

    __tablename__ = "refused_result"
    __table_args__ = (Index("ix_refused_result_device_result", "device_id", "result_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id"))
    result_id: Mapped[str] = mapped_column(String(64))
    stream_id: Mapped[str] = mapped_column(String(40))
    key_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the kid it was signed with (unverified)
    reason: Mapped[str] = mapped_column(String(500))
    refused_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FirstPassDay(Base):
    """First-pass strings (and modules first seen) per plant day x station x shift x verdict, kept by ingest.

    The dashboard reads whole days from here instead of deriving the first-pass population per
    request (2 s over a 1 M-module history). Days are plant-calendar days of the plant time zone
    at ingest; after changing the zone, `eltrace db rebuild-rollup` recounts them.
    """

    __tablename__ = "first_pass_day"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, plant calendar
    station_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    shift: Mapped[str] = mapped_column(String(20), primary_key=True)  # "?" when the image had no shift
    verdict: Mapped[str] = mapped_column(String(6), primary_key=True)
    strings: Mapped[int] = mapped_column(Integer, default=0)
    modules: Mapped[int] = mapped_column(Integer, default=0)


class ScoreDay(Base):
    """The live model's string EL cells per plant day x station x model version x decision x score bin, kept by ingest.

    Drift watch reads review load and the score distribution (against the model's validation scores)
    from here, whole days at a time, instead of opening every image's cell scores. The bins are
    services.contracts.scores'. v1 results carry no p(defect) and stay out.
    """

    __tablename__ = "score_day"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, plant calendar
    station_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    model_version: Mapped[str] = mapped_column(String(50), primary_key=True)
    decision: Mapped[str] = mapped_column(String(6), primary_key=True)  # OK | REVIEW | NG
    bin: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    cells: Mapped[int] = mapped_column(Integer, default=0)
