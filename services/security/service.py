"""Accounts, password login with lockout, and short-lived signed tokens (JWT, HS256 pinned)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from services.audit.service import record
from services.core.errors import Conflict, DomainError, InvalidInput, NotFound
from services.core.time import utcnow
from services.security.orm import User
from services.security.repository import user_by_name

_HASHER = PasswordHasher()
# A real hash to verify against when the user does not exist, so timing does not tell.
_DUMMY_HASH = _HASHER.hash("not-a-real-password")
TOKEN_ALGORITHM = "HS256"
MAX_FAILED = 5
LOCKOUT = timedelta(minutes=15)


class Role(StrEnum):
    """What a person may do."""

    OPERATOR = "operator"
    QUALITY_ENGINEER = "quality_engineer"
    CUSTOMER_SERVICE = "customer_service"
    ADMIN = "admin"


class AuthFailed(DomainError):
    """Wrong credentials, locked, disabled or bad token."""

    code = "unauthorized"
    status = 401


@dataclass(frozen=True)
class Principal:
    """An authenticated person."""

    user_id: int
    username: str
    role: Role
    line: str | None


def create_user(
    *, session: Session, username: str, password: str, role: str, line: str | None = None, actor: str = "system"
) -> User:
    """Add an account; passwords shorter than 10 characters are refused."""
    if role not in {r.value for r in Role}:
        raise InvalidInput(f"unknown role {role!r}")
    if len(password) < 10:
        raise InvalidInput("password must have at least 10 characters")
    if user_by_name(session, username) is not None:
        raise Conflict(f"user {username!r} exists")
    user = User(username=username, password_hash=_HASHER.hash(password), role=role, line=line)
    session.add(user)
    session.flush()
    record(
        session=session, actor=actor, action="user.created", entity="user", entity_id=username, after={"role": role, "line": line}
    )
    return user


def set_password(*, session: Session, username: str, password: str, actor: str = "system") -> None:
    """Reset a password and clear any lockout."""
    user = user_by_name(session, username)
    if user is None:
        raise NotFound(f"user {username!r} not found")
    if len(password) < 10:
        raise InvalidInput("password must have at least 10 characters")
    user.password_hash = _HASHER.hash(password)
    user.failed_logins = 0
    user.locked_until = None
    record(session=session, actor=actor, action="user.password_reset", entity="user", entity_id=username)


def set_active(*, session: Session, username: str, active: bool, actor: str = "system") -> None:
    """Enable or disable an account."""
    user = user_by_name(session, username)
    if user is None:
        raise NotFound(f"user {username!r} not found")
    record(
        session=session,
        actor=actor,
        action="user.enabled" if active else "user.disabled",
        entity="user",
        entity_id=username,
        before={"active": user.active},
        after={"active": active},
    )
    user.active = active


def login(*, session: Session, username: str, password: str) -> Principal:
    """Check a password; MAX_FAILED failures lock the account for LOCKOUT. Caller commits either way."""
    user = user_by_name(session, username)
    if user is None:
        try:
            _HASHER.verify(_DUMMY_HASH, password)
        except VerificationError:
            pass
        raise AuthFailed("invalid username or password")
    now = utcnow()
    if user.locked_until is not None and user.locked_until > now:
        raise AuthFailed("account locked after repeated failures; try later")
    try:
        _HASHER.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILED:
            user.locked_until = now + LOCKOUT
            user.failed_logins = 0
            record(
                session=session,
                actor=f"login:{username}",
                action="user.locked",
                entity="user",
                entity_id=username,
                after={"locked_until": user.locked_until.isoformat()},
                reason=f"{MAX_FAILED} failed logins",
            )
        raise AuthFailed("invalid username or password") from None
    if not user.active:
        raise AuthFailed("account disabled")
    user.failed_logins = 0
    user.locked_until = None
    return Principal(user.id, user.username, Role(user.role), user.line)


def issue_token(principal: Principal, *, secret: str, ttl: timedelta) -> str:
    """A signed access token for the API."""
    now = utcnow()
    claims = {
        "sub": principal.username,
        "uid": principal.user_id,
        "role": principal.role.value,
        "line": principal.line,
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, secret, algorithm=TOKEN_ALGORITHM)


def principal_from_token(*, session: Session, token: str, secret: str) -> Principal:
    """Verify a token (algorithm pinned) and that its user is still active."""
    try:
        claims = jwt.decode(token, secret, algorithms=[TOKEN_ALGORITHM], options={"require": ["exp", "sub"]})
    except jwt.PyJWTError as exc:
        raise AuthFailed(f"invalid token: {exc}") from exc
    user = user_by_name(session, str(claims["sub"]))
    if user is None or not user.active:
        raise AuthFailed("user unknown or disabled")
    return Principal(user.id, user.username, Role(user.role), user.line)
