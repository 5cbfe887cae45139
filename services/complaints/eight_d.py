"""The 8D method (VDA 8D / Ford G8D): disciplines, their required fields, order and due-date targets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.core.errors import InvalidInput
from services.core.i18n import N_

LOCATIONS = ("customer", "in_transit", "warehouse", "wip", "raw_material")


@dataclass(frozen=True)
class Field:
    """One field of a discipline; kind: text, list (of names / actions), table (IS / IS NOT), containment, flag."""

    name: str
    label: str
    kind: str = "text"
    required: bool = True


@dataclass(frozen=True)
class DisciplineDef:
    code: str
    title: str
    fields: tuple[Field, ...]


DISCIPLINES: tuple[DisciplineDef, ...] = (
    DisciplineDef(
        "D0",
        N_("Emergency response"),
        (Field("actions", N_("Emergency response actions")), Field("customer_informed", N_("Customer informed (who, when)"))),
    ),
    DisciplineDef(
        "D1",
        N_("Team"),
        (
            Field("champion", N_("Champion")),
            Field("leader", N_("Team leader")),
            Field("members", N_("Members (one per line)"), "list"),
        ),
    ),
    DisciplineDef(
        "D2",
        N_("Problem description (5W2H, IS / IS NOT)"),
        (
            Field("what", N_("What")),
            Field("where", N_("Where")),
            Field("when", N_("When")),
            Field("who", N_("Who")),
            Field("why", N_("Why")),
            Field("how", N_("How")),
            Field("how_many", N_("How many")),
            Field("is_is_not", N_("IS / IS NOT (dimension | is | is not, one per line)"), "table"),
        ),
    ),
    DisciplineDef(
        "D3",
        N_("Interim containment"),
        (
            Field("locations", N_("Containment per location (suspect / checked / bad / verified)"), "containment"),
            Field("actions", N_("Containment actions")),
            Field("verification", N_("Verification of the containment")),
        ),
    ),
    DisciplineDef(
        "D4",
        N_("Root cause (occurrence and non-detection)"),
        (
            Field("occurrence_cause", N_("Root cause of occurrence")),
            Field("occurrence_verification", N_("Occurrence cause verified by")),
            Field("escape_point", N_("Escape point (where it should have been detected)")),
            Field("escape_cause", N_("Root cause of non-detection")),
            Field("escape_verification", N_("Non-detection cause verified by")),
        ),
    ),
    DisciplineDef(
        "D5",
        N_("Permanent corrective actions chosen and verified"),
        (
            Field("actions", N_("Permanent corrective actions (occurrence and detection)"), "list"),
            Field("verification", N_("Verification that they work (before implementation)")),
        ),
    ),
    DisciplineDef(
        "D6",
        N_("Implemented and validated; containment removed"),
        (
            Field("implementation", N_("Implementation (what, when, who)")),
            Field("validation", N_("Validation of effectiveness")),
            Field("containment_removed", N_("Interim containment removed"), "flag"),
        ),
    ),
    DisciplineDef(
        "D7",
        N_("Prevent recurrence"),
        (
            Field("pfmea", N_("PFMEA updated (reference)")),
            Field("control_plan", N_("Control plan updated (reference)")),
            Field("work_instructions", N_("Work instructions / standards updated")),
            Field("lessons_learned", N_("Lessons learned")),
            Field("similar_products", N_("Similar products and processes checked")),
        ),
    ),
    DisciplineDef(
        "D8",
        N_("Closure and recognition"),
        (
            Field("customer_acceptance", N_("Customer acceptance (who, when)")),
            Field("recognition", N_("Team recognition"), required=False),
        ),
    ),
)
BY_CODE = {d.code: d for d in DISCIPLINES}
CODES = tuple(d.code for d in DISCIPLINES)
FIRST_RESPONSE = ("D0", "D1", "D2", "D3")
# Disciplines that a recurrence sends back to work (the cause was not the cause, or not removed).
REOPENED_BY_RECURRENCE = ("D4", "D5", "D6", "D7", "D8")


def _empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | dict):
        return len(value) == 0
    return False


def missing_fields(code: str, data: dict[str, Any]) -> list[str]:
    """Labels of the required fields that are empty or not acceptable (what blocks completion)."""
    out = []
    for f in BY_CODE[code].fields:
        value = data.get(f.name)
        if f.kind == "flag":
            if f.required and value is not True:
                out.append(f.label)
        elif f.kind == "containment":
            out += _containment_problems(value)
        elif f.kind == "table":
            rows = value if isinstance(value, list) else []
            if f.required and not any(
                isinstance(r, dict) and not _empty(r.get("is")) and not _empty(r.get("is_not")) for r in rows
            ):
                out.append(f.label)
        elif f.required and _empty(value):
            out.append(f.label)
    return out


def _containment_problems(value: Any) -> list[str]:
    rows = {r.get("location"): r for r in value if isinstance(r, dict)} if isinstance(value, list) else {}
    problems = []
    for loc in LOCATIONS:
        r = rows.get(loc)
        if r is None:
            problems.append(f"containment at {loc}")
            continue
        try:
            suspect, checked, bad = int(r.get("suspect", -1)), int(r.get("checked", -1)), int(r.get("bad", -1))
        except (TypeError, ValueError):
            problems.append(f"containment numbers at {loc}")
            continue
        if min(suspect, checked, bad) < 0 or checked > suspect or bad > checked:
            problems.append(f"containment numbers at {loc} (need 0 <= bad <= checked <= suspect)")
        elif r.get("verified") is not True:
            problems.append(f"containment at {loc} verified")
    return problems


def validate_data(code: str, data: dict[str, Any]) -> dict[str, Any]:
    """Keep only the discipline's own fields, with the right shapes (strings, lists, flags); raise InvalidInput otherwise."""
    out: dict[str, Any] = {}
    known = {f.name: f for f in BY_CODE[code].fields}
    for key, value in data.items():
        f = known.get(key)
        if f is None:
            raise InvalidInput(
                N_("%(code)s has no field %(key)s (fields: %(known)s)"), code=code, key=key, known=", ".join(known)
            )
        if f.kind == "text" and not (value is None or isinstance(value, str)):
            raise InvalidInput(N_("%(code)s.%(key)s must be text"), code=code, key=key)
        if f.kind == "text" and isinstance(value, str) and len(value) > 10_000:
            raise InvalidInput(N_("%(code)s.%(key)s is over 10,000 characters"), code=code, key=key)
        if f.kind == "list" and not (isinstance(value, list) and all(isinstance(v, str) and len(v) <= 500 for v in value)):
            raise InvalidInput(N_("%(code)s.%(key)s must be a list of short texts"), code=code, key=key)
        if f.kind == "flag" and not isinstance(value, bool):
            raise InvalidInput(N_("%(code)s.%(key)s must be true or false"), code=code, key=key)
        if f.kind in ("table", "containment") and not (
            isinstance(value, list) and len(value) <= 50 and all(isinstance(r, dict) for r in value)
        ):
            raise InvalidInput(N_("%(code)s.%(key)s must be a list of rows"), code=code, key=key)
        out[key] = value
    return out
