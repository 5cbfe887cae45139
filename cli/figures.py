"""`--json` for the benchmarks: every table a benchmark prints, as one JSON object on the last line."""

from __future__ import annotations

import json
import re
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

_NUMBER = re.compile(r"^-?[\d,]*\.?\d+(?:e-?\d+)?$")


def _value(cell: object) -> object:
    """A table cell as a number where it is one ("3,338" -> 3338, "98" -> 98.0), else its plain text."""
    text = cell.plain if isinstance(cell, Text) else str(cell)
    text = re.sub(r"\[/?[a-z ]+\]", "", text).strip()  # rich markup
    bare = text.replace(",", "").rstrip("%").strip()
    if _NUMBER.match(bare):
        number = float(bare)
        return number / 100 if text.endswith("%") else number
    return text


def table_rows(table: Table) -> list[dict[str, object]]:
    """Rows of a rich Table as {column header: value}."""
    headers = [str(c.header) for c in table.columns]
    cols = [list(c._cells) for c in table.columns]  # noqa: SLF001 - rich keeps cells per column
    return [{h: _value(col[i]) for h, col in zip(headers, cols, strict=True)} for i in range(table.row_count)]


class FigureConsole:
    """A console that prints as usual and keeps every table and line, for `--json`."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self.tables: list[dict[str, object]] = []
        self.notes: list[str] = []
        self.figures: dict[str, Any] = {}

    def print(self, *objects: object, **kwargs: Any) -> None:
        """Print, and remember tables (rows) and text (notes)."""
        self._console.print(*objects, **kwargs)
        for obj in objects:
            if isinstance(obj, Table):
                self.tables.append({"title": str(obj.title or ""), "rows": table_rows(obj)})
            else:
                self.notes.append(Text.from_markup(str(obj)).plain if isinstance(obj, str) else str(obj))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._console, name)

    def widen(self, width: int) -> None:
        """Print at least `width` columns wide (a table for a log file), still keeping every figure."""
        self._console.width = max(self._console.width, width)

    def emit(self, bench: str) -> None:
        """The JSON object, alone on the last line of stdout."""
        print(json.dumps({"bench": bench, "tables": self.tables, "figures": self.figures, "notes": self.notes}, default=str))


def wide(console: Console | FigureConsole, width: int = 150) -> Console | FigureConsole:
    """The same console, at least `width` columns wide (the table is for a log file, not an 80-column terminal)."""
    if isinstance(console, FigureConsole):
        console.widen(width)
        return console
    return Console(width=max(console.width, width))
