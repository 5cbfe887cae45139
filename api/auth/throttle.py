"""Failed sign-ins per client address (API and pages share one throttle; the account lockout is global)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

from services.core.errors import DomainError

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
        """Refuse an address with too many recent failures."""
        now = time.monotonic()
        with self._lock:
            q = self._fails[addr]
            while q and now - q[0] > WINDOW_S:
                q.popleft()
            if len(q) >= FAILS_PER_WINDOW:
                raise TooManyAttempts(f"too many failed logins from this address; wait {int(WINDOW_S - (now - q[0])) + 1} s")

    def failed(self, addr: str) -> None:
        """Count one failed sign-in."""
        with self._lock:
            self._fails[addr].append(time.monotonic())
