"""Queries on user accounts (SQLAlchemy 2 select())."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from services.security.orm import LoginFailure, RevokedToken, User


def user_by_name(session: Session, username: str) -> User | None:
    """An account by username."""
    return session.scalar(select(User).where(User.username == username))


def active_users(session: Session, roles: Sequence[str]) -> Sequence[User]:
    """Active accounts of these roles, by username."""
    return session.scalars(select(User).where(User.active.is_(True), User.role.in_(roles)).order_by(User.username)).all()


def failures_from(session: Session, address: str, since: datetime) -> tuple[int, datetime | None]:
    """Failed sign-ins from an address since a time, and the oldest of them."""
    count, oldest = session.execute(
        select(func.count(LoginFailure.id), func.min(LoginFailure.at)).where(
            LoginFailure.address == address, LoginFailure.at > since
        )
    ).one()
    return int(count or 0), oldest


def add_failure(session: Session, address: str, at: datetime, *, forget_before: datetime) -> None:
    """Record a failed sign-in and drop the ones older than the throttle's window."""
    session.execute(delete(LoginFailure).where(LoginFailure.at <= forget_before))
    session.add(LoginFailure(address=address[:64], at=at))


def is_revoked(session: Session, jti: str) -> bool:
    """Whether a token id was signed out."""
    return session.get(RevokedToken, jti) is not None


def revoke(session: Session, jti: str, expires_at: datetime, now: datetime) -> None:
    """Deny a token id until it expires; drop entries of tokens that expired anyway."""
    session.execute(delete(RevokedToken).where(RevokedToken.expires_at <= now))
    if session.get(RevokedToken, jti) is None:
        session.add(RevokedToken(jti=jti, expires_at=expires_at))
