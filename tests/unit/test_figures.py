"""`--json` of the benchmarks: every table printed is in the one JSON object on the last line."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

from rich.console import Console
from rich.table import Table

from cli.figures import FigureConsole


def test_tables_and_notes_become_one_json_object_on_the_last_line() -> None:
    out = FigureConsole(Console(file=io.StringIO()))
    t = Table(title="edge")
    for c in ("model", "p50 ms", "images/min", "share"):
        t.add_column(c)
    t.add_row("2.0.0 (float)", "98", "3,338", "12.5%")
    out.print("machine: [bold]x86_64[/]")
    out.print(t)
    out.figures["peak_rss_mb"] = 412.0
    buf = io.StringIO()
    with redirect_stdout(buf):
        print("some earlier line")
        out.emit("edge")
    last = json.loads(buf.getvalue().strip().splitlines()[-1])
    assert last["bench"] == "edge" and last["figures"] == {"peak_rss_mb": 412.0}
    assert last["tables"] == [
        {"title": "edge", "rows": [{"model": "2.0.0 (float)", "p50 ms": 98.0, "images/min": 3338.0, "share": 0.125}]}
    ]
    assert last["notes"] == ["machine: x86_64"]
