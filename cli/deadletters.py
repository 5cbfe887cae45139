"""`eltrace deadletters`: see what ingest refused and why, and replay it once the cause is fixed."""

from __future__ import annotations

from typing import Annotated

import redis
import typer
from rich.console import Console
from rich.table import Table

from services.contracts.signing import DEAD_LETTER_STREAM

dead_app = typer.Typer(help="Messages the ingest consumer refused (dead-letter stream).", no_args_is_help=True)
console = Console()


def _redis() -> redis.Redis:
    from cli.runtime import ensure_redis
    from services.core.settings import CoreSettings

    url, _server = ensure_redis(CoreSettings())
    return redis.Redis.from_url(url)  # bytes: a dead letter may hold the very bytes that were not UTF-8


def _show(value: bytes | None) -> str:
    return (value or b"").decode(errors="replace")


@dead_app.command("list")
def list_cmd(limit: Annotated[int, typer.Option(help="Newest N")] = 50) -> None:
    """Newest dead-lettered messages with their reason."""
    r = _redis()
    table = Table(title=f"{DEAD_LETTER_STREAM}: {r.xlen(DEAD_LETTER_STREAM)} messages")
    for c in ("id", "from stream", "reason"):
        table.add_column(c)
    for mid, fields in r.xrevrange(DEAD_LETTER_STREAM, count=limit):
        table.add_row(_show(mid), _show(fields.get(b"stream")), _show(fields.get(b"reason")))
    console.print(table)


@dead_app.command("replay")
def replay_cmd(ids: Annotated[list[str], typer.Argument(help="Dead-letter ids (from `list`)")]) -> None:
    """Put messages back on their device stream (e.g. after provisioning a device), then drop them here."""
    r = _redis()
    failed = 0
    for mid in ids:
        found = r.xrange(DEAD_LETTER_STREAM, min=mid, max=mid)
        if not found:
            console.print(f"[red]{mid}: not found[/]")
            failed += 1
            continue
        fields = found[0][1]
        original = {k[2:]: v for k, v in fields.items() if k.startswith(b"f_")}
        stream = fields[b"stream"]
        # One MULTI/EXEC: the message is back on its stream and gone from here, or neither.
        pipe = r.pipeline(transaction=True)
        pipe.xadd(stream, original)  # type: ignore[arg-type]
        pipe.xdel(DEAD_LETTER_STREAM, mid)
        pipe.execute()
        console.print(f"{mid}: replayed to {_show(stream)}")
    if failed:
        raise typer.Exit(1)
