"""Import rules (import-linter, as in CI) and that the edge contract lists every services package."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold() -> None:
    exe = Path(sys.executable).parent / "lint-imports"
    r = subprocess.run([str(exe)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "0 broken" in r.stdout


def test_edge_contract_forbids_every_services_package_but_contracts() -> None:
    """A new services/ package must be added to the forbidden list, or edge could import it."""
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    edge = next(c for c in cfg if c["source_modules"] == ["edge"])
    packages = {f"services.{p.name}" for p in (ROOT / "services").iterdir() if (p / "__init__.py").exists()}
    assert packages - {"services.contracts"} <= set(edge["forbidden_modules"])
