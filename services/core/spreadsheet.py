"""Cells of CSV exports that a spreadsheet opens: text never runs as a formula."""

from __future__ import annotations

# What Excel, LibreOffice and WPS read as the start of a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    """The text as it is, or with a leading apostrophe when a spreadsheet would evaluate it."""
    return "'" + value if value.startswith(_FORMULA_START) else value
