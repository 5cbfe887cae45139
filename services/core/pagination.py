"""One page of a bounded listing (every list route pages: offset + limit, with the total)."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """Items offset..offset+limit of total."""

    items: list[T]
    total: int
    offset: int
    limit: int
