"""Accounts: a disabled account signs in no more, and the tokens it already holds stop working at once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.core.db import make_engine, make_sessionmaker, transaction
from services.security.service import AuthFailed, create_user, issue_token, login, principal_from_token, set_active

SECRET = "x" * 40


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
