"""The fault matrix's bookkeeping: what was fed, what landed, and the real processes it kills."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import redis
from sqlalchemy import func, select

from services.core.db import transaction
from services.inspection.orm import Inspection
from tests.conftest import SECRET, Stack
from tests.support.flow import consequences, pending

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Tally:
    """fed / stored / lost / doubled / stuck of one scenario (printed, then asserted)."""

    fault: str
    fed: int
    stored: int
    lost: int
    doubled: int
    stuck: int

    def line(self) -> str:
        """One line for the test log."""
        return (
            f"fault={self.fault} fed={self.fed} stored={self.stored} lost={self.lost} doubled={self.doubled} stuck={self.stuck}"
        )

    @property
    def clean(self) -> bool:
        """Nothing lost, nothing doubled, nothing stuck."""
        return self.lost == 0 and self.doubled == 0 and self.stuck == 0


def tally(fault: str, stack: Stack, expected: set[str], *, devices: list[str] | None = None, outbox_left: int = 0) -> Tally:
    """Count against the database: lost = expected and not stored; doubled = extra rows or loop moves."""
    with transaction(stack.sessions) as s:
        rows = int(s.scalar(select(func.count(Inspection.id))) or 0)
        ids = set(s.scalars(select(Inspection.result_id)))
    ng, loops, opened = consequences(stack)
    stuck = sum(pending(stack, d) for d in (devices or [stack.device.device_id])) + outbox_left
    t = Tally(
        fault=fault,
        fed=len(expected),
        stored=len(ids & expected),
        lost=len(expected - ids),
        doubled=(rows - len(ids)) + max(0, opened - ng) + max(0, loops - ng),
        stuck=stuck,
    )
    print(t.line())
    return t


def ingest_env(stack: Stack, tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment of a real `eltrace ingest` process on the stack."""
    env = dict(
        os.environ,
        ELTRACE_PROFILE="test",
        ELTRACE_DATABASE_URL=stack.db_url,
        ELTRACE_REDIS_URL=stack.redis.url,
        ELTRACE_SECRET_KEY=SECRET,
        ELTRACE_BATCH_SIZE="100",
        ELTRACE_CLAIM_IDLE_MS="500",
        ELTRACE_DISCOVER_EVERY_S="0.2",
        ELTRACE_TRIM_EVERY_S="0.5",
        ELTRACE_DATA_DIR=str(tmp_path / "ingest"),
    )
    env.pop("ELTRACE_CONSUMER_NAME", None)
    env.update(extra)
    return env


def start_ingest(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A real `eltrace ingest` process (its log kept for the failure message)."""
    out = log.open("ab")
    return subprocess.Popen([sys.executable, "-m", "cli.main", "ingest"], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


def stream_entries(url: str, device: str) -> int:
    """XLEN of a device stream."""
    return int(redis.Redis.from_url(url).xlen(f"results:{device}"))
