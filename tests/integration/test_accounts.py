"""Accounts: a disabled account signs in no more, and the tokens it already holds stop working at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.audit.orm import AuditEntry
from services.core.db import make_engine, make_sessionmaker, transaction
from services.core.errors import Conflict, InvalidInput, NotFound
from services.core.time import set_clock
from services.security.orm import User
from services.security.service import (
    LOCKOUT,
    MAX_FAILED,
    AuthFailed,
    create_user,
    issue_token,
    login,
    principal_from_token,
    set_active,
    set_password,
)

SECRET = "x" * 40
T = datetime(2026, 5, 4, 7, 0, tzinfo=UTC)


def test_disabling_an_account_blocks_its_sign_in_and_ends_its_live_tokens(sqlite_url: str) -> None:
    sessions = make_sessionmaker(make_engine(sqlite_url))
    with transaction(sessions) as s:
        create_user(session=s, username="op9", password="correct horse 9", role="operator")
    with transaction(sessions) as s:
        token = issue_token(
            login(session=s, username="op9", password="correct horse 9"), secret=SECRET, ttl=timedelta(minutes=30)
        )
        assert principal_from_token(session=s, token=token, secret=SECRET).username == "op9"
    with transaction(sessions) as s:
        set_active(session=s, username="op9", active=False, actor="admin")
    with pytest.raises(AuthFailed, match="disabled"), transaction(sessions) as s:
        login(session=s, username="op9", password="correct horse 9")
    with pytest.raises(AuthFailed, match="disabled"), transaction(sessions) as s:
        principal_from_token(session=s, token=token, secret=SECRET)  # issued before: refused now
    with transaction(sessions) as s:
        set_active(session=s, username="op9", active=True, actor="admin")
    with transaction(sessions) as s:
        assert principal_from_token(session=s, token=token, secret=SECRET).username == "op9"


def _attempt(sessions: sessionmaker[Session], username: str, password: str) -> None:
    """A sign-in as the API does it: a failure is committed too (or there would be no lockout)."""
    failed: AuthFailed | None = None
    with transaction(sessions) as s:
        try:
            login(session=s, username=username, password=password)
        except AuthFailed as exc:
            failed = exc
    if failed is not None:
        raise failed


def test_account_rules_at_their_edges(sqlite_url: str) -> None:
    """Passwords of 10 characters and up; known roles only; one account per name; a reset clears a lockout."""
    sessions = make_sessionmaker(make_engine(sqlite_url))
    with transaction(sessions) as s:
        create_user(session=s, username="qe9", password="x" * 10, role="quality_engineer")
    for kw, exc, msg in (
        ({"username": "a1", "password": "x" * 9, "role": "operator"}, InvalidInput, "at least 10"),
        ({"username": "a2", "password": "x" * 10, "role": "boss"}, InvalidInput, "unknown role"),
        ({"username": "qe9", "password": "y" * 12, "role": "operator"}, Conflict, "exists"),
    ):
        with pytest.raises(exc, match=msg), transaction(sessions) as s:
            create_user(session=s, **kw)  # type: ignore[arg-type]
    with pytest.raises(NotFound), transaction(sessions) as s:
        set_password(session=s, username="nobody", password="z" * 12)
    with pytest.raises(NotFound), transaction(sessions) as s:
        set_active(session=s, username="nobody", active=False)
    with pytest.raises(InvalidInput, match="at least 10"), transaction(sessions) as s:
        set_password(session=s, username="qe9", password="z" * 9)
    set_clock(T)
    try:
        for _ in range(MAX_FAILED - 1):
            with pytest.raises(AuthFailed, match="invalid"):
                _attempt(sessions, "qe9", "wrong password")
        with transaction(sessions) as s:
            login(session=s, username="qe9", password="x" * 10)  # four failures and a success: the count starts over
        for _ in range(MAX_FAILED - 1):
            with pytest.raises(AuthFailed, match="invalid"):
                _attempt(sessions, "qe9", "wrong password")
        with transaction(sessions) as s:
            assert s.scalar(select(User.locked_until)) is None  # still not locked after 4 more
        with pytest.raises(AuthFailed, match="invalid"):
            _attempt(sessions, "qe9", "wrong password")  # the fifth in a row locks
        set_clock(T + LOCKOUT - timedelta(seconds=1))
        with pytest.raises(AuthFailed, match="locked"):
            _attempt(sessions, "qe9", "x" * 10)
        set_clock(T + LOCKOUT)
        with transaction(sessions) as s:
            login(session=s, username="qe9", password="x" * 10)  # the lockout is over
        with transaction(sessions) as s:
            set_password(session=s, username="qe9", password="n" * 10)
        with pytest.raises(AuthFailed), transaction(sessions) as s:
            login(session=s, username="qe9", password="x" * 10)  # the old password is gone
        with transaction(sessions) as s:
            set_active(session=s, username="qe9", active=False)
            set_active(session=s, username="qe9", active=True)
        with transaction(sessions) as s:
            actions = list(s.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    finally:
        set_clock(None)
    assert actions == ["user.created", "user.locked", "user.password_reset", "user.disabled", "user.enabled"]
    assert MAX_FAILED == 5 and timedelta(minutes=15) == LOCKOUT


def test_a_token_lives_exactly_its_ttl(sqlite_url: str) -> None:
    sessions = make_sessionmaker(make_engine(sqlite_url))
    with transaction(sessions) as s:
        create_user(session=s, username="op8", password="correct horse 8", role="operator", line="L2")
    set_clock(T)
    try:
        with transaction(sessions) as s:
            token = issue_token(
                login(session=s, username="op8", password="correct horse 8"), secret=SECRET, ttl=timedelta(minutes=30)
            )
        claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False})
        assert claims["exp"] - claims["iat"] == 30 * 60 and claims["role"] == "operator" and claims["line"] == "L2"
    finally:
        set_clock(None)
    with pytest.raises(AuthFailed, match="invalid token"), transaction(sessions) as s:
        principal_from_token(session=s, token=token, secret=SECRET)  # the real clock is far past T + 30 min
    with pytest.raises(AuthFailed, match="invalid token"), transaction(sessions) as s:
        principal_from_token(session=s, token=token, secret="y" * 40)


def test_the_failure_count_starts_over_after_a_lockout_and_after_a_reset(sqlite_url: str) -> None:
    """Four failures never lock, whatever came before: not after a lockout ran out, not after a password reset."""
    sessions = make_sessionmaker(make_engine(sqlite_url))
    with transaction(sessions) as s:
        create_user(session=s, username="qe8", password="x" * 10, role="quality_engineer")

    def fail(times: int) -> None:
        for _ in range(times):
            with pytest.raises(AuthFailed):
                _attempt(sessions, "qe8", "wrong password")

    def locked() -> bool:
        with transaction(sessions) as s:
            return s.scalar(select(User.locked_until).where(User.username == "qe8")) is not None

    set_clock(T)
    try:
        fail(MAX_FAILED)
        assert locked()
        set_clock(T + LOCKOUT)  # the lock ran out; no successful sign-in since
        fail(MAX_FAILED - 1)
        with transaction(sessions) as s:
            assert s.scalar(select(User.locked_until).where(User.username == "qe8")) == T + LOCKOUT  # not locked again
        fail(1)  # the fifth after the lockout locks again
        with transaction(sessions) as s:
            set_password(session=s, username="qe8", password="n" * 10)  # a reset clears lock and count
        fail(MAX_FAILED - 1)
        assert not locked()
    finally:
        set_clock(None)
