"""What the audit trail reads as (there is deliberately no write schema: entries come only from services)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditRead(BaseModel):
    """One entry: who changed what, before and after, and why."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None
    request_id: str | None


class Change(BaseModel):
    """One field of an entry, readable: its value before and after (empty when it did not exist)."""

    field: str
    before: str
    after: str
    changed: bool


def _text(value: Any) -> str:
    """A stored value as a person reads it: no Python or JSON punctuation for plain values."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items())
    return str(value)


def changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[Change]:
    """The fields of an entry's before and after, side by side, in the order they were recorded."""
    b, a = before or {}, after or {}
    fields = list(dict.fromkeys([*b, *a]))
    return [Change(field=f, before=_text(b.get(f)), after=_text(a.get(f)), changed=b.get(f) != a.get(f)) for f in fields]
