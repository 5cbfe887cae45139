"""The words people read for the codes the system stores: defect classes, dispositions, states, reasons.

A raw code (`dead_cell`, `use_as_is`, `in_transit`) never reaches a page: templates write
`{{ value|word("defect") }}`, which looks the code up here and translates the English word in the
vocabulary's own gettext context (so one English word may read differently in two vocabularies).
`tests/unit/test_i18n.py` checks that every value of every vocabulary has a word and a translation.
"""

from __future__ import annotations

import re
from enum import StrEnum

from api.i18n import gettext, pgettext
from services.complaints.schemas import CaseStatus, Channel, DisciplineStatus, Severity, Symptom
from services.contracts import CellDecision, Verdict
from services.contracts.result import Stage
from services.core.errors import DomainError
from services.core.i18n import NC_
from services.drift.schemas import DriftMetric
from services.gate.schemas import Check, Operation
from services.inspection.schemas import ModuleStatus
from services.metrics.schemas import Attribution, DenominatorWindow, NumeratorStatus, PpmGroup
from services.registry.schemas import Role as ModelRole
from services.rework.schemas import DispositionKind, EventKind, HoldOutcome, HoldSource, LoopState, RepairCode, StationState
from services.security.service import Role
from services.traceability.schemas import ImportKind, LotKind

_DEFECTS = {
    "ok": NC_("defect", "OK"),
    "crack": NC_("defect", "crack"),
    "star_crack": NC_("defect", "star crack"),
    "broken_cell": NC_("defect", "broken cell / inactive fragment"),
    "finger_interruption": NC_("defect", "finger interruption"),
    "pseudo_soldering": NC_("defect", "pseudo-soldering (cold joint)"),
    "black_core": NC_("defect", "black core"),
    "dark_spot": NC_("defect", "dark spot / contamination"),
    "dark_cell": NC_("defect", "dark (low-efficiency) cell"),
    "dead_cell": NC_("defect", "short-circuit / dead cell"),
    "scratch": NC_("defect", "scratch"),
    "edge_chip": NC_("defect", "corner / edge chip"),
    "black_edge": NC_("defect", "black edge"),
}

