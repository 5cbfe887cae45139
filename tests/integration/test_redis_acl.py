"""The shipped Redis ACL file, loaded into a real redis-server: a device may only XADD to its own stream."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import redis

from cli.servers.redis import RedisServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def acl_redis(tmp_path: Path):  # type: ignore[no-untyped-def]
    text = (ROOT / "deploy" / "redis-users.acl").read_text()
    text = text.replace("#REPLACE_WITH_SHA256_OF_INGEST_PASSWORD", "#" + hashlib.sha256(b"ingest-pw").hexdigest())
    text = text.replace("#REPLACE_WITH_SHA256_OF_EDGE_PASSWORD", "#" + hashlib.sha256(b"edge-pw").hexdigest())
    acl = tmp_path / "users.acl"
    acl.write_text(text)
    server = RedisServer(tmp_path / "r", extra_args=["--aclfile", str(acl)]).start()
    yield server
    server.stop()


def test_device_user_can_only_append_to_and_look_into_its_own_stream(acl_redis: RedisServer) -> None:
    edge = redis.Redis(port=acl_redis.port, username="edge-str01", password="edge-pw")
    sid = edge.xadd("results:edge-str01", {"v": "1"})
    # XRANGE of its own stream: the publisher re-sends a result only when its entry is gone (docs/reliability.md).
    assert edge.xrange("results:edge-str01", min=sid, max=sid)
    for forbidden in (
        lambda: edge.xadd("results:edge-str02", {"v": "1"}),  # another device's stream
        lambda: edge.xrange("results:edge-str02"),  # reading another device's results
        lambda: edge.xreadgroup("ingest", "x", {"results:edge-str01": ">"}),  # consuming
        lambda: edge.xack("results:edge-str01", "ingest", sid),  # acknowledging what ingest has not stored
        lambda: edge.xdel("results:edge-str01", sid),
        lambda: edge.xtrim("results:edge-str01", maxlen=0),  # trimming away unread results
        lambda: edge.delete("results:edge-str01"),
        lambda: edge.set("x", "1"),
        lambda: edge.keys("*"),
    ):
        with pytest.raises(redis.exceptions.NoPermissionError):
            forbidden()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=acl_redis.port).ping()  # the default user is off


def test_ingest_user_reads_streams_and_writes_dead_letters_only(acl_redis: RedisServer) -> None:
    ingest = redis.Redis(port=acl_redis.port, username="ingest", password="ingest-pw", decode_responses=True)
    ingest.xgroup_create("results:edge-str01", "ingest", id="0", mkstream=True)
    assert list(ingest.scan_iter(match="results:*", _type="STREAM")) == ["results:edge-str01"]
    ingest.xadd("results-dead", {"reason": "test"})
    # Trimming what is acknowledged, and the atomic dead-letter replay (MULTI/EXEC), are allowed.
    assert ingest.xtrim("results:edge-str01", minid="0-1") == 0
    pipe = ingest.pipeline(transaction=True)
    pipe.xadd("results:edge-str01", {"v": "2"})
    pipe.xdel("results-dead", "0-1")
    assert pipe.execute()[1] == 0
    with pytest.raises(redis.exceptions.NoPermissionError):
        ingest.set("other", "1")
