"""A result from a device provisioned too late: dead-lettered with the reason, then replayed and stored."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import redis

from cli.servers.redis import RedisServer
from services.contracts import derive_signing_key, encode_message
from services.contracts.signing import DEAD_LETTER_STREAM
from services.core.db import transaction
from services.devices.service import provision_device
from tests.conftest import SECRET, make_stack
from tests.support.factories import make_envelope
from tests.support.flow import consumer, stored_ids, until

ROOT = Path(__file__).resolve().parents[2]


def test_replay_after_the_device_is_provisioned(sqlite_url: str, redis_server: RedisServer, tmp_path: Path) -> None:
    st = make_stack(sqlite_url, redis_server, tmp_path)
    try:
        r = redis.Redis.from_url(redis_server.url, decode_responses=True)
        env, _png = make_envelope("edge-late", 1)
        # Signed with the key the device will get: its key id is only known once provisioned, so guess one.
        r.xadd(
            "results:edge-late",
            encode_message(env, key_id="k-late", key=derive_signing_key(SECRET.encode(), "edge-late", "k-late")),
        )
        con = consumer(st)
        until(lambda: r.xlen(DEAD_LETTER_STREAM) == 1, timeout_s=20, step=lambda: con.step(block_ms=10), what="dead letter")
        assert "unknown key" in r.xrange(DEAD_LETTER_STREAM)[0][1]["reason"]
        env_vars = dict(
            os.environ, ELTRACE_REDIS_URL=redis_server.url, ELTRACE_DATABASE_URL=sqlite_url, ELTRACE_SECRET_KEY=SECRET
        )
        listing = subprocess.run(
            [sys.executable, "-m", "cli.main", "deadletters", "list"],
            cwd=ROOT,
            env=env_vars,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "unknown key" in listing.stdout
        # The device is provisioned (its key id differs), re-signs and re-sends from its outbox in real
        # life; here the operator replays the stored message after fixing the cause.
        with transaction(st.sessions) as s:
            cred = provision_device(session=s, code="edge-late", station_code="STR-EL-01", master_secret=SECRET.encode())
        dead_id, fields = r.xrange(DEAD_LETTER_STREAM)[0]
        r.xdel(DEAD_LETTER_STREAM, dead_id)
        r.xadd(
            DEAD_LETTER_STREAM,
            {
                **fields,
                "f_kid": cred.key_id,
                "f_sig": encode_message(env, key_id=cred.key_id, key=bytes.fromhex(cred.signing_key_hex))["sig"],
            },
        )
        new_id = r.xrange(DEAD_LETTER_STREAM)[0][0]
        replay = subprocess.run(
            [sys.executable, "-m", "cli.main", "deadletters", "replay", new_id],
            cwd=ROOT,
            env=env_vars,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert replay.returncode == 0 and "replayed" in replay.stdout
        until(lambda: env.result_id in stored_ids(st), timeout_s=20, step=lambda: con.step(block_ms=10), what="replayed result")
        assert r.xlen(DEAD_LETTER_STREAM) == 0
    finally:
        for t in st.threads:
            t.stop()
