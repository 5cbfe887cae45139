"""Read schemas built from attributes, with the few fields a row does not carry given by name."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


def read(schema: type[M], obj: object, **extra: Any) -> M:
    """schema from obj's attributes of the same names; `extra` supplies (or overrides) the rest."""
    data = {
        name: extra[name] if name in extra else getattr(obj, name)
        for name in schema.model_fields
        if name in extra or hasattr(obj, name)
    }
    return schema.model_validate(data)
