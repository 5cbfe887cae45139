"""docker-compose.yml agrees with the code: services, commands, settings, Redis durability."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.main import get_command

from cli.main import app
from edge.settings import EdgeSettings
from services.core.settings import ApiSettings, IngestSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def _fields(*classes: type) -> set[str]:
    out: set[str] = set()
    for cls in classes:
        prefix = cls.model_config.get("env_prefix", "")  # type: ignore[attr-defined]
        out |= {f"{prefix}{name}".upper() for name in cls.model_fields}  # type: ignore[attr-defined]
    return out


def test_the_production_services_are_all_there_with_healthchecks() -> None:
    assert set(SERVICES) == {"postgres", "redis", "migrate", "api", "ingest", "events", "proxy", "edge"}
    for name, svc in SERVICES.items():
        if name != "migrate":
            assert "healthcheck" in svc, name


def test_redis_is_durable_and_never_evicts() -> None:
    cmd = " ".join(SERVICES["redis"]["command"])
    assert "--appendonly yes" in cmd and "--maxmemory-policy noeviction" in cmd and "--aclfile" in cmd
    acl = (ROOT / "deploy" / "redis-users.acl").read_text()
    assert "user default off" in acl and "+xadd" in acl and "~results:edge-str01" in acl


def test_commands_are_real_cli_commands() -> None:
    cli = get_command(app)
    for name in ("migrate", "api", "ingest", "edge"):
        words = SERVICES[name]["command"]
        group = cli.commands[words[0]]  # type: ignore[attr-defined]
        if words[0] == "db":
            assert words[1] in group.commands  # type: ignore[attr-defined]
            group = group.commands[words[1]]  # type: ignore[attr-defined]
        options = {o for p in group.params for o in getattr(p, "opts", [])}
        for w in words[1:]:
            if w.startswith("--"):
                assert w in options, (name, w)


def test_every_environment_variable_is_a_setting_of_that_process() -> None:
    server = _fields(ApiSettings, IngestSettings)
    edge = _fields(EdgeSettings)
    for name in ("migrate", "api", "ingest", "edge"):
        env = SERVICES[name]["environment"]
        known = edge if name == "edge" else server
        unknown = [k for k in env if k.startswith("ELTRACE_") and k not in known]
        assert unknown == [], (name, unknown)
    assert SERVICES["api"]["environment"]["ELTRACE_PROFILE"] == "production"


def test_the_app_logs_in_with_row_rights_only_and_is_reached_over_tls() -> None:
    for name in ("api", "ingest"):
        assert SERVICES[name]["environment"]["ELTRACE_DATABASE_URL"].startswith("postgresql://eltrace_app:"), name
    assert SERVICES["migrate"]["command"] == ["db", "migrate", "--grant", "eltrace_app"]
    assert "ports" not in SERVICES["api"]  # only through the proxy
    assert "caddy" in SERVICES["proxy"]["image"] and "443:443" in SERVICES["proxy"]["ports"]
    assert "eltrace_app" in (ROOT / "deploy" / "postgres-init" / "01-app-role.sh").read_text()


def test_migrate_runs_before_api_and_ingest() -> None:
    for name in ("api", "ingest"):
        assert SERVICES[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_the_events_deliverer_runs_once_with_metrics_and_public_picture_links() -> None:
    svc = SERVICES["events"]
    assert svc["command"][:2] == ["events", "deliver"] and "--metrics-port" in svc["command"]
    assert "deploy" not in svc or svc["deploy"].get("replicas", 1) == 1  # one deliverer; the lease makes a copy wait
    assert svc["environment"]["ELTRACE_PUBLIC_URL"].startswith("https://")
