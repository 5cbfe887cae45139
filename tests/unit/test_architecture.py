"""Import rules (import-linter, as in CI) and that the edge contract lists every services package."""

from __future__ import annotations

import os
import re
import shutil
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


def _layers(container: str) -> list[set[str]]:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    contract = next(c for c in cfg if c["type"] == "layers" and c["containers"] == [container])
    return [{name.strip() for name in layer.split("|")} for layer in contract["layers"]]


def test_every_domain_has_a_layer() -> None:
    """A new services/ or api/ package must take its place in the layers, or a cycle through it would go unseen."""
    for container in ("services", "api"):
        named = set().union(*_layers(container))
        packages = {p.name for p in (ROOT / container).iterdir() if (p / "__init__.py").exists()}
        assert packages <= named, (container, packages - named)


def test_the_layers_contract_breaks_on_a_cycle(tmp_path: Path) -> None:
    """Negative control: one upward import (traceability -> rework, the cycle this contract removed) breaks the build."""
    for name in ("services", "api", "edge", "cli"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "static", "templates"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    orm = tmp_path / "services" / "traceability" / "orm.py"
    orm.write_text(orm.read_text() + "\nimport services.rework.orm  # noqa: E402,F401\n")
    exe = Path(sys.executable).parent / "lint-imports"
    r = subprocess.run([str(exe)], cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert r.returncode != 0
    assert "service domains form layers" in r.stdout and "BROKEN" in r.stdout


# Read models whose whole job is one reporting query (and two bulk writers); everything else queries
# through its domain's repository.py. Shrink this list, never grow it.
QUERY_MODULES = {
    "services/metrics/dashboard.py",
    "services/metrics/ppm.py",
    "services/traceability/containment.py",
    "services/traceability/imports.py",
    "services/imagestore/store.py",
}


def test_queries_live_in_repositories() -> None:
    """A select() outside a repository (or the listed query modules) fails: services keep to rules and state changes."""
    offenders = []
    for path in sorted((ROOT / "services").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if path.name == "repository.py" or rel in QUERY_MODULES or "/migrations/" in rel:
            continue
        text = path.read_text()
        if re.search(r"\bselect\(", text) or "session.get(" in text:
            offenders.append(rel)
    assert not offenders, offenders
