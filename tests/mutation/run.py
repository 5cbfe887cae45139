"""Mutation testing of the domain rules: small bugs written in one at a time; the fast tests must notice.

    ./run mutate                       every target below (hours on 2 cores: run it in the background)
    ./run mutate edge/inference/rules.py services/contracts/result.py
    ./run mutate --json report.json ...

Each mutant changes one operator or constant of one target module (comparisons flipped, `and` /
`or` swapped, `not` dropped, `in` / `is` negated, integers moved by one, + / - swapped, True /
False swapped) in a private copy of the repository, then runs that module's fast tests there
(SQLite only, -x). A mutant is killed when the tests fail or time out, and survives when they pass.
Survivors are printed with their line; each is either killed by a new test or listed as
equivalent in docs/testing.md. Nothing in the working tree is touched.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FAST = ["-x", "-q", "-p", "no:cacheprovider"]

# target module -> the fast tests that guard it ("-k expr" narrows a file to the tests that concern it)
_PPM = "ppm or rollup or definition or one_month or month_arithmetic"
TARGETS: dict[str, list[str]] = {
    "edge/inference/rules.py": ["tests/unit/test_rules.py"],
    "services/contracts/result.py": ["tests/unit/test_contract.py", "tests/unit/test_contract_limits.py"],
    "services/contracts/signing.py": ["tests/unit/test_contract.py", "tests/unit/test_contract_limits.py"],
    "services/security/service.py": ["tests/integration/test_accounts.py", "tests/integration/test_auth.py"],
    "services/complaints/eight_d.py": [
        "tests/unit/test_eight_d_rules.py",
        "tests/integration/test_complaints.py",
        f"-k not ({_PPM})",
    ],
    "services/complaints/service.py": [
        "tests/integration/test_complaint_rules.py",
        "tests/integration/test_complaints.py",
        f"-k not ({_PPM})",
    ],
    "services/metrics/dashboard.py": [
        "tests/unit/test_dashboard_rules.py",
        "tests/integration/test_dashboard_window.py",
        "tests/integration/test_traceability.py",
    ],
    "services/metrics/ppm.py": ["tests/integration/test_ppm_rules.py", "tests/integration/test_complaints.py", f"-k {_PPM}"],
    "services/rework/service.py": ["tests/integration/test_rework.py"],
    "services/traceability/containment.py": ["tests/integration/test_traceability.py"],
}

_CMP_SWAP: dict[type, type] = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}


@dataclass
class Mutant:
    """One small change: where, what it was, what it became."""

    module: str
    index: int
    line: int
    before: str
    after: str
    status: str = "?"  # killed | survived | timeout | broken (does not even import)
    seconds: float = 0.0


def _sites(tree: ast.Module) -> Iterator[tuple[ast.AST, str]]:
    """Every mutable node of a module (in a stable order) with the kind of change applied to it."""
    docstrings = {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Module | ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)
        and n.body
        and isinstance(n.body[0], ast.Expr)
        and isinstance(n.body[0].value, ast.Constant)
    }
    # Decorator arguments (frozen=True, ...) change no rule a test could see: never mutated.
    decorators = {id(sub) for n in ast.walk(tree) for d in getattr(n, "decorator_list", []) for sub in ast.walk(d)}
    for node in ast.walk(tree):
        if id(node) in decorators:
            continue
        if isinstance(node, ast.Compare) and type(node.ops[0]) in _CMP_SWAP:
            yield node, "cmp"
        elif isinstance(node, ast.BoolOp):
            yield node, "bool"
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield node, "not"
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub):
            yield node, "arith"
        elif isinstance(node, ast.Constant) and id(node) not in docstrings:
            if isinstance(node.value, bool):
                yield node, "boolconst"
            elif isinstance(node.value, int) and not isinstance(node.value, bool):
                yield node, "int"


def _mutate(source: str, index: int) -> tuple[str, int, str, str] | None:
    """Source with the index-th site changed: (new source, line, before, after), or None past the last site."""
    tree = ast.parse(source)
    for k, (node, kind) in enumerate(_sites(tree)):
        if k != index:
            continue
        before = ast.unparse(node)
        if kind == "cmp":
            assert isinstance(node, ast.Compare)
            node.ops[0] = _CMP_SWAP[type(node.ops[0])]()
        elif kind == "bool":
            assert isinstance(node, ast.BoolOp)
            node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        elif kind == "not":
            assert isinstance(node, ast.UnaryOp)
            node.op = ast.UAdd()  # `+x` is truthy as x is: the `not` is gone
        elif kind == "arith":
            assert isinstance(node, ast.BinOp)
            node.op = ast.Sub() if isinstance(node.op, ast.Add) else ast.Add()
        elif kind == "boolconst":
            assert isinstance(node, ast.Constant)
            node.value = not node.value
        elif kind == "int":
            assert isinstance(node, ast.Constant)
            node.value = node.value + 1 if node.value != 1 else 0
        after = ast.unparse(node)
        return ast.unparse(tree), getattr(node, "lineno", 0), before, after
    return None


def _copy_repo(dst: Path) -> None:
    ignore = shutil.ignore_patterns(".venv", "data", ".git", "__pycache__", "test-artifacts", "mutants", "*.onnx")
    shutil.copytree(ROOT, dst, ignore=ignore, dirs_exist_ok=True)
    for models in (ROOT / "models").rglob("model.onnx"):  # tests load the shipped models: link, do not copy
        target = dst / models.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            os.symlink(models, target)


def _pytest_args(tests: list[str]) -> list[str]:
    """Files plus one -k: SQLite only, and the target's own narrowing if it has one."""
    files = [t for t in tests if not t.startswith("-k ")]
    narrow = [t[3:] for t in tests if t.startswith("-k ")]
    k = " and ".join(["not postgresql", *(f"({x})" for x in narrow)])
    return [*files, "-k", k, *FAST]


