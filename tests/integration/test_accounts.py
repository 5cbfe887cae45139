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
    FIRST_WAIT,
    LOCKOUT,
    MAX_FAILED,
    AuthFailed,
    create_user,
    issue_token,
    login,
    principal_from_token,
    set_active,
    set_password,
    wait_after,
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
            with pytest.raises(AuthFailed, match="sign-in refused"):
                _attempt(sessions, "qe9", "wrong password")
        with transaction(sessions) as s:
            login(session=s, username="qe9", password="x" * 10)  # four failures and a success: the count starts over
        for _ in range(MAX_FAILED - 1):
            with pytest.raises(AuthFailed, match="sign-in refused"):
                _attempt(sessions, "qe9", "wrong password")
        with transaction(sessions) as s:
            assert s.scalar(select(User.locked_until)) is None  # still not waiting after 4 more
        with pytest.raises(AuthFailed, match="sign-in refused"):
            _attempt(sessions, "qe9", "wrong password")  # the fifth in a row: the account waits 30 s
        set_clock(T + FIRST_WAIT - timedelta(seconds=1))
        with pytest.raises(AuthFailed, match="sign-in refused"):  # the same answer as a wrong password
            _attempt(sessions, "qe9", "x" * 10)
        set_clock(T + FIRST_WAIT)
        with transaction(sessions) as s:
            login(session=s, username="qe9", password="x" * 10)  # the wait is over
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
    assert MAX_FAILED == 5 and timedelta(minutes=15) == LOCKOUT and timedelta(seconds=30) == FIRST_WAIT
    assert [wait_after(n) for n in (4, 5, 6, 7, 9, 10, 40)] == [
        None,
        timedelta(seconds=30),
        timedelta(minutes=1),
        timedelta(minutes=2),
        timedelta(minutes=8),
        timedelta(minutes=15),
        timedelta(minutes=15),
    ]


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


def test_the_wait_grows_with_each_failure_cannot_be_stretched_and_a_reset_clears_it(sqlite_url: str) -> None:
    """Failures in a row: 30 s after the fifth, doubling after each further one; attempts during a wait are
    refused without counting (an attacker cannot keep a named engineer out longer); a reset starts over."""
    sessions = make_sessionmaker(make_engine(sqlite_url))
    with transaction(sessions) as s:
        create_user(session=s, username="qe8", password="x" * 10, role="quality_engineer")

    def fail(times: int) -> None:
        for _ in range(times):
            with pytest.raises(AuthFailed, match="sign-in refused"):
                _attempt(sessions, "qe8", "wrong password")

    def until() -> datetime | None:
        with transaction(sessions) as s:
            return s.scalar(select(User.locked_until).where(User.username == "qe8"))

    set_clock(T)
    try:
        fail(MAX_FAILED)
        assert until() == T + FIRST_WAIT
        fail(20)  # during the wait: refused, not counted, the wait does not grow
        assert until() == T + FIRST_WAIT
        set_clock(T + FIRST_WAIT)
        fail(1)  # the sixth in a row: one minute
        assert until() == T + FIRST_WAIT + timedelta(minutes=1)
        with transaction(sessions) as s:
            set_password(session=s, username="qe8", password="n" * 10)  # a reset clears the wait and the count
        fail(MAX_FAILED - 1)
        assert until() is None
    finally:
        set_clock(None)


def test_unknown_waiting_and_wrong_password_answer_alike_and_take_as_long(sqlite_url: str) -> None:
    """Nothing to enumerate: the same message, and one argon2 verify each (timed, within a generous factor)."""
    import time

    sessions = make_sessionmaker(make_engine(sqlite_url))
    with transaction(sessions) as s:
        create_user(session=s, username="qe7", password="x" * 10, role="quality_engineer")
    set_clock(T)
    try:
        for _ in range(MAX_FAILED):
            with pytest.raises(AuthFailed):
                _attempt(sessions, "qe7", "wrong password")  # qe7 now waits

        def timed(username: str, password: str) -> tuple[str, float]:
            t0 = time.perf_counter()
            with pytest.raises(AuthFailed) as exc:
                _attempt(sessions, username, password)
            return str(exc.value.detail), time.perf_counter() - t0

        answers = [timed("nobody-here", "whatever-pw"), timed("qe7", "x" * 10), timed("qe7", "wrong again")]
    finally:
        set_clock(None)
    assert len({a for a, _ in answers}) == 1
    fastest, slowest = min(t for _, t in answers), max(t for _, t in answers)
    assert slowest < 3 * fastest, answers  # before: a waiting account answered in 31 ms, the others in ~500 ms
