"""Schema-driven fuzzing (schemathesis) of the API against its own OpenAPI schema: no 5xx, responses conform."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from api.main import create_app
from services.core.db import make_engine, make_sessionmaker, transaction
from services.core.settings import ApiSettings
from services.devices.service import provision_device
from services.migrations.runner import upgrade
from services.security.service import create_user
from tests.conftest import SECRET

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


ROLES = ("operator", "quality_engineer", "customer_service", "admin")


def _sign_in(app: object, role: str) -> dict[str, str]:
    from fastapi.testclient import TestClient

    tok = TestClient(app).post("/api/v1/auth/token", data={"username": role, "password": "fuzz-password-1"}).json()
    return {"Authorization": f"Bearer {tok['access_token']}"}


def _build() -> tuple[object, list[dict[str, str]], dict[str, str]]:
    """The app on a fresh SQLite file with a person of every role and a device (built at collection: schemathesis
    needs the schema then)."""
    tmp = Path(tempfile.mkdtemp(prefix="eltrace-fuzz-"))
    url = f"sqlite:///{tmp / 'fuzz.db'}"
    upgrade(url)
    with transaction(make_sessionmaker(make_engine(url))) as s:
        for role in ROLES:
            create_user(session=s, username=role, password="fuzz-password-1", role=role)
        cred = provision_device(session=s, code="edge-fuzz", station_code="STR-EL-01", master_secret=SECRET.encode())
    app = create_app(ApiSettings(profile="test", database_url=url, secret_key=SECRET, data_dir=tmp))
    return app, [_sign_in(app, role) for role in ROLES], {"X-Device-Key": cred.api_key}


APP, PEOPLE, DEVICE = _build()
_TURN = itertools.count()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_survives_fuzzing(case) -> None:  # type: ignore[no-untyped-def]
    # Every role in turn: a route must answer each of them without a 5xx (a 403 is an answer).
    turn = next(_TURN) % len(ROLES)
    headers = DEVICE if case.path.startswith("/api/v1/edge/") else PEOPLE[turn]
    if case.path == "/api/v1/auth/token":
        headers = {}
    if case.path == "/api/v1/auth/logout":
        headers = _sign_in(APP, ROLES[turn])  # signing out ends the token: never the shared one
    case.call_and_validate(headers=headers, checks=CHECKS)