VOCABULARIES: dict[str, dict[str, str]] = {
    "defect": _DEFECTS,
    "verdict": {
        Verdict.OK: NC_("verdict", "OK"),
        Verdict.REVIEW: NC_("verdict", "review"),
        Verdict.NG: NC_("verdict", "NG"),
        Verdict.ERROR: NC_("verdict", "unreadable"),
    },
    "decision": {
        CellDecision.OK: NC_("decision", "OK"),
        CellDecision.REVIEW: NC_("decision", "review"),
        CellDecision.NG: NC_("decision", "NG"),
    },
    "stage": {
        Stage.STRING_EL: NC_("stage", "string EL"),
        Stage.POST_LAMINATION_EL: NC_("stage", "post-lamination EL"),
        "final_el": NC_("stage", "final EL"),
    },
    "module_status": {
        ModuleStatus.WIP: NC_("module_status", "in production"),
        ModuleStatus.STOCK: NC_("module_status", "in stock"),
        ModuleStatus.HOLD: NC_("module_status", "on hold"),
        ModuleStatus.SHIPPED: NC_("module_status", "shipped"),
        ModuleStatus.SCRAPPED: NC_("module_status", "scrapped"),
    },
    "station_state": {
        StationState.NG: NC_("station_state", "NG - REWORK"),
        StationState.RETEST: NC_("station_state", "BACK TO EL"),
        StationState.REVIEW: NC_("station_state", "EL REVIEW"),
        StationState.HOLD: NC_("station_state", "HOLD"),
        StationState.OK: NC_("station_state", "OK"),
        StationState.ERROR: NC_("station_state", "MANUAL CHECK"),
        StationState.NONE: NC_("station_state", "NO RESULT"),
        StationState.SCRAPPED: NC_("station_state", "SCRAPPED"),
    },
    "loop_state": {
        LoopState.OPEN: NC_("loop_state", "open"),
        LoopState.REPAIRED: NC_("loop_state", "repaired, back to EL"),
        LoopState.CLOSED: NC_("loop_state", "closed"),
        LoopState.FAILED: NC_("loop_state", "failed"),
        LoopState.HELD: NC_("loop_state", "held"),
    },
    "disposition": {
        DispositionKind.REPAIRED: NC_("disposition", "repaired"),
        DispositionKind.FALSE_CALL: NC_("disposition", "false call"),
        DispositionKind.NOT_REPAIRABLE: NC_("disposition", "not repairable"),
    },
    "repair": {
        RepairCode.RESOLDER: NC_("repair", "re-soldered"),
        RepairCode.REPLACE_CELL: NC_("repair", "cell replaced"),
        RepairCode.CLEAN: NC_("repair", "cleaned"),
    },
    "hold_source": {
        HoldSource.MANUAL: NC_("hold_source", "placed by hand"),
        HoldSource.CONTAINMENT: NC_("hold_source", "containment"),
        HoldSource.LOOP_LIMIT: NC_("hold_source", "rework loop limit reached"),
        HoldSource.NOT_REPAIRABLE: NC_("hold_source", "cell not repairable"),
    },
    "hold_outcome": {
        HoldOutcome.SCRAP: NC_("hold_outcome", "scrap"),
        HoldOutcome.DOWNGRADE: NC_("hold_outcome", "downgrade"),
        HoldOutcome.USE_AS_IS: NC_("hold_outcome", "use as is (deviation)"),
        HoldOutcome.RELEASE: NC_("hold_outcome", "release"),
    },
    "channel": {
        Channel.EMAIL: NC_("channel", "e-mail"),
        Channel.PHONE: NC_("channel", "phone"),
        Channel.PORTAL: NC_("channel", "customer portal"),
        Channel.VISIT: NC_("channel", "site visit"),
        Channel.DISTRIBUTOR: NC_("channel", "distributor"),
    },
    "symptom": {
        Symptom.POWER_LOSS: NC_("symptom", "power loss"),
        Symptom.HOT_SPOT: NC_("symptom", "hot spot"),
        Symptom.CELL_CRACK: NC_("symptom", "cell crack"),
        Symptom.SNAIL_TRAIL: NC_("symptom", "snail trail"),
        Symptom.DELAMINATION: NC_("symptom", "delamination"),
        Symptom.PID: NC_("symptom", "PID (potential-induced degradation)"),
        Symptom.BROKEN_GLASS: NC_("symptom", "broken glass"),
        Symptom.JUNCTION_BOX: NC_("symptom", "junction box"),
        Symptom.FRAME: NC_("symptom", "frame"),
        Symptom.VISUAL: NC_("symptom", "visual defect"),
        Symptom.OTHER: NC_("symptom", "other"),
    },
    "severity": {
        Severity.CRITICAL: NC_("severity", "critical"),
        Severity.MAJOR: NC_("severity", "major"),
        Severity.MINOR: NC_("severity", "minor"),
    },
    "drift_metric": {
        DriftMetric.REVIEW_LOAD: NC_("drift_metric", "review load"),
        DriftMetric.FALSE_CALL_RATE: NC_("drift_metric", "false-call rate"),
        DriftMetric.ESCAPE_RATE: NC_("drift_metric", "escape rate"),
        DriftMetric.PSI: NC_("drift_metric", "score shift (PSI)"),
    },
    "case_status": {CaseStatus.OPEN: NC_("case_status", "open"), CaseStatus.CLOSED: NC_("case_status", "closed")},
    "discipline_status": {
        DisciplineStatus.OPEN: NC_("discipline_status", "open"),
        DisciplineStatus.COMPLETED: NC_("discipline_status", "completed"),
    },
    "role": {
        Role.OPERATOR: NC_("role", "operator"),
        Role.QUALITY_ENGINEER: NC_("role", "quality engineer"),
        Role.CUSTOMER_SERVICE: NC_("role", "customer service"),
        Role.ADMIN: NC_("role", "administrator"),
    },
    "ppm_group": {
        PpmGroup.CUSTOMER: NC_("ppm_group", "customer"),
        PpmGroup.PRODUCT: NC_("ppm_group", "product"),
        PpmGroup.FACTORY: NC_("ppm_group", "factory"),
    },
    "numerator": {
        NumeratorStatus.JUSTIFIED: NC_("numerator", "justified"),
        NumeratorStatus.JUSTIFIED_OR_OPEN: NC_("numerator", "justified or not yet judged"),
    },
    "denominator": {
        DenominatorWindow.SAME_PERIOD: NC_("denominator", "in the same month"),
        DenominatorWindow.TRAILING_12_MONTHS: NC_("denominator", "in the trailing 12 months"),
    },
    "attribution": {
        Attribution.COMPLAINT_DATE: NC_("attribution", "the month the complaint came in"),
        Attribution.SHIPMENT_COHORT: NC_("attribution", "the modules' shipment month"),
    },
    "lot_kind": {
        LotKind.CELL: NC_("lot_kind", "cell"),
        LotKind.GLASS: NC_("lot_kind", "glass"),
        LotKind.EVA: NC_("lot_kind", "EVA"),
        LotKind.POE: NC_("lot_kind", "POE"),
        LotKind.RIBBON: NC_("lot_kind", "ribbon"),
        LotKind.BACKSHEET: NC_("lot_kind", "backsheet"),
        LotKind.FRAME: NC_("lot_kind", "frame"),
        LotKind.JUNCTION_BOX: NC_("lot_kind", "junction box"),
    },
    "operation": {
        Operation.LAYUP: NC_("operation", "layup"),
        Operation.LAMINATION: NC_("operation", "lamination"),
        Operation.FRAMING: NC_("operation", "framing"),
        Operation.FINAL_EL: NC_("operation", "final EL"),
        Operation.PACKING: NC_("operation", "packing"),
        Operation.SHIPPING: NC_("operation", "shipping"),
    },
    "event_kind": {
        EventKind.LOOP_OPENED: NC_("event_kind", "rework loop opened"),
        EventKind.RETEST_REFUSED: NC_("event_kind", "re-test refused"),
        EventKind.RETEST_ERROR: NC_("event_kind", "re-test image unreadable"),
        EventKind.RETEST_REVIEW: NC_("event_kind", "re-test needs EL review"),
        EventKind.RETEST_NG: NC_("event_kind", "re-test NG"),
        EventKind.LOOP_CLOSED: NC_("event_kind", "rework loop closed"),
        EventKind.LOOP_HELD: NC_("event_kind", "rework loop put on hold"),
        EventKind.REPAIR_RECORDED: NC_("event_kind", "repair recorded"),
        EventKind.DISPOSITION: NC_("event_kind", "cell dispositioned"),
        EventKind.DISPOSITION_UNDONE: NC_("event_kind", "disposition undone"),
        EventKind.HOLD_PLACED: NC_("event_kind", "hold placed"),
        EventKind.HOLD_DECIDED: NC_("event_kind", "hold decided"),
        EventKind.LATER_STAGE_FLAG: NC_("event_kind", "later EL stage flagged"),
        EventKind.ESCAPE: NC_("event_kind", "escape found at a later stage"),
    },
    "model_role": {ModelRole.LIVE: NC_("model_role", "live"), ModelRole.SHADOW: NC_("model_role", "shadow")},
    "import_kind": {
        ImportKind.PRODUCTS: NC_("import_kind", "products"),
        ImportKind.WORK_ORDERS: NC_("import_kind", "work orders"),
        ImportKind.MATERIAL_LOTS: NC_("import_kind", "material lots"),
        ImportKind.MODULE_BUILDS: NC_("import_kind", "module builds"),
        ImportKind.SHIPMENTS: NC_("import_kind", "shipments"),
    },
    "location": {
        "customer": NC_("location", "at the customer"),
        "in_transit": NC_("location", "in transit"),
        "warehouse": NC_("location", "warehouse"),
        "wip": NC_("location", "in production (WIP)"),
        "raw_material": NC_("location", "raw material"),
    },
    "check": {
        Check.UNKNOWN_MODULE: NC_("check", "unknown module"),
        Check.SCRAPPED: NC_("check", "scrapped"),
        Check.SHIPPED: NC_("check", "already shipped"),
        Check.HOLD: NC_("check", "on hold"),
        Check.STRING_EL_MISSING: NC_("check", "string EL missing"),
        Check.REVIEW_PENDING: NC_("check", "EL review pending"),
        Check.ERROR_NOT_REIMAGED: NC_("check", "unreadable image not re-imaged"),
        Check.OPEN_REWORK: NC_("check", "rework loop open"),
        Check.LATER_STAGE_NG: NC_("check", "later EL stage NG"),
    },
}
# Vocabularies that are whole enums: every member must have a word (checked by the tests).
ENUMS: dict[str, type[StrEnum]] = {
    "verdict": Verdict,
    "decision": CellDecision,
    "module_status": ModuleStatus,
    "station_state": StationState,
    "loop_state": LoopState,
    "disposition": DispositionKind,
    "repair": RepairCode,
    "hold_source": HoldSource,
    "hold_outcome": HoldOutcome,
    "channel": Channel,
    "symptom": Symptom,
    "severity": Severity,
    "case_status": CaseStatus,
    "discipline_status": DisciplineStatus,
    "role": Role,
    "ppm_group": PpmGroup,
    "numerator": NumeratorStatus,
    "denominator": DenominatorWindow,
    "attribution": Attribution,
    "lot_kind": LotKind,
    "operation": Operation,
    "check": Check,
    "event_kind": EventKind,
    "model_role": ModelRole,
    "import_kind": ImportKind,
}
_VOCABULARY_OF: dict[type[StrEnum], str] = {enum: name for name, enum in ENUMS.items()}


