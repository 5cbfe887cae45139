"""Queries on user accounts (SQLAlchemy 2 select())."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.security.orm import User


def user_by_name(session: Session, username: str) -> User | None:
    """An account by username."""
    return session.scalar(select(User).where(User.username == username))
