"""The `eltrace` command: one subcommand per process, plus admin, demo and benchmarks."""

from __future__ import annotations

import getpass
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from cli.figures import FigureConsole
from cli.runtime import stop_event
from services.core.logging import configure_logging

app = typer.Typer(help="eltrace: PV string EL inspection -> traceability.", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
devices_app = typer.Typer(help="Edge devices and their keys.", no_args_is_help=True)
users_app = typer.Typer(help="People and roles.", no_args_is_help=True)
images_app = typer.Typer(help="Image store.", no_args_is_help=True)
stations_app = typer.Typer(help="Stations and the lines they work.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks that print figures.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(devices_app, name="devices")
app.add_typer(users_app, name="users")
app.add_typer(images_app, name="images")
app.add_typer(stations_app, name="stations")
app.add_typer(bench_app, name="bench")
from cli.model import inspect_cmd, model_app  # noqa: E402

app.add_typer(model_app, name="model")
from cli.deadletters import dead_app  # noqa: E402

app.add_typer(dead_app, name="deadletters")
from cli.edge import edge_app  # noqa: E402

app.add_typer(edge_app, name="edge")
from cli.events import events_app  # noqa: E402

app.add_typer(events_app, name="events")
from cli.labels import labels_app  # noqa: E402

app.add_typer(labels_app, name="labels")
app.command("inspect")(inspect_cmd)
console = Console()


def _core():  # type: ignore[no-untyped-def]
    from services.core.settings import CoreSettings

    s = CoreSettings()
    configure_logging(json=s.log_json)
    s.data_dir.mkdir(parents=True, exist_ok=True)
    return s


def _refuse_placeholder_secret(settings, process: str) -> None:  # type: ignore[no-untyped-def]
    """A server process never runs on the public placeholder secret: anyone could sign tokens and device keys.

    Only `eltrace demo` (one process, loopback, generated data) runs with it.
    """
    from services.core.settings import PLACEHOLDER_SECRETS

    if settings.secret_key.get_secret_value() in PLACEHOLDER_SECRETS:
        console.print(
            f"[red]eltrace {process}: ELTRACE_SECRET_KEY is unset or the public placeholder; anyone could sign admin"
            " tokens with it.[/] Set a secret of 32+ characters (e.g. python -c 'import secrets; print(secrets.token_hex(32))'),"
            " or run everything on this machine with `eltrace demo`."
        )
        raise typer.Exit(2)


def _sessions(url: str):  # type: ignore[no-untyped-def]
    from services.core.db import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(url))


@db_app.command("migrate")
def db_migrate(
    grant: Annotated[str | None, typer.Option(help="PostgreSQL: then give this app login role row rights only")] = None,
) -> None:
    """Bring the database schema to the newest migration (as the owner)."""
    from services.migrations.runner import grant_app_role, upgrade

    s = _core()
    upgrade(s.resolved_database_url())
    console.print(f"[green]schema up to date[/] ({s.resolved_database_url().split('@')[-1]})")
    if grant:
        grant_app_role(s.resolved_database_url(), grant)
        console.print(f"[green]{grant}[/] may read and write rows; it owns nothing and cannot touch the audit triggers")


@db_app.command("grant")
def db_grant(role: Annotated[str, typer.Argument(help="The app's login role, e.g. eltrace_app")]) -> None:
    """PostgreSQL: give the app's role row rights only (run as the owner, after `db migrate`)."""
    from services.migrations.runner import grant_app_role

    grant_app_role(_core().resolved_database_url(), role)
    console.print(f"[green]{role}[/] may read and write rows; it owns nothing and cannot touch the audit triggers")


@db_app.command("check")
def db_check() -> None:
    """Fail when the ORM has changes that no migration covers."""
    from services.migrations.runner import check

    check(_core().resolved_database_url())
    console.print("[green]migrations match the ORM[/]")


@db_app.command("rebuild-rollup")
def db_rebuild_rollup() -> None:
    """Recount the daily roll-ups (first pass, model scores) in the plant time zone (after changing ELTRACE_PLANT_TIMEZONE)."""
    from services.core.db import transaction
    from services.inspection.firstpass import rebuild_first_pass_days
    from services.inspection.scores import rebuild_score_days

    s = _core()
    with transaction(_sessions(s.resolved_database_url())) as session:
        n = rebuild_first_pass_days(session, s.plant_timezone)
        scored = rebuild_score_days(session, s.plant_timezone)
    console.print(
        f"[green]roll-ups recounted[/]: first pass of {n} images, model scores of {scored} images, plant days in {s.plant_timezone}"
    )


@stations_app.command("add")
def stations_add(
    code: Annotated[str, typer.Argument(help="Station code, e.g. RW-01 (a rework station) or STR-EL-01")],
    line: Annotated[str, typer.Option(help="The production line it works: operators there see that line's modules")],
    name: str = "",
) -> None:
    """Register a station on a line, or move it there (audited)."""
    from services.core.db import transaction
    from services.devices.service import register_station

    s = _core()
    with transaction(_sessions(s.resolved_database_url())) as session:
        st = register_station(session=session, code=code, line=line, name=name, actor="cli")
    console.print(f"[green]{st.code}[/] works line {st.line}")


@devices_app.command("add")
def devices_add(
    device_id: str,
    station: Annotated[str, typer.Option(help="Station code, e.g. STR-EL-01")],
    line: Annotated[str | None, typer.Option(help="Production line of the station (operators see their line only)")] = None,
    env: Annotated[bool, typer.Option(help="Print as ELTRACE_EDGE_* environment lines")] = False,
    role: Annotated[str, typer.Option(help="edge (an EL station's worker) or mes (a plant system: gate, events feed)")] = "edge",
) -> None:
    """Register a device and print its credentials once (the server keeps only a hash)."""
    from services.core.db import transaction
    from services.devices.service import provision_device

    s = _core()
    with transaction(_sessions(s.resolved_database_url())) as session:
        cred = provision_device(
            session=session,
            code=device_id,
            station_code=station,
            master_secret=s.secret_key.get_secret_value().encode(),
            actor=_actor(),
            line=line,
            role=role,
        )
    _print_credentials(cred, env)


@devices_app.command("rotate")
def devices_rotate(
    device_id: str,
    revoke_old: Annotated[bool, typer.Option(help="Revoke earlier keys now (after the outbox drained)")] = False,
    env: bool = False,
) -> None:
    """Issue a new key; results still in the outbox are re-signed with it when sent."""
    from services.core.db import transaction
    from services.devices.service import rotate_key

    s = _core()
    with transaction(_sessions(s.resolved_database_url())) as session:
        cred = rotate_key(
            session=session,
            code=device_id,
            master_secret=s.secret_key.get_secret_value().encode(),
            revoke_old=revoke_old,
            actor=_actor(),
        )
    _print_credentials(cred, env)


def _print_credentials(cred, env: bool) -> None:  # type: ignore[no-untyped-def]
    lines = {
        "ELTRACE_EDGE_DEVICE_ID": cred.device_id,
        "ELTRACE_EDGE_STATION_ID": cred.station_id,
        "ELTRACE_EDGE_KEY_ID": cred.key_id,
        "ELTRACE_EDGE_API_KEY": cred.api_key,
        "ELTRACE_EDGE_SIGNING_KEY": cred.signing_key_hex,
    }
    if env:
        for k, v in lines.items():
            print(f"{k}={v}")
    else:
        print(json.dumps(lines, indent=2))


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return getpass.getpass("password: ")


@users_app.command("add")
def users_add(
    username: str,
    role: Annotated[str, typer.Option(help="operator | quality_engineer | customer_service | admin")],
    line: Annotated[str | None, typer.Option(help="Restrict an operator to one line")] = None,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from standard input")] = False,
) -> None:
    """Create an account (no default passwords: you give one)."""
    from services.core.db import transaction
    from services.security.service import create_user

    s = _core()
    with transaction(_sessions(s.resolved_database_url())) as session:
        create_user(session=session, username=username, password=_password(password_stdin), role=role, line=line, actor=_actor())
    console.print(f"user [bold]{username}[/] ({role}) created")


@users_app.command("disable")
def users_disable(username: str) -> None:
    """Disable an account; its tokens stop working at once."""
    from services.core.db import transaction
    from services.security.service import set_active

    s = _core()
    with transaction(_sessions(s.resolved_database_url())) as session:
        set_active(session=session, username=username, active=False, actor=_actor())
    console.print(f"user [bold]{username}[/] disabled")


@users_app.command("reset-password")
def users_reset_password(username: str, password_stdin: bool = False) -> None:
    """Set a new password and clear a lockout."""
    from services.core.db import transaction
    from services.security.service import set_password

    s = _core()
    with transaction(_sessions(s.resolved_database_url())) as session:
        set_password(session=session, username=username, password=_password(password_stdin), actor=_actor())
    console.print(f"password of [bold]{username}[/] reset")


@images_app.command("prune")
def images_prune(
    days: Annotated[int | None, typer.Option(help="Override ELTRACE_IMAGE_RETENTION_DAYS")] = None,
) -> None:
    """Delete images older than the retention period."""
    from services.core.db import transaction
    from services.core.time import utcnow
    from services.imagestore.store import DirectoryBlobStore, prune_images

    s = _core()
    cutoff = utcnow() - timedelta(days=days or s.image_retention_days)
    with transaction(_sessions(s.resolved_database_url())) as session:
        gone = prune_images(session=session, older_than=cutoff)
    blobs = DirectoryBlobStore(s.resolved_image_dir())
    for sha in gone:
        blobs.delete(sha)
    console.print(f"pruned {len(gone)} images stored before {cutoff:%Y-%m-%d}")


@app.command("import")
def import_cmd(
    kind: Annotated[str, typer.Argument(help="products | work_orders | material_lots | module_builds | shipments")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="UTF-8 CSV with a header row")],
) -> None:
    """Import MES / ERP data from CSV: every row checked first; any bad row and nothing is imported (exit 1)."""
    from rich.table import Table

    from services.core.db import transaction
    from services.imports.rows import import_rows, parse_csv
    from services.traceability.schemas import ImportKind

    if kind not in {k.value for k in ImportKind}:
        console.print(f"[red]unknown kind {kind!r}[/]: {', '.join(k.value for k in ImportKind)}")
        raise typer.Exit(2)
    s = _core()
    rows, pre = parse_csv(kind, file.read_text(encoding="utf-8-sig"))  # type: ignore[arg-type]
    with transaction(_sessions(s.resolved_database_url())) as session:
        report = import_rows(
            session=session,
            kind=kind,  # type: ignore[arg-type]
            rows=rows,
            actor="cli",
            pre_errors=pre,
            ship_unreleased=s.ship_unreleased,
            gate_checks=s.gate_checks,
        )
        if not report.ok:
            session.rollback()
    if report.ok:
        console.print(f"[green]{kind}: {report.imported} imported, {report.unchanged} unchanged[/] ({report.rows} rows)")
        for f in report.flagged[:200]:
            console.print(f"[yellow]flagged[/] row {f.row}: {f.message}")
        return
    table = Table(title=f"{kind}: nothing imported - {len(report.errors)} problem(s) in {report.rows} rows")
    for c in ("row", "field", "problem"):
        table.add_column(c)
    for e in report.errors[:200]:
        table.add_row(str(e.row), e.field, e.message)
    console.print(table)
    raise typer.Exit(1)


