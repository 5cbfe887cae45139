"""The 8D report rendered for a customer: HTML (print-ready) and PDF (fpdf2, attached images embedded)."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

from fpdf import FPDF
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.render import TEMPLATES_DIR
from services.complaints.report import Report
from services.core.errors import InvalidInput
from services.imagestore.preview import preview_jpeg
from services.imagestore.store import BlobStore

_env = Environment(loader=FileSystemLoader(str(TEMPLATES_DIR)), autoescape=select_autoescape(["html"]))
_FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"),)


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page (inline CSS, print layout)."""
    return _env.get_template("report_8d.html").render(r=report, value=_value)


def _value(v: Any) -> str:
    """A discipline field as text (lists one per line, IS / IS NOT rows, flags yes / no)."""
    if v is None or v == "":
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, list):
        if v and isinstance(v[0], dict):
            return "\n".join(" | ".join(f"{k}: {x}" for k, x in row.items()) for row in v)
        return "\n".join(str(x) for x in v)
    return str(v)


class _Pdf(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(format="A4")
        self.title_text = title
        self.unicode = False
        for d in _FONT_DIRS:
            if (d / "DejaVuSans.ttf").exists() and (d / "DejaVuSans-Bold.ttf").exists():
                self.add_font("DejaVu", "", str(d / "DejaVuSans.ttf"))
                self.add_font("DejaVu", "B", str(d / "DejaVuSans-Bold.ttf"))
                self.unicode = True
                break
        self.family = "DejaVu" if self.unicode else "Helvetica"
        self.set_auto_page_break(True, margin=15)

    def t(self, s: str) -> str:
        # The core Helvetica font is Latin-1 only; without DejaVu, other characters become '?'.
        return s if self.unicode else s.encode("latin-1", "replace").decode("latin-1")

    def header(self) -> None:
        self.set_font(self.family, "B", 9)
        self.cell(0, 6, self.t(self.title_text), new_x="LMARGIN", new_y="NEXT")
        self.ln(1)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(self.family, "", 8)
        self.cell(0, 6, f"page {self.page_no()}", align="R")


def _report_image(blobs: BlobStore, sha256: str) -> bytes | None:
    """The attachment as the cached 1600 px preview (pixel limit checked, decoded once, bounded concurrency)."""
    try:
        return preview_jpeg(blobs=blobs, sha256=sha256, width=1600)
    except InvalidInput:
        return None  # too large or not decodable: the report lists it without the picture


_PDF_RENDERS = threading.BoundedSemaphore(2)  # a PDF with a dozen images holds tens of MB while it is built


def render_pdf(report: Report, blobs: BlobStore) -> bytes:
    """The same report as PDF: every discipline, containment table, evidence and the attached images (two at a time)."""
    with _PDF_RENDERS:
        return _render_pdf(report, blobs)


def _render_pdf(report: Report, blobs: BlobStore) -> bytes:
    case = report.case
    pdf = _Pdf(f"8D report {case.number} - {case.title}")
    pdf.add_page()
    f = pdf.family
    pdf.set_font(f, "B", 16)
    pdf.multi_cell(0, 8, pdf.t(f"8D report {case.number}: {case.title}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(f, "", 10)
    status = f"status {case.status}; opened {case.opened_at:%Y-%m-%d %H:%M} UTC"
    if case.closed_at:
        status += f"; closed {case.closed_at:%Y-%m-%d %H:%M} UTC"
    pdf.multi_cell(0, 5, pdf.t(status + f"; generated {report.generated_at:%Y-%m-%d %H:%M} UTC"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font(f, "B", 12)
    pdf.cell(0, 7, "Complaints", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(f, "", 10)
    for c in report.complaints:
        line = (
            f"{c.number} - {c.customer}, {c.project or '-'} / {c.site or '-'}; received {c.received_at:%Y-%m-%d} via {c.channel}; "
            f"{c.symptom.replace('_', ' ')}, {c.severity}; {len(c.barcodes)} module(s); "
            f"{'justified' if c.justified else 'not justified' if c.justified is False else 'not judged yet'}"
        )
        pdf.multi_cell(0, 5, pdf.t(line), new_x="LMARGIN", new_y="NEXT")
        pdf.multi_cell(0, 5, pdf.t(c.description), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
    for d in case.disciplines:
        pdf.ln(2)
        pdf.set_font(f, "B", 12)
        pdf.cell(0, 7, pdf.t(f"{d.code} {d.title}"), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(f, "", 9)
        meta = f"owner {d.owner or '-'}; due {d.due_at:%Y-%m-%d}; {d.status}"
        if d.completed_at:
            meta += f" {d.completed_at:%Y-%m-%d} by {d.completed_by}"
        if d.approved_by:
            meta += f"; approved by {d.approved_by}"
        pdf.multi_cell(0, 5, pdf.t(meta), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(f, "", 10)
        if d.code == "D3" and report.containment:
            _containment_table(pdf, report.containment)
        for fld in d.fields:
            if fld.kind == "containment":
                continue
            pdf.set_font(f, "B", 10)
            pdf.multi_cell(0, 5, pdf.t(fld.label), new_x="LMARGIN", new_y="NEXT")
            pdf.set_font(f, "", 10)
            pdf.multi_cell(0, 5, pdf.t(_value(d.data.get(fld.name))), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font(f, "B", 12)
    pdf.cell(0, 7, "Traceability evidence", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(f, "", 8)
    with pdf.table(col_widths=(26, 24, 20, 26, 30, 34, 30), text_align="LEFT") as table:
        table.row(["barcode", "product", "work order", "string EL", "stations", "shifts", "shipped"])
        for e in report.evidence:
            table.row(
                [
                    pdf.t(x)
                    for x in (
                        e.barcode + ("" if e.known else " (unknown)"),
                        e.product or "-",
                        e.work_order or "-",
                        e.string_el,
                        e.stations,
                        e.shifts,
                        f"{e.customer} {e.shipped_at:%Y-%m-%d}" if e.shipped_at else "-",
                    )
                ]
            )
    images = [(c.number, a) for c in report.complaints for a in c.attachments if a.content_type.startswith("image/")]
    for number, a in images:
        png = _report_image(blobs, a.sha256)
        if png is None:
            continue
        pdf.add_page()
        pdf.set_font(f, "B", 11)
        pdf.cell(0, 7, pdf.t(f"{number}: {a.filename}"), new_x="LMARGIN", new_y="NEXT")
        pdf.image(io.BytesIO(png), w=pdf.epw)
    return bytes(pdf.output())


def _containment_table(pdf: _Pdf, rows: list[dict[str, object]]) -> None:
    pdf.set_font(pdf.family, "", 9)
    with pdf.table(col_widths=(40, 25, 25, 25, 25), text_align="LEFT") as table:
        table.row(["location", "suspect", "checked", "bad", "verified"])
        for r in rows:
            table.row(
                [
                    pdf.t(str(r.get("location", ""))),
                    str(r.get("suspect", "")),
                    str(r.get("checked", "")),
                    str(r.get("bad", "")),
                    "yes" if r.get("verified") is True else "no",
                ]
            )
    pdf.ln(1)