# The audit trail's actions and the fields its entries record, as people read them.
AUDIT_ACTIONS: dict[str, str] = {
    "8d.complete": NC_("audit_action", "8D discipline completed"),
    "8d.open": NC_("audit_action", "8D report opened"),
    "8d.reopen": NC_("audit_action", "8D discipline reopened"),
    "8d.save": NC_("audit_action", "8D discipline saved"),
    "complaint.attach": NC_("audit_action", "file attached to a complaint"),
    "complaint.create": NC_("audit_action", "complaint registered"),
    "complaint.judge": NC_("audit_action", "complaint judged"),
    "complaint.link": NC_("audit_action", "modules linked to a complaint"),
    "device.key_rotated": NC_("audit_action", "device key rotated"),
    "device.provisioned": NC_("audit_action", "device registered"),
    "hold.place": NC_("audit_action", "put on hold"),
    "hold.scrap": NC_("audit_action", "hold ended: scrapped"),
    "hold.downgrade": NC_("audit_action", "hold ended: downgraded"),
    "hold.use_as_is": NC_("audit_action", "hold ended: use as is (deviation)"),
    "hold.release": NC_("audit_action", "hold ended: released"),
    "import.products": NC_("audit_action", "products imported"),
    "import.work_orders": NC_("audit_action", "work orders imported"),
    "import.material_lots": NC_("audit_action", "material lots imported"),
    "import.module_builds": NC_("audit_action", "module builds imported"),
    "import.shipments": NC_("audit_action", "shipments imported"),
    "model.register": NC_("audit_action", "model version registered"),
    "model.promote": NC_("audit_action", "model promoted to live"),
    "model.shadow": NC_("audit_action", "model started in shadow"),
    "model.shadow_stop": NC_("audit_action", "shadow model stopped"),
    "model.rollback": NC_("audit_action", "live model rolled back"),
    "ppm.definition": NC_("audit_action", "PPM definition changed"),
    "review.complete": NC_("audit_action", "EL review completed"),
    "rework.disposition": NC_("audit_action", "rework disposition"),
    "rework.undo": NC_("audit_action", "disposition taken back"),
    "shifts.replace": NC_("audit_action", "shift calendar replaced"),
    "station.updated": NC_("audit_action", "station changed"),
    "subscriber.create": NC_("audit_action", "event subscriber added"),
    "subscriber.delete": NC_("audit_action", "event subscriber removed"),
    "subscriber.pause": NC_("audit_action", "event subscriber paused"),
    "subscriber.resume": NC_("audit_action", "event subscriber resumed"),
    "subscriber.replay": NC_("audit_action", "events replayed to a subscriber"),
    "subscriber.rotate": NC_("audit_action", "subscriber secret rotated"),
    "subscriber.update": NC_("audit_action", "event subscriber changed"),
    "user.created": NC_("audit_action", "user added"),
    "user.disabled": NC_("audit_action", "user disabled"),
    "user.enabled": NC_("audit_action", "user enabled"),
    "user.locked": NC_("audit_action", "user locked"),
    "user.password_reset": NC_("audit_action", "password reset"),
}
AUDIT_ENTITIES: dict[str, str] = {
    "module": NC_("audit_entity", "module"),
    "complaint": NC_("audit_entity", "complaint"),
    "8d": NC_("audit_entity", "8D report"),
    "import": NC_("audit_entity", "import"),
    "ppm_definition": NC_("audit_entity", "PPM definition"),
    "model": NC_("audit_entity", "model version"),
    "inspection": NC_("audit_entity", "string EL image"),
    "shift_calendar": NC_("audit_entity", "shift calendar"),
    "event_subscriber": NC_("audit_entity", "event subscriber"),
    "station": NC_("audit_entity", "station"),
    "device": NC_("audit_entity", "edge device"),
    "user": NC_("audit_entity", "user"),
}
AUDIT_FIELDS: dict[str, str] = {
    "status": NC_("audit_field", "status"),
    "source": NC_("audit_field", "source"),
    "grade": NC_("audit_field", "grade"),
    "deviation_no": NC_("audit_field", "deviation no."),
    "string": NC_("audit_field", "string"),
    "cell": NC_("audit_field", "cell"),
    "class": NC_("audit_field", "defect"),
    "disposition": NC_("audit_field", "disposition"),
    "repair_code": NC_("audit_field", "repair"),
    "new_cell_lot": NC_("audit_field", "new cell lot"),
    "station": NC_("audit_field", "station"),
    "model": NC_("audit_field", "model"),
    "loop": NC_("audit_field", "rework loop"),
    "state": NC_("audit_field", "state"),
    "line": NC_("audit_field", "line"),
    "name": NC_("audit_field", "name"),
    "factory": NC_("audit_field", "factory"),
    "rows": NC_("audit_field", "rows"),
    "imported": NC_("audit_field", "imported"),
    "unchanged": NC_("audit_field", "unchanged"),
    "role": NC_("audit_field", "role"),
    "key_id": NC_("audit_field", "key id"),
    "reason": NC_("audit_field", "reason"),
    "live": NC_("audit_field", "live model"),
    "shadow": NC_("audit_field", "shadow model"),
    "sha256": NC_("audit_field", "file sha256"),
    "decision": NC_("audit_field", "decision"),
    "since": NC_("audit_field", "from"),
    "until": NC_("audit_field", "to"),
    "offset": NC_("audit_field", "position in the list"),
    "barcode": NC_("audit_field", "barcode"),
    "description": NC_("audit_field", "description"),
    "received_at": NC_("audit_field", "received"),
    "verdict": NC_("audit_field", "verdict"),
    "symptom": NC_("audit_field", "symptom"),
    "hold_ids": NC_("audit_field", "ticked holds"),
    "active": NC_("audit_field", "active"),
    "attribution": NC_("audit_field", "attribution"),
    "barcodes": NC_("audit_field", "barcodes"),
    "bytes": NC_("audit_field", "bytes"),
    "case": NC_("audit_field", "case"),
    "case_id": NC_("audit_field", "case id"),
    "customer": NC_("audit_field", "customer"),
    "data": NC_("audit_field", "content"),
    "dead_letters": NC_("audit_field", "dead letters"),
    "due_at": NC_("audit_field", "due"),
    "failures": NC_("audit_field", "failures"),
    "file": NC_("audit_field", "file"),
    "justified": NC_("audit_field", "justified"),
    "locked_until": NC_("audit_field", "locked until"),
    "new_key_id": NC_("audit_field", "new key id"),
    "numerator": NC_("audit_field", "numerator"),
    "owner": NC_("audit_field", "owner"),
    "reopened": NC_("audit_field", "reopened"),
    "revoked": NC_("audit_field", "revoked"),
    "title": NC_("audit_field", "title"),
    "types": NC_("audit_field", "event types"),
    "unknown": NC_("audit_field", "unknown barcodes"),
    "url": NC_("audit_field", "address"),
    "window": NC_("audit_field", "window"),
    "batch_size": NC_("audit_field", "batch size"),
    "timeout_s": NC_("audit_field", "timeout (s)"),
    "shifts": NC_("audit_field", "shifts"),
    "utc_offset_minutes": NC_("audit_field", "UTC offset (min)"),
    "row": NC_("audit_field", "row"),
    "col": NC_("audit_field", "column"),
    "cls": NC_("audit_field", "defect"),
    "by": NC_("audit_field", "by"),
}
# Fields whose values are codes of a vocabulary above (the rest are shown as recorded).
AUDIT_FIELD_VOCABULARY = {
    "status": "module_status",
    "class": "defect",
    "cls": "defect",
    "disposition": "disposition",
    "repair_code": "repair",
    "state": "loop_state",
    "source": "hold_source",
    "role": "role",
}