@app.command("ppm-rollup")
def ppm_rollup_cmd() -> None:
    """Recount the monthly shipment roll-up behind PPM from the shipment table (reconciliation)."""
    from services.core.db import transaction
    from services.metrics.ppm import rebuild_rollup

    s = _core()
    with transaction(_sessions(s.resolved_database_url())) as session:
        total = rebuild_rollup(session)
    console.print(f"shipment roll-up rebuilt: {total:,} shipments")


@app.command("redis")
def redis_cmd() -> None:
    """Run the embedded Redis server (AOF persistence) in the foreground."""
    from cli.runtime import EMBEDDED_REDIS_PORT
    from cli.servers.redis import RedisServer

    s = _core()
    server = RedisServer(s.data_dir / "redis", port=EMBEDDED_REDIS_PORT).start()
    console.print(f"embedded Redis on {server.url} (data in {server.data_dir})")
    stop_event().wait()
    server.stop()


@app.command("api")
def api_cmd(host: str | None = None, port: int | None = None) -> None:
    """Serve the traceability API (uvicorn)."""
    import uvicorn

    from api.main import create_app
    from services.core.settings import ApiSettings

    s = ApiSettings()
    configure_logging(json=s.log_json)
    _refuse_placeholder_secret(s, "api")
    if s.profile == "demo":  # the embedded default needs no separate migrate step
        from services.migrations.runner import upgrade

        s.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade(s.resolved_database_url())
    uvicorn.run(create_app(s), host=host or s.host, port=port or s.port, log_level="info")


