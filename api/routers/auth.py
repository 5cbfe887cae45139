"""Login for the API: username + password -> short-lived bearer token."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from api.deps import ERRORS, ErrorRead, SessionDep, get_settings
from services.core.errors import DomainError
from services.security.service import AuthFailed, issue_token, login

router = APIRouter(prefix="/api/v1/auth", tags=["auth"], responses={**ERRORS, 429: {"model": ErrorRead}})

FAILS_PER_WINDOW = 20
WINDOW_S = 300.0


class TooManyAttempts(DomainError):
    """Too many failed logins from one address."""

    code = "too_many_attempts"
    status = 429


class FailedLoginThrottle:
    """Failed logins per client address in a sliding window (per API process; the account lockout is global)."""

    def __init__(self) -> None:
        self._fails: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def check(self, addr: str) -> None:
        now = time.monotonic()
        with self._lock:
            q = self._fails[addr]
            while q and now - q[0] > WINDOW_S:
                q.popleft()
            if len(q) >= FAILS_PER_WINDOW:
                raise TooManyAttempts(f"too many failed logins from this address; wait {int(WINDOW_S - (now - q[0])) + 1} s")

    def failed(self, addr: str) -> None:
        with self._lock:
            self._fails[addr].append(time.monotonic())


class TokenRead(BaseModel):
    access_token: str
    token_type: str = "bearer"
    role: str


@router.post("/token")
def token(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep) -> TokenRead:
    """Exchange a username and password for a bearer token (OAuth2 password flow)."""
    addr = request.client.host if request.client else "unknown"
    throttle: FailedLoginThrottle = request.app.state.login_throttle
    throttle.check(addr)
    try:
        principal = login(session=session, username=form.username, password=form.password)
    except AuthFailed:
        throttle.failed(addr)
        session.commit()  # the failed-login counter must persist, or there is no lockout
        raise
    secret = get_settings(request).secret_key.get_secret_value()
    return TokenRead(access_token=issue_token(principal, secret=secret), role=principal.role.value)
