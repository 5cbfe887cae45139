"""CSV formula injection: imported text that a spreadsheet would run is neutralised in every export."""

from __future__ import annotations

from datetime import UTC, datetime

from services.core.spreadsheet import safe_cell
from services.traceability.containment import csv_lines
from services.traceability.schemas import ContainmentResult, ContainmentRow


def test_formula_starts_are_neutralised_and_plain_text_is_kept() -> None:
    for attack in ("=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"):
        assert safe_cell(attack) == "'" + attack
    for plain in ("SolarCo", "DN-0001", "2026-05-01T00:00:00+00:00", "", "a=b"):
        assert safe_cell(plain) == plain


def test_the_containment_csv_neutralises_what_an_import_brought_in() -> None:
    row = ContainmentRow(
        barcode="MOD0000001",
        status="SHIPPED",
        grade="A",
        product="P1",
        work_order="WO-1",
        customer="=cmd|' /C calc'!A0",
        delivery_no="@evil",
        shipped_at=datetime(2026, 5, 1, tzinfo=UTC),
        matched_by=["work_order"],
    )
    result = ContainmentResult(
        criteria=[], unknown_barcodes=[], total=1, by_status={}, by_customer={}, offset=0, limit=1, items=[row]
    )
    _header, line = list(csv_lines(result))
    assert line[5] == "'=cmd|' /C calc'!A0" and line[6] == "'@evil" and line[0] == "MOD0000001"