@app.command("ingest")
def ingest_cmd() -> None:
    """Run the Redis -> database ingest consumer until SIGTERM."""
    from cli.runtime import ensure_redis
    from services.core.settings import IngestSettings
    from services.ingest.consumer import IngestConsumer

    s = IngestSettings()
    configure_logging(json=s.log_json)
    _refuse_placeholder_secret(s, "ingest")
    url, server = ensure_redis(s)
    if s.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(s.metrics_port, addr=s.metrics_addr)
    consumer = IngestConsumer(
        redis_url=url,
        session_factory=_sessions(s.resolved_database_url()),
        master_secret=s.secret_key.get_secret_value().encode(),
        settings=s,
    )
    consumer.run(stop_event())
    if server:
        server.stop()


@app.command("demo")
def demo_cmd(
    images: Annotated[int, typer.Option(help="How many string images to generate")] = 24,
    serve: Annotated[bool, typer.Option(help="Keep serving after the summary until Ctrl-C")] = True,
    port: Annotated[int, typer.Option(help="API port")] = 8000,
    data_dir: Annotated[Path, typer.Option(help="Where the demo keeps its database, Redis and images")] = Path("data/demo"),
) -> None:
    """Start everything, feed generated string EL images through it, print a summary."""
    from cli.demo import run_demo

    raise typer.Exit(run_demo(images=images, serve=serve, port=port, data_dir=data_dir, console=console))


