"""`eltrace edge`: run a station's worker; `edge status` (also the health check) and `edge requeue`."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

edge_app = typer.Typer(
    help="Edge worker of one string EL station: `eltrace edge` runs it; `status` and `requeue` look after its outbox.",
    invoke_without_command=True,
)
if TYPE_CHECKING:
    from edge.pipeline import Inspector

console = Console()
HEARTBEAT_STALE_S = 60.0


@edge_app.callback()
def edge_cmd(ctx: typer.Context) -> None:
    """Run an edge worker: watch a folder, judge each image, publish through the outbox (no subcommand)."""
    if ctx.invoked_subcommand is not None:
        return
    from cli.runtime import stop_event
    from edge.publisher import supervise
    from edge.settings import EdgeSettings
    from edge.wiring import build_edge
    from services.core.logging import configure_logging

    s = EdgeSettings()
    configure_logging()
    parts = build_edge(s)
    if s.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(s.metrics_port, addr=s.metrics_addr)
    stop = stop_event()
    pub = parts.publisher

    def restarted() -> None:
        pub.state.restarts += 1

    # Supervised: a publisher that dies is restarted, and publisher.json (the health check) shows it.
    t = supervise(pub.run, stop, name="publisher", on_restart=restarted)
    if s.model_sync_s > 0 and s.api_key.get_secret_value():  # the API names the station's model; switched between images
        from edge.api_client import EdgeApiClient
        from edge.modelsync import ModelSync
        from edge.wiring import load_inspector

        def load(folder: Path) -> Inspector:
            return load_inspector(
                folder, rules_path=s.rules_path, device_id=s.device_id, station_id=s.station_id, threads=s.threads, warm_up=True
            )

        sync = ModelSync(
            api=EdgeApiClient(s.api_url, s.api_key.get_secret_value()),  # its own connection pool, its own thread
            worker=parts.worker,
            models_dir=s.models_dir,
            device_id=s.device_id,
            signing_key=bytes.fromhex(s.signing_key.get_secret_value()),
            load=load,
            state_path=s.outbox_path.parent / "model.json",
        )
        supervise(lambda st: sync.run(st, interval_s=s.model_sync_s), stop, name="model-sync", on_restart=lambda: None)
    console.print(
        f"edge {s.device_id} watching {s.watch_dir} with model {parts.inspector.model_ref.name} {parts.inspector.model_ref.version}"
    )
    parts.worker.run(stop, poll_s=s.poll_s)
    t.join(5)
    parts.outbox.close()


def health(now: float | None = None) -> dict[str, object]:
    """The station's state from its outbox and heartbeat files, with the problems that make it unhealthy."""
    from edge.modelsync import read_sync_state
    from edge.outbox import Outbox
    from edge.publisher import read_state
    from edge.settings import EdgeSettings

    s = EdgeSettings()
    now = time.time() if now is None else now
    outbox = Outbox(s.outbox_path, sweep=False)  # the running worker may be mid-write
    try:
        st = outbox.status(now)
        parked = outbox.parked(limit=20)
    finally:
        outbox.close()
    pub = read_state(s.outbox_path)
    heartbeat = s.outbox_path.parent / "heartbeat"
    worker_age = now - heartbeat.stat().st_mtime if heartbeat.exists() else None
    free = shutil.disk_usage(s.outbox_path.parent).free
    problems: list[str] = []
    if worker_age is None or worker_age > HEARTBEAT_STALE_S:
        problems.append("worker heartbeat missing or stale")
    if pub is None or now - pub.at > HEARTBEAT_STALE_S:
        problems.append("publisher not running (publisher.json missing or stale)")
    elif pub.unauthorized:
        problems.append("the API refuses this device's key")
    model = read_sync_state(s.outbox_path)
    if model is not None and model.refused:
        problems.append(f"assigned model refused, still judging with {model.live}: {model.refused}")
    if free < s.min_free_mb * 1024 * 1024:
        problems.append(f"disk full: {free // (1024 * 1024)} MiB free, new images wait unjudged")
    if st.oldest_unconfirmed_s is not None and st.oldest_unconfirmed_s > s.stuck_after_s:
        problems.append(f"a result has waited {st.oldest_unconfirmed_s:.0f} s unconfirmed (limit {s.stuck_after_s:.0f} s)")
    return {
        "device_id": s.device_id,
        "healthy": not problems,
        "problems": problems,
        "outbox": asdict(st),
        "parked": [{"result_id": r, "reason": why, "parked_at": at} for r, why, at in parked],
        "publisher": asdict(pub) if pub else None,
        "model": asdict(model) if model else None,
        "worker_heartbeat_age_s": worker_age,
        "free_bytes": free,
    }


@edge_app.command("status")
def status_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object")] = False,
) -> None:
    """Outbox (waiting, in flight, parked with reasons), publisher progress, disk; exit 1 when unhealthy."""
    h = health()
    if as_json:
        print(json.dumps(h, default=str))
    else:
        ob = h["outbox"]
        assert isinstance(ob, dict)
        console.print(f"[bold]{h['device_id']}[/]: {'[green]healthy[/]' if h['healthy'] else '[red]UNHEALTHY[/]'}")
        for p in h["problems"]:  # type: ignore[attr-defined]
            console.print(f"  [red]- {p}[/]")
        console.print(
            f"  outbox: {ob['waiting']} waiting, {ob['in_flight']} in flight, {ob['parked']} parked;"
            f" oldest unconfirmed {ob['oldest_unconfirmed_s'] or 0:.0f} s; spool {ob['spool_bytes'] / 1e6:.1f} MB"
        )
        for reason, n in ob["parked_reasons"].items():
            console.print(f"  parked x{n}: {reason}")
        if ob["parked"]:
            console.print("  (send parked rows again after fixing the cause: eltrace edge requeue --all)")
    raise typer.Exit(0 if h["healthy"] else 1)


@edge_app.command("requeue")
def requeue_cmd(
    result_ids: Annotated[list[str] | None, typer.Argument(help="Parked result ids (see `edge status --json`)")] = None,
    all_parked: Annotated[bool, typer.Option("--all", help="Every parked row")] = False,
) -> None:
    """Send parked rows again (after fixing what refused them: a device provisioned, an image restored)."""
    from edge.outbox import Outbox
    from edge.settings import EdgeSettings

    if not result_ids and not all_parked:
        console.print("[red]name result ids or pass --all[/]")
        raise typer.Exit(2)
    outbox = Outbox(EdgeSettings().outbox_path, sweep=False)
    try:
        n = outbox.unpark(None if all_parked else list(result_ids or []))
    finally:
        outbox.close()
    console.print(f"{n} parked rows queued again")


__all__ = ["edge_app"]