def _run_tests(work: Path, tests: list[str], timeout_s: float) -> tuple[str, float]:
    env = {**os.environ, "PYTHONPATH": str(work), "PYTHONDONTWRITEBYTECODE": "1"}
    t0 = time.monotonic()
    try:
        r = subprocess.run(
            [sys.executable, "-m", "pytest", *_pytest_args(tests)],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - t0
    seconds = time.monotonic() - t0
    if r.returncode == 0:
        return "survived", seconds
    if "ImportError" in r.stdout[-3000:] or "SyntaxError" in r.stdout[-3000:] or r.returncode in (2, 3, 4):
        return "broken", seconds
    return "killed", seconds


def run(modules: list[str], *, limit: int | None = None) -> list[Mutant]:
    """Mutate each module in turn in a private copy of the repository; return every mutant's fate."""
    results: list[Mutant] = []
    with tempfile.TemporaryDirectory(prefix="eltrace-mutants-") as tmp:
        work = Path(tmp) / "repo"
        _copy_repo(work)
        for module in modules:
            tests = TARGETS[module]
            path = work / module
            original = path.read_text()
            status, base_s = _run_tests(work, tests, timeout_s=900)
            if status != "survived":
                raise SystemExit(f"{module}: its tests fail without any mutant ({status}); fix that first")
            timeout_s = max(30.0, 4 * base_s)
            index = 0
            try:
                while limit is None or index < limit:
                    mutated = _mutate(original, index)
                    if mutated is None:
                        break
                    source, line, before, after = mutated
                    path.write_text(source)
                    status, seconds = _run_tests(work, tests, timeout_s)
                    m = Mutant(module, index, line, before, after, status, round(seconds, 1))
                    results.append(m)
                    mark = {"killed": ".", "timeout": "t", "broken": "b"}.get(status, "S")
                    print(mark, end="", flush=True)
                    index += 1
            finally:
                path.write_text(original)
            print(f"  {module}")
    return results


def summary(results: list[Mutant]) -> list[dict[str, object]]:
    """Per module: mutants, killed (incl. time-outs), broken (not counted), survived, score."""
    rows = []
    for module in dict.fromkeys(m.module for m in results):
        ms = [m for m in results if m.module == module and m.status != "broken"]
        killed = sum(1 for m in ms if m.status in ("killed", "timeout"))
        rows.append(
            {
                "module": module,
                "mutants": len(ms),
                "killed": killed,
                "survived": len(ms) - killed,
                "score": round(killed / len(ms), 3) if ms else None,
            }
        )
    return rows


def main() -> None:
    """Command line."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("modules", nargs="*", help=f"target modules (default: all of {', '.join(TARGETS)})")
    ap.add_argument("--limit", type=int, default=None, help="at most N mutants per module (a quick look)")
    ap.add_argument("--json", type=Path, default=None, help="write every mutant and the summary here")
    args = ap.parse_args()
    modules = args.modules or list(TARGETS)
    unknown = [m for m in modules if m not in TARGETS]
    if unknown:
        raise SystemExit(f"no fast tests mapped for {unknown}; add them to TARGETS in {__file__}")
    results = run(modules, limit=args.limit)
    rows = summary(results)
    print(f"\n{'module':45} {'mutants':>8} {'killed':>7} {'survived':>9} {'score':>7}")
    for r in rows:
        print(f"{r['module']:45} {r['mutants']:>8} {r['killed']:>7} {r['survived']:>9} {r['score']!s:>7}")
    print("\nsurvivors:")
    for m in results:
        if m.status == "survived":
            print(f"  {m.module}:{m.line}  {m.before}  ->  {m.after}")
    if args.json:
        args.json.write_text(json.dumps({"summary": rows, "mutants": [asdict(m) for m in results]}, indent=1))


if __name__ == "__main__":
    main()
