"""Accounts, password login with lockout, and short-lived signed tokens (JWT, HS256 pinned)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from services.audit.service import record
from services.core.errors import Conflict, DomainError, InvalidInput, NotFound
from services.core.i18n import N_
from services.core.time import utcnow
from services.security.orm import User
from services.security.repository import active_users, add_failure, failures_from, is_revoked, revoke, user_by_name

_HASHER = PasswordHasher()
# A real hash to verify against when the user does not exist, so timing does not tell.
_DUMMY_HASH = _HASHER.hash("not-a-real-password")
TOKEN_ALGORITHM = "HS256"
MAX_FAILED = 5  # failures in a row before the account must wait
FIRST_WAIT = timedelta(seconds=30)  # after the fifth; doubled with each further failure ...
LOCKOUT = timedelta(minutes=15)  # ... up to this
# Every refused sign-in says the same, and takes the same time (one argon2 verify), whether the account
# does not exist, the password is wrong or the account must wait: nothing to enumerate.
SIGN_IN_REFUSED = N_("sign-in refused: wrong username or password, or too many attempts (wait a few minutes)")
FAILS_PER_WINDOW = 20  # per client address, across every API process (the database holds the count)
WINDOW = timedelta(minutes=5)


class TooManyAttempts(DomainError):
    """Too many failed sign-ins from one address."""

    code = "too_many_attempts"
    status = 429


def wait_after(failures: int) -> timedelta | None:
    """How long an account waits after `failures` failures in a row (None: not yet)."""
    if failures < MAX_FAILED:
        return None
    return min(LOCKOUT, FIRST_WAIT * (2 ** (failures - MAX_FAILED)))


def check_address(*, session: Session, address: str) -> None:
    """Refuse an address with too many recent failures (password spraying over many accounts)."""
    now = utcnow()
    count, oldest = failures_from(session, address, now - WINDOW)
    if count >= FAILS_PER_WINDOW and oldest is not None:
        wait = int((oldest + WINDOW - now).total_seconds()) + 1
        raise TooManyAttempts(N_("too many failed sign-ins from this address; wait %(wait)s s"), wait=wait)


def failed_from(*, session: Session, address: str) -> None:
    """Count one failed sign-in of an address (the caller commits, also when the request fails)."""
    now = utcnow()
    add_failure(session, address, now, forget_before=now - WINDOW)


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
    locale: str | None = None  # the pages' language the person chose (None: the browser's)

    @property
    def is_quality_engineer(self) -> bool:
        """A quality engineer, or an admin (who may do everything a quality engineer may)."""
        return self.role in (Role.QUALITY_ENGINEER, Role.ADMIN)


def create_user(
    *, session: Session, username: str, password: str, role: str, line: str | None = None, actor: str = "system"
) -> User:
    """Add an account; passwords shorter than 10 characters are refused."""
    if role not in {r.value for r in Role}:
        raise InvalidInput(N_("unknown role %(role)s"), role=role)
    if len(password) < 10:
        raise InvalidInput(N_("password must have at least 10 characters"))
    if user_by_name(session, username) is not None:
        raise Conflict(N_("user %(name)s exists"), name=username)
    user = User(username=username, password_hash=_HASHER.hash(password), role=role, line=line)
    session.add(user)
    session.flush()
    record(
        session=session, actor=actor, action="user.created", entity="user", entity_id=username, after={"role": role, "line": line}
    )
    return user


# Who may own an 8D discipline: the people who work the complaints (operators do not).
CASE_OWNER_ROLES = (Role.QUALITY_ENGINEER, Role.CUSTOMER_SERVICE, Role.ADMIN)


def case_owners(*, session: Session) -> list[tuple[str, str]]:
    """(username, role) of every active person who may own an 8D discipline."""
    return [(u.username, u.role) for u in active_users(session, [r.value for r in CASE_OWNER_ROLES])]


def owner_role(*, session: Session, username: str) -> str | None:
    """The role of an active person who may own an 8D discipline (None: nobody of that name may)."""
    user = user_by_name(session, username)
    return user.role if user is not None and user.active and user.role in CASE_OWNER_ROLES else None


def set_password(*, session: Session, username: str, password: str, actor: str = "system") -> None:
    """Reset a password and clear any lockout."""
    user = user_by_name(session, username)
    if user is None:
        raise NotFound(N_("user %(name)s not found"), name=username)
    if len(password) < 10:
        raise InvalidInput(N_("password must have at least 10 characters"))
    user.password_hash = _HASHER.hash(password)
    user.failed_logins = 0
    user.locked_until = None
    user.tokens_valid_after = utcnow()  # whoever held the old password holds no live token either
    record(session=session, actor=actor, action="user.password_reset", entity="user", entity_id=username)


def set_active(*, session: Session, username: str, active: bool, actor: str = "system") -> None:
    """Enable or disable an account."""
    user = user_by_name(session, username)
    if user is None:
        raise NotFound(N_("user %(name)s not found"), name=username)
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
    """Check a password. From the fifth failure in a row the account waits (30 s, doubling, up to 15 min).

    Attempts while it waits are refused without counting, so an attacker cannot stretch the wait, and
    the right password does not get through. Caller commits either way.
    """
    user = user_by_name(session, username)
    try:
        _HASHER.verify(user.password_hash if user is not None else _DUMMY_HASH, password)
        ok = user is not None
    except (VerificationError, InvalidHashError):
        ok = False
    if user is None:
        raise AuthFailed(SIGN_IN_REFUSED)
    now = utcnow()
    if user.locked_until is not None and user.locked_until > now:
        raise AuthFailed(SIGN_IN_REFUSED)
    if not ok:
        user.failed_logins += 1
        wait = wait_after(user.failed_logins)
        if wait is not None:
            user.locked_until = now + wait
            record(
                session=session,
                actor=f"login:{username}",
                action="user.locked",
                entity="user",
                entity_id=username,
                after={"locked_until": user.locked_until.isoformat(), "failures": user.failed_logins},
                reason=f"{user.failed_logins} failed sign-ins in a row",
            )
        raise AuthFailed(SIGN_IN_REFUSED)
    if not user.active:
        raise AuthFailed(N_("account disabled"))
    user.failed_logins = 0
    user.locked_until = None
    return Principal(user.id, user.username, Role(user.role), user.line, user.locale)


def set_locale(*, session: Session, username: str, locale: str) -> None:
    """Remember the language a person chose for the pages (the caller checks it is one we have)."""
    user = user_by_name(session, username)
    if user is not None:
        user.locale = locale


def issue_token(principal: Principal, *, secret: str, ttl: timedelta, signed_in_at: datetime | None = None) -> str:
    """A signed access token for the API (`signed_in_at`: when the person signed in, kept across renewals)."""
    now = utcnow()
    claims = {
        "auth": (signed_in_at or now).timestamp(),
        "sub": principal.username,
        "uid": principal.user_id,
        "role": principal.role.value,
        "line": principal.line,
        "iat": now.timestamp(),  # with its fraction: a token issued just after a reset must not look older
        "exp": now + ttl,
        "jti": secrets.token_hex(16),  # what sign-out revokes
    }
    return jwt.encode(claims, secret, algorithm=TOKEN_ALGORITHM)


def principal_from_token(*, session: Session, token: str, secret: str) -> Principal:
    """Verify a token (algorithm pinned) and that its user is still active."""
    try:
        claims = _claims(token, secret)
    except jwt.PyJWTError as exc:
        raise AuthFailed(N_("invalid token: %(why)s"), why=str(exc)) from exc
    user = user_by_name(session, str(claims["sub"]))
    if user is None or not user.active:
        raise AuthFailed(N_("user unknown or disabled"))
    issued = datetime.fromtimestamp(float(claims["iat"]), UTC)
    if user.tokens_valid_after is not None and issued < user.tokens_valid_after:
        raise AuthFailed(N_("token ended by a password reset or a sign-out everywhere"))
    if is_revoked(session, str(claims["jti"])):
        raise AuthFailed(N_("token signed out"))
    return Principal(user.id, user.username, Role(user.role), user.line, user.locale)


def renewed_token(*, token: str, secret: str, ttl: timedelta, max_session: timedelta) -> str | None:
    """A fresh token for a page session past half its life, while the person signed in less than `max_session` ago.

    The session slides while the person works, up to a shift; then they sign in again (a badge scan).
    The caller has verified `token` already. None: no renewal due (or the session reached its limit).
    """
    claims = _claims(token, secret)
    now = utcnow()
    issued = datetime.fromtimestamp(float(claims["iat"]), UTC)
    signed_in = datetime.fromtimestamp(float(claims.get("auth", claims["iat"])), UTC)
    if now - issued < ttl / 2 or now - signed_in >= max_session:
        return None
    principal = Principal(int(claims["uid"]), str(claims["sub"]), Role(str(claims["role"])), claims.get("line"))
    return issue_token(principal, secret=secret, ttl=min(ttl, signed_in + max_session - now), signed_in_at=signed_in)


def _claims(token: str, secret: str) -> dict[str, Any]:
    return dict(jwt.decode(token, secret, algorithms=[TOKEN_ALGORITHM], options={"require": ["exp", "iat", "sub", "jti"]}))


def sign_out(*, session: Session, token: str, secret: str, everywhere: bool = False) -> None:
    """End a token now (its id is denied until it expires); `everywhere` ends every token of its user."""
    try:
        claims = _claims(token, secret)
    except jwt.PyJWTError:
        return  # nothing valid to end
    now = utcnow()
    revoke(session, str(claims["jti"]), datetime.fromtimestamp(float(claims["exp"]), UTC), now)
    if everywhere:
        user = user_by_name(session, str(claims["sub"]))
        if user is not None:
            user.tokens_valid_after = now
