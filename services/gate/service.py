"""The gate: every check that applies to the operation, each BLOCK recorded and published."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy.orm import Session

from services.contracts import Verdict
from services.core.time import utcnow
from services.events.schemas import EventType
from services.events.service import emit
from services.gate import repository as repo
from services.gate.orm import GateBlock
from services.gate.schemas import ACTIONS, DEFAULT_CHECKS, Check, Decision, GateAnswer, Operation, Reason
from services.inspection.schemas import ModuleStatus


def _reasons(session: Session, barcode: str, checks: Sequence[Check]) -> list[Reason]:
    want = set(checks)
    out: list[tuple[Check, str]] = []
    mod = repo.module(session, barcode)
    if mod is None:
        return (
            [Reason(check=Check.UNKNOWN_MODULE, detail=f"no module {barcode}", action=ACTIONS[Check.UNKNOWN_MODULE])]
            if Check.UNKNOWN_MODULE in want
            else []
        )
    module_id, status, product = mod
    if Check.SCRAPPED in want and status == ModuleStatus.SCRAPPED:
        out.append((Check.SCRAPPED, "module is scrapped"))
    if Check.SHIPPED in want and status == ModuleStatus.SHIPPED:
        out.append((Check.SHIPPED, "module has shipped"))
    if Check.HOLD in want and status == ModuleStatus.HOLD:
        out.append((Check.HOLD, f"on hold: {repo.open_hold_reason(session, module_id) or 'no reason recorded'}"))
    rows = repo.inspections(session, module_id)
    last_string: dict[int, str] = {}
    last_later: dict[str, tuple[str, object]] = {}
    for stage, pos, verdict, at in rows:
        if stage == repo.STRING_EL:
            last_string[pos] = verdict
        else:
            last_later[stage] = (verdict, at)
    if Check.STRING_EL_MISSING in want:
        strings = repo.recipe_strings(session, product)
        if strings is not None:
            missing = [p for p in range(1, strings + 1) if p not in last_string]
            if missing:
                out.append((Check.STRING_EL_MISSING, f"no string EL image of string(s) {_list(missing)} of {strings}"))
        elif not last_string:
            out.append((Check.STRING_EL_MISSING, "no string EL image of any string"))
    if Check.REVIEW_PENDING in want:
        review = [p for p, v in sorted(last_string.items()) if v == Verdict.REVIEW]
        if review:
            out.append((Check.REVIEW_PENDING, f"string(s) {_list(review)} wait for EL review"))
    if Check.ERROR_NOT_REIMAGED in want:
        errors = [p for p, v in sorted(last_string.items()) if v == Verdict.ERROR]
        if errors:
            out.append((Check.ERROR_NOT_REIMAGED, f"string(s) {_list(errors)}: last image could not be judged"))
    if Check.OPEN_REWORK in want:
        loops = repo.active_loops(session, module_id)
        if loops:
            out.append((Check.OPEN_REWORK, f"rework loop open on string(s) {_list(loops)}"))
    if Check.LATER_STAGE_NG in want:
        decided = repo.last_hold_decided_at(session, module_id)
        ng = [s for s, (v, at) in sorted(last_later.items()) if v == Verdict.NG and (decided is None or at > decided)]  # type: ignore[operator]
        if ng:
            out.append((Check.LATER_STAGE_NG, f"NG at {', '.join(ng)} not dispositioned"))
    return [Reason(check=c, detail=d, action=ACTIONS[c]) for c, d in out]


def _list(items: Sequence[int]) -> str:
    return ", ".join(str(i) for i in items)


def checks_for(operation: Operation, config: Mapping[str, Sequence[str]] | None = None) -> list[Check]:
    """The checks of an operation: the configured list, else the default."""
    if config and operation.value in config:
        return [Check(c) for c in config[operation.value]]
    return DEFAULT_CHECKS[operation]


# Checks the shipments import enforces itself (unknown barcode, HOLD / SCRAPPED, another delivery) or that
# would refuse re-importing the same delivery file (SHIPPED).
_IMPORT_OWN = {Check.UNKNOWN_MODULE, Check.SHIPPED, Check.HOLD, Check.SCRAPPED}


def shipment_reasons(*, session: Session, barcode: str, config: Mapping[str, Sequence[str]] | None = None) -> list[Reason] | None:
    """Why a module that has not shipped yet may not ship (None: unknown or already shipped, the import judges those)."""
    mod = repo.module(session, barcode)
    if mod is None or mod[1] == ModuleStatus.SHIPPED:
        return None
    checks = [c for c in checks_for(Operation.SHIPPING, config) if c not in _IMPORT_OWN]
    return _reasons(session, barcode, checks)


def flag_shipment(*, session: Session, barcode: str, delivery_no: str, reasons: Sequence[Reason], actor: str) -> None:
    """A module shipped although the gate blocks it (ship_unreleased = flag): recorded and published."""
    now = utcnow()
    dumped = [r.model_dump(mode="json") for r in reasons]
    session.add(GateBlock(barcode=barcode, operation=Operation.SHIPPING.value, reasons=dumped, asked_by=actor, at=now))
    emit(
        session=session,
        type=EventType.SHIPMENT_FLAGGED,
        subject=barcode,
        data={"barcode": barcode, "delivery_no": delivery_no, "reasons": dumped, "imported_by": actor},
        at=now,
    )


def ask(
    *,
    session: Session,
    barcode: str,
    operation: Operation,
    asked_by: str,
    config: Mapping[str, Sequence[str]] | None = None,
    record: bool = True,
) -> GateAnswer:
    """PASS or BLOCK with every reason; a BLOCK is recorded and published in the caller's transaction."""
    now = utcnow()
    reasons = _reasons(session, barcode, checks_for(operation, config))
    answer = GateAnswer(
        barcode=barcode,
        operation=operation,
        decision=Decision.BLOCK if reasons else Decision.PASS,
        reasons=reasons,
        checked_at=now,
    )
    if reasons and record:
        dumped = [r.model_dump(mode="json") for r in reasons]
        session.add(GateBlock(barcode=barcode, operation=operation.value, reasons=dumped, asked_by=asked_by, at=now))
        emit(
            session=session,
            type=EventType.GATE_BLOCKED,
            subject=barcode,
            data={"barcode": barcode, "operation": operation.value, "reasons": dumped, "asked_by": asked_by},
            at=now,
        )
    return answer