@bench_app.command("ingest")
def bench_ingest(
    results: Annotated[int, typer.Option(help="Results per throughput run")] = 5000,
    rate: Annotated[int, typer.Option(help="Steady rate for the latency run (results/s)")] = 50,
    seconds: Annotated[int, typer.Option(help="Duration of the latency run")] = 20,
    postgres: Annotated[bool, typer.Option(help="Also run on PostgreSQL (started from the pgserver wheel)")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Every figure as one JSON object on the last line")] = False,
) -> None:
    """results/s from XADD to committed rows (SQLite, PostgreSQL; batch 1/100/1000) and latency at a steady rate."""
    from cli.bench import bench_ingest as run

    out = FigureConsole(console)
    run(results=results, rate=rate, seconds=seconds, postgres=postgres, console=out)  # type: ignore[arg-type]
    if as_json:
        out.emit("ingest")


@bench_app.command("queries")
def bench_queries_cmd(
    modules: Annotated[int, typer.Option(help="Modules in the generated history (6 strings each)")] = 1_000_000,
    samples: Annotated[int, typer.Option(help="Timed history requests (containment: a sixth as many)")] = 300,
    browser: Annotated[bool, typer.Option(help="Also time scan-to-overlay on the rework page in headless Chromium")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Every figure as one JSON object on the last line")] = False,
) -> None:
    """Module history and containment p50/p95 on PostgreSQL with a generated factory history, against raw-SQL baselines."""
    from cli.benchqueries import bench_queries

    out = FigureConsole(console)
    bench_queries(modules=modules, samples=samples, browser=browser, console=out)  # type: ignore[arg-type]
    if as_json:
        out.emit("queries")


@bench_app.command("metrics")
def bench_metrics_cmd(
    modules: Annotated[int, typer.Option(help="Shipped modules over three years")] = 10_000_000,
    complaints: Annotated[int, typer.Option(help="Complaints (1-8 modules each, 80 % justified)")] = 500,
    samples: Annotated[int, typer.Option(help="Timed requests per query")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Every figure as one JSON object on the last line")] = False,
) -> None:
    """Complaint PPM by month x customer x product on PostgreSQL, against a straight GROUP BY baseline."""
    from cli.benchmetrics import bench_metrics

    out = FigureConsole(console)
    bench_metrics(modules=modules, complaints=complaints, samples=samples, console=out)  # type: ignore[arg-type]
    if as_json:
        out.emit("metrics")


@bench_app.command("events")
def bench_events_cmd(
    events: Annotated[int, typer.Option(help="Events per throughput run (one receiver, then ten)")] = 20_000,
    rate: Annotated[int, typer.Option(help="Steady rate of the latency run (events/s)")] = 100,
    seconds: Annotated[float, typer.Option(help="Duration of the latency run")] = 20.0,
    modules: Annotated[int, typer.Option(help="Modules generated for the gate run (0: skip it)")] = 1_000_000,
    samples: Annotated[int, typer.Option(help="Timed gate requests")] = 2000,
    as_json: Annotated[bool, typer.Option("--json", help="Every figure as one JSON object on the last line")] = False,
) -> None:
    """Committed change -> acknowledged webhook (one receiver and ten), p50/p99 at a steady rate, the gate at 1 M modules."""
    from cli.benchevents import bench_events

    out = FigureConsole(console)
    bench_events(events=events, rate=rate, seconds=seconds, modules=modules, samples=samples, console=out)  # type: ignore[arg-type]
    if as_json:
        out.emit("events")


@bench_app.command("edge")
def bench_edge_cmd(
    images: Annotated[int, typer.Option(help="Images per bit depth")] = 10,
    seconds: Annotated[float, typer.Option(help="Duration of each sustained run")] = 20.0,
    model: Annotated[
        list[str] | None, typer.Option(help="Model versions to time (default: DEFAULT, its -int8 twin, 1.1.0)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Every figure as one JSON object on the last line")] = False,
) -> None:
    """Per-image latency of the edge (4 MP, 24 cells, 8- and 16-bit), single and sustained, per model, with baselines."""
    from cli.model import bench_edge

    out = FigureConsole(console)
    bench_edge(images=images, seconds=seconds, console=out, versions=model)  # type: ignore[arg-type]
    if as_json:
        out.emit("edge")


@bench_app.command("learning")
def bench_learning_cmd(
    label_strings: Annotated[int, typer.Option(help="Line strings A judges and the floor labels (round 1)")] = 150,
    test_strings: Annotated[int, typer.Option(help="New line strings A and B (shadow) judge: the figures")] = 100,
    defect_rate: Annotated[float, typer.Option(help="Share of defective cells on the line")] = 0.04,
    look: Annotated[
        str, typer.Option(help="The line's benign look the training strings never show (striation, none)")
    ] = "striation",
    live: Annotated[Path | None, typer.Option(help="Model A's folder (default: the shipped default)")] = None,
    init_from: Annotated[
        Path | None, typer.Option(help="B starts from this folder's weights.pt (default: A's float parent)")
    ] = None,
    arch: Annotated[str | None, typer.Option(help="B's architecture (default: the starting model's)")] = None,
    input_size: Annotated[int | None, typer.Option(help="B's input side in px (default: the starting model's)")] = None,
    width: Annotated[str, typer.Option(help="cellnet channels (from-scratch B only)")] = "12,24,48,96",
    replay_strings: Annotated[int, typer.Option(help="Synthetic training strings mixed with the labels")] = 60,
    epochs: int = 1,
    lr: Annotated[float, typer.Option(help="Peak learning rate of the fine-tune")] = 1e-4,
    calib_strings: Annotated[
        int, typer.Option(help="Held-out synthetic strings B's operating points are set on (A's: 400)")
    ] = 400,
    browser_samples: Annotated[int, typer.Option(help="REVIEW strings timed on the review page (0: skip)")] = 20,
    elpv: Annotated[bool, typer.Option(help="Mix the ELPV fit cells into B's training, as A's parent was trained")] = True,
    work_dir: Path = Path("data/bench-learning"),
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object as the last line")] = False,
) -> None:
    """One round of the learning loop on generated data: A live, floor labels, B trained, shadow, promote; before / after."""
    from cli.benchlearning import bench_learning

    out = Console(stderr=True) if as_json else console
    result = bench_learning(
        label_strings=label_strings, test_strings=test_strings, defect_rate=defect_rate, look=None if look == "none" else look,
        live=live, init_from=init_from, arch=arch, input_size=input_size, width=width, replay_strings=replay_strings,
        epochs=epochs, lr=lr, calib_strings=calib_strings, browser_samples=browser_samples, work_dir=work_dir, console=out,
        train_extra=() if elpv else ("--no-elpv",),
    )  # fmt: skip
    if as_json:
        print(json.dumps(result, default=str))


@bench_app.command("outage")
def bench_outage_cmd(
    minutes: Annotated[float, typer.Option(help="Length of the ingest outage (simulated edge time)")] = 480,
    stations: Annotated[int, typer.Option(help="String EL stations publishing")] = 9,
    rate: Annotated[float, typer.Option(help="Images per second per station")] = 0.1,
    baseline_minutes: Annotated[float, typer.Option(help="Outage length for the old-policy baseline")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Every figure as one JSON object on the last line")] = False,
) -> None:
    """Ingest outage: peak Redis memory, stream entries, re-sends, drain time, lost/doubled; old re-send policy beside."""
    from dataclasses import asdict

    from cli.benchoutage import bench_outage

    out = FigureConsole(console)
    runs = bench_outage(minutes=minutes, stations=stations, rate=rate, baseline_minutes=baseline_minutes, console=out)  # type: ignore[arg-type]
    out.figures["runs"] = [asdict(r) for r in runs]
    if as_json:
        out.emit("outage")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