_CODE = re.compile(r"[a-z0-9_]+")


def word(value: object, vocabulary: str) -> str:
    """The word for a stored code, in the reader's language (an unknown code: itself, made readable)."""
    if value is None or value == "":
        return ""
    key = str(value)
    english = VOCABULARIES[vocabulary].get(key)
    if english is None:  # a code this version does not know: readable if it is a code, else exactly as sent
        return key.replace("_", " ") if _CODE.fullmatch(key) else key
    return pgettext(vocabulary, english)


def error_text(exc: DomainError) -> str:
    """A domain error's reason in the reader's language; values that are codes (a loop state) read as words."""
    if not exc.params:
        return gettext(exc.detail)
    values = {k: word(v, _VOCABULARY_OF[type(v)]) if type(v) in _VOCABULARY_OF else v for k, v in exc.params.items()}
    return gettext(exc.template) % values


VOCABULARIES["audit_action"] = AUDIT_ACTIONS
VOCABULARIES["audit_field"] = AUDIT_FIELDS
VOCABULARIES["audit_entity"] = AUDIT_ENTITIES


def audit_value(value: str, field: str) -> str:
    """An audit entry's recorded value as a person reads it (codes of a known vocabulary become words)."""
    if value in ("yes", "no"):  # how the trail's text spells a recorded true / false
        return gettext(value)
    vocabulary = AUDIT_FIELD_VOCABULARY.get(field)
    return word(value, vocabulary) if vocabulary and value else value


DEFECT_CLASSES = tuple(c for c in _DEFECTS if c != "ok")  # what an EL operator may confirm a cell as
