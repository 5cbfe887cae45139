"""Operations, checks, and the gate's answer."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel


class Operation(StrEnum):
    """The production steps the MES asks about, in line order."""

    LAYUP = "layup"
    LAMINATION = "lamination"
    FRAMING = "framing"
    FINAL_EL = "final_el"
    PACKING = "packing"
    SHIPPING = "shipping"


class Check(StrEnum):
    """One reason a module may not move on."""

    UNKNOWN_MODULE = "unknown_module"
    SCRAPPED = "scrapped"
    SHIPPED = "shipped"
    HOLD = "hold"
    STRING_EL_MISSING = "string_el_missing"
    REVIEW_PENDING = "review_pending"
    ERROR_NOT_REIMAGED = "error_not_reimaged"
    OPEN_REWORK = "open_rework"
    LATER_STAGE_NG = "later_stage_ng"


class Decision(StrEnum):
    """The gate's word."""

    PASS = "PASS"
    BLOCK = "BLOCK"


_ALL = list(Check)
_BEFORE_LATER_EL = [c for c in Check if c is not Check.LATER_STAGE_NG]
# Which checks apply to which operation (configuration: ELTRACE_GATE_CHECKS overrides it per operation).
DEFAULT_CHECKS: dict[Operation, list[Check]] = {
    Operation.LAYUP: _BEFORE_LATER_EL,
    Operation.LAMINATION: _BEFORE_LATER_EL,
    Operation.FRAMING: _ALL,
    Operation.FINAL_EL: _ALL,
    Operation.PACKING: _ALL,
    Operation.SHIPPING: _ALL,
}

# What to do about each reason (the MES shows it at the station that asked).
ACTIONS: dict[Check, str] = {
    Check.UNKNOWN_MODULE: "check the barcode; the module has no string EL record",
    Check.SCRAPPED: "remove the module from the line",
    Check.SHIPPED: "the module has already shipped; check the barcode",
    Check.HOLD: "a quality engineer must decide the hold first",
    Check.STRING_EL_MISSING: "image the missing string(s) at string EL",
    Check.REVIEW_PENDING: "an EL operator must review the doubtful cells",
    Check.ERROR_NOT_REIMAGED: "re-image the string at string EL",
    Check.OPEN_REWORK: "finish the rework loop (repair and re-image)",
    Check.LATER_STAGE_NG: "disposition the NG found at the later EL stage (hold and decide)",
}


class Reason(BaseModel):
    """One BLOCK reason."""

    check: Check
    detail: str
    action: str


class GateAnswer(BaseModel):
    """PASS, or BLOCK with every reason."""

    barcode: str
    operation: Operation
    decision: Decision
    reasons: list[Reason]
    checked_at: datetime
