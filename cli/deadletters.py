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
    return redis.Redis.from_url(url, decode_responses=True)


@dead_app.command("list")
def list_cmd(limit: Annotated[int, typer.Option(help="Newest N")] = 50) -> None:
    """Newest dead-lettered messages with their reason."""
    r = _redis()
    table = Table(title=f"{DEAD_LETTER_STREAM}: {r.xlen(DEAD_LETTER_STREAM)} messages")
    for c in ("id", "from stream", "reason"):
        table.add_column(c)
    for mid, fields in r.xrevrange(DEAD_LETTER_STREAM, count=limit):
        table.add_row(mid, fields.get("stream", ""), fields.get("reason", ""))
    console.print(table)


@dead_app.command("replay")
def replay_cmd(ids: Annotated[list[str], typer.Argument(help="Dead-letter ids (from `list`)")]) -> None:
    """Put messages back on their device stream (e.g. after provisioning a device), then drop them here."""
    r = _redis()
    for mid in ids:
        found = r.xrange(DEAD_LETTER_STREAM, min=mid, max=mid)
        if not found:
            console.print(f"[red]{mid}: not found[/]")
            continue
        fields = found[0][1]
        original = {k[2:]: v for k, v in fields.items() if k.startswith("f_")}
        r.xadd(fields["stream"], original)
        r.xdel(DEAD_LETTER_STREAM, mid)
        console.print(f"{mid}: replayed to {fields['stream']}")
