"""`eltrace events`: the delivery process (webhooks, commit order, retries) and subscribers from the shell."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

events_app = typer.Typer(help="Events out to the MES: the deliverer and webhook subscribers.", no_args_is_help=True)
console = Console()


def _settings():  # type: ignore[no-untyped-def]
    from services.core.logging import configure_logging
    from services.core.settings import CoreSettings

    s = CoreSettings()
    configure_logging(json=s.log_json)
    return s


def _sessions(url: str):  # type: ignore[no-untyped-def]
    from services.core.db import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(url))


def picture_url_fn(public_url: str, master: bytes):  # type: ignore[no-untyped-def]
    """sha256 -> a signed picture link on the API (the same form the feed uses)."""
    from services.events.signing import picture_query

    base = public_url.rstrip("/")
    return lambda sha: f"{base}/api/v1/pictures/{sha}?{picture_query(master, sha)}"


@events_app.command("deliver")
def deliver_cmd(
    metrics_port: Annotated[int | None, typer.Option(help="Prometheus scrape port (lag, failures per subscriber)")] = None,
    poll_s: Annotated[float, typer.Option(help="Idle wait between passes")] = 0.05,
) -> None:
    """Sequence the outbox in commit order and deliver it to every subscriber until SIGTERM."""
    from cli.runtime import stop_event
    from services.events.delivery import Deliverer, DeliverySettings

    s = _settings()
    if s.profile == "production":
        from cli.main import _refuse_placeholder_secret

        _refuse_placeholder_secret(s, "events deliver")
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr="127.0.0.1")
    master = s.secret_key.get_secret_value().encode()
    settings = DeliverySettings(
        master_secret=master, source=s.event_source, poll_s=poll_s, picture_url=picture_url_fn(s.public_url, master)
    )
    from services.core.db import make_engine, make_sessionmaker

    workers = 8
    # One connection per delivery thread plus the loop's own, kept open: an overflow connection is
    # closed on return, and reconnecting to PostgreSQL on every batch costs more than the batch.
    engine = make_engine(s.resolved_database_url(), pool_size=workers + 2, max_overflow=2)
    Deliverer(make_sessionmaker(engine), settings, workers=workers).run(stop_event())


@events_app.command("subscribe")
def subscribe_cmd(
    name: str,
    url: str,
    types: Annotated[str, typer.Option(help="Comma-separated event types; empty: all")] = "",
    batch_size: int = 100,
    from_start: Annotated[bool, typer.Option(help="Also deliver every event already in the outbox")] = False,
) -> None:
    """Register a webhook receiver and print its key id and secret once."""
    from services.core.db import transaction
    from services.events.schemas import SubscriberCreate
    from services.events.service import create_subscriber, parse_types

    s = _settings()
    spec = SubscriberCreate.model_validate({"name": name, "url": url, "types": parse_types(types), "batch_size": batch_size})
    with transaction(_sessions(s.resolved_database_url())) as session:
        out = create_subscriber(
            session=session, spec=spec, master_secret=s.secret_key.get_secret_value().encode(), actor="cli", from_start=from_start
        )
    print(json.dumps({"id": out.subscriber.id, "name": name, "key_id": out.key_id, "secret": out.secret}))


@events_app.command("status")
def status_cmd(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every subscriber: cursor, lag, failures, dead letters."""
    from services.events.service import list_subscribers

    s = _settings()
    with _sessions(s.resolved_database_url())() as session:
        subs = list_subscribers(session=session)
    rows = [r.model_dump(mode="json") for r in subs]
    if as_json:
        print(json.dumps(rows))
        return
    for r in rows:
        state = "paused" if r["paused"] else ("failing: " + (r["last_error"] or "")) if r["attempts"] else "ok"
        console.print(f"{r['name']}: {r['url']} cursor {r['cursor']} lag {r['lag']} dead {r['dead_letters']} ({state})")
