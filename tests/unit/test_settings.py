"""Secrets come from the environment; production refuses placeholders."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.core.settings import ApiSettings


def test_production_refuses_a_placeholder_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELTRACE_PROFILE", "production")
    monkeypatch.delenv("ELTRACE_SECRET_KEY", raising=False)
    with pytest.raises(ValidationError, match="placeholder"):
        ApiSettings()
    monkeypatch.setenv("ELTRACE_SECRET_KEY", "change-me")
    with pytest.raises(ValidationError, match="placeholder"):
        ApiSettings()
    monkeypatch.setenv("ELTRACE_SECRET_KEY", "short-but-not-a-placeholder")
    with pytest.raises(ValidationError, match="32 characters"):
        ApiSettings()
    monkeypatch.setenv("ELTRACE_SECRET_KEY", "x" * 40)
    s = ApiSettings()
    assert "x" * 40 not in repr(s)  # SecretStr: never printed


def test_demo_profile_runs_with_its_placeholder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ELTRACE_PROFILE", raising=False)
    monkeypatch.delenv("ELTRACE_SECRET_KEY", raising=False)
    assert ApiSettings().profile == "demo"


def test_an_edge_outside_the_demo_refuses_to_start_without_its_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    from edge.settings import EdgeSettings

    for var in ("ELTRACE_EDGE_SIGNING_KEY", "ELTRACE_EDGE_KEY_ID", "ELTRACE_EDGE_API_KEY", "ELTRACE_EDGE_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("ELTRACE_PROFILE", raising=False)
    assert EdgeSettings().profile == "demo"  # the demo wires its own keys
    monkeypatch.setenv("ELTRACE_PROFILE", "production")  # the plant-wide profile applies to the edge too
    with pytest.raises(ValidationError, match="required outside the demo"):
        EdgeSettings()
    monkeypatch.setenv("ELTRACE_EDGE_KEY_ID", "k1")
    monkeypatch.setenv("ELTRACE_EDGE_API_KEY", "api-key")
    monkeypatch.setenv("ELTRACE_EDGE_SIGNING_KEY", "zz")
    with pytest.raises(ValidationError, match="must be hex"):
        EdgeSettings()
    monkeypatch.setenv("ELTRACE_EDGE_SIGNING_KEY", "ab" * 8)
    with pytest.raises(ValidationError, match="too short"):
        EdgeSettings()
    monkeypatch.setenv("ELTRACE_EDGE_SIGNING_KEY", "ab" * 32)
    assert EdgeSettings().profile == "production"
