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
