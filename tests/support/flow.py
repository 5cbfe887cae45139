"""Helpers that drive the real parts in a test: publish, consume, wait, count."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import redis
from sqlalchemy import func, select

from edge.api_client import EdgeApiClient
from edge.outbox import Outbox
from edge.publisher import Publisher
from services.contracts import ResultEnvelope
from services.core.db import transaction
from services.ingest.consumer import IngestConsumer
from services.inspection.orm import Inspection
from services.inspection.repository import all_result_ids
from services.rework.orm import ReworkEvent, ReworkLoop
from tests.conftest import SECRET, Stack
from tests.support.factories import make_envelope


def fill_outbox(outbox: Outbox, device_id: str, n: int, start: int = 0) -> set[str]:
    """Put n results in the outbox; returns their ids."""
    ids = set()
    for i in range(start, start + n):
        env, png = make_envelope(device_id, i)
        outbox.add(env, png)
        ids.add(env.result_id)
    return ids


def publisher(stack: Stack, outbox: Outbox, *, confirm: bool = True, resend_after_s: float = 3600, batch: int = 500) -> Publisher:
    """A publisher of the stack's device."""
    api = EdgeApiClient(stack.api_url, stack.device.api_key) if confirm else None
    return Publisher(
        outbox=outbox,
        redis_url=stack.redis.url,
        api=api,
        device_id=stack.device.device_id,
        key_id=stack.device.key_id,
        signing_key=stack.signing_key,
        confirm=confirm,
        resend_after_s=resend_after_s,
        batch=batch,
    )


def consumer(stack: Stack, name: str = "ingest-1", **kw: object) -> IngestConsumer:
    """An ingest consumer on the stack."""
    s = stack.ingest_settings(consumer_name=name, discover_every_s=0.1, **kw)
    return IngestConsumer(redis_url=stack.redis.url, session_factory=stack.sessions, master_secret=SECRET.encode(), settings=s)


def round_trip(pub: Publisher, con: IngestConsumer) -> Callable[[], None]:
    """One turn of the whole path: publish, confirm (riding out a Redis that is still coming back), ingest."""

    def step() -> None:
        try:
            pub.publish_once()
            pub.confirm_once()
        except redis.RedisError:
            pass
        con.step(block_ms=20)

    return step


def stored_ids(stack: Stack) -> set[str]:
    """result_ids in the database."""
    with transaction(stack.sessions) as s:
        return all_result_ids(s)


def consequences(stack: Stack) -> tuple[int, int, int]:
    """(NG string EL results, rework loops, loop_opened events): equal when every result moved the loop exactly once."""
    with transaction(stack.sessions) as s:
        ng = s.scalar(select(func.count(Inspection.id)).where(Inspection.verdict == "NG"))
        loops = s.scalar(select(func.count(ReworkLoop.id)))
        opened = s.scalar(select(func.count(ReworkEvent.id)).where(ReworkEvent.kind == "loop_opened"))
    return int(ng or 0), int(loops or 0), int(opened or 0)


def pending(stack: Stack, device_id: str | None = None, group: str = "ingest") -> int:
    """Messages delivered to the group but not acknowledged."""
    r = redis.Redis.from_url(stack.redis.url)
    stream = f"results:{device_id or stack.device.device_id}"
    if not r.exists(stream):
        return 0
    try:
        return int(r.xpending(stream, group)["pending"])
    except redis.ResponseError:
        return 0


def until(
    cond: Callable[[], bool], *, timeout_s: float, step: Callable[[], object] | None = None, what: str = "condition"
) -> None:
    """Drive `step` until `cond` holds; fail after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        if step is not None:
            step()
        else:
            time.sleep(0.05)


def spool_files(outbox_path: Path) -> list[Path]:
    """Images still waiting in the spool."""
    spool = outbox_path.parent / (outbox_path.stem + "-spool")
    return [p for p in spool.iterdir() if not p.name.startswith(".")]


__all__ = ["ResultEnvelope"]
