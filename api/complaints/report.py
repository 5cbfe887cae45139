"""The 8D report rendered for a customer: HTML (print-ready) and PDF (fpdf2, attached images embedded)."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path
from typing import Any

from fpdf import FPDF
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api import i18n
from api.i18n import N_
from api.i18n import gettext as _
from api.plant import plant_time, plant_zone_label
from api.render import TEMPLATES_DIR
from api.words import word
from services.complaints.report import Report
from services.core.errors import DomainError, InvalidInput
from services.imagestore.preview import preview_jpeg
from services.imagestore.store import BlobStore

_env = Environment(
    loader=FileSystemLoader(str(TEMPLATES_DIR)), autoescape=select_autoescape(["html"]), extensions=["jinja2.ext.i18n"]
)
_env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True, pgettext=i18n.pgettext)  # type: ignore[attr-defined]
_env.filters["word"] = word
_env.filters["plant"] = plant_time

# Latin text in DejaVu; Chinese (and other CJK) text in a CJK font as the fallback. ELTRACE_PDF_CJK_FONT names
# another TTF / OTF / TTC file; ./run test and the Dockerfile install Debian's fonts-noto-cjk.
_LATIN = (Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"), Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"))
_CJK = (  # (file, face in a collection): Noto Sans CJK's face 2 is Simplified Chinese
    (Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"), 2),
    (Path("/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc"), 2),
    (Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"), 0),
    (Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"), 0),
    (Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"), 0),
)


class ReportCannotPrint(DomainError):
    """The PDF would lose text: no installed font has its characters (never a PDF with text silently missing)."""

    code = "report_font_missing"
    status = 503


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page (inline CSS, print layout), in the reader's language."""
    return _env.get_template("report_8d.html").render(
        r=report, value=_value, rows=_rows, label=report_label, locale=i18n.current_locale(), zone=plant_zone_label()
    )


# The form's typing hints ("one per line") do not belong in a customer's report: its label without them.
_REPORT_LABELS = {
    "Members (one per line)": N_("Members"),
    "IS / IS NOT (dimension | is | is not, one per line)": N_("IS / IS NOT"),
}


def report_label(label: str) -> str:
    """A field's label as the report prints it, in the reader's language."""
    return _(_REPORT_LABELS.get(label, label))


def _rows(v: Any) -> list[dict[str, Any]]:
    """An IS / IS NOT field as its rows (empty for anything else)."""
    return [r for r in v if isinstance(r, dict)] if isinstance(v, list) else []


def _value(v: Any) -> str:
    """A discipline field as text (lists one per line, IS / IS NOT rows, flags yes / no)."""
    if v is None or v == "":
        return "-"
    if isinstance(v, bool):
        return _("yes") if v else _("no")
    if isinstance(v, list):
        if v and isinstance(v[0], dict):
            return "\n".join(" | ".join(f"{k}: {x}" for k, x in row.items()) for row in v)
        return "\n".join(str(x) for x in v)
    return str(v)


def cjk_font() -> tuple[Path, int] | None:
    """The CJK font the PDF uses: ELTRACE_PDF_CJK_FONT, else the first installed one we know."""
    named = os.environ.get("ELTRACE_PDF_CJK_FONT")
    if named:
        return (Path(named), 0) if Path(named).exists() else None
    return next(((p, face) for p, face in _CJK if p.exists()), None)


class _Pdf(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(format="A4")
        self.title_text = title
        self.unicode = all(p.exists() for p in _LATIN)
        self.glyphs: set[int] = set()
        if self.unicode:
            self.add_font("DejaVu", "", str(_LATIN[0]))
            self.add_font("DejaVu", "B", str(_LATIN[1]))
            cjk = cjk_font()
            if cjk is not None:
                self.add_font("CJK", "", str(cjk[0]), collection_font_number=cjk[1])
                self.set_fallback_fonts(["CJK"], exact_match=False)
            for font in self.fonts.values():
                self.glyphs.update(getattr(font, "cmap", {}) or {})
        self.family = "DejaVu" if self.unicode else "Helvetica"
        self.set_auto_page_break(True, margin=15)

    def t(self, s: str) -> str:
        """Text as it goes into the PDF; a character no font can show stops the report (never dropped)."""
        if not self.unicode:
            if any(ord(c) > 255 for c in s):
                raise ReportCannotPrint(N_("The PDF cannot be made: the DejaVu fonts are not installed on the server."))
            return s
        missing = sorted({c for c in s if c.isprintable() and not c.isspace() and ord(c) not in self.glyphs})
        if missing:
            raise ReportCannotPrint(
                N_(
                    "The PDF cannot be made: no font on the server has the characters %(chars)s "
                    "(install fonts-noto-cjk or set ELTRACE_PDF_CJK_FONT). Nothing was left out silently."
                ),
                chars="".join(missing[:12]),
            )
        return s

    def header(self) -> None:
        self.set_font(self.family, "B", 9)
        self.cell(0, 6, self.t(self.title_text), new_x="LMARGIN", new_y="NEXT")
        self.ln(1)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(self.family, "", 8)
        self.cell(0, 6, self.t(_("page %(n)s of %(total)s") % {"n": self.page_no(), "total": "{nb}"}), align="R")


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
    title = _("8D report %(number)s: %(title)s") % {"number": case.number, "title": case.title}
    pdf = _Pdf(title)
    pdf.set_title(pdf.t(title))
    pdf.set_subject(pdf.t(_("8D report")))
    pdf.set_creator("eltrace")
    pdf.set_lang(i18n.HTML_LANG.get(i18n.current_locale(), "en"))
    pdf.alias_nb_pages()
    pdf.add_page()
    f = pdf.family
    pdf.set_font(f, "B", 16)
    pdf.multi_cell(0, 8, pdf.t(title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(f, "", 10)
    status = _("status %(status)s; opened %(opened)s") % {
        "status": word(case.status, "case_status"),
        "opened": plant_time(case.opened_at),
    }
    if case.closed_at:
        status += "; " + _("closed %(when)s") % {"when": plant_time(case.closed_at)}
    status += "; " + _("generated %(when)s (%(zone)s)") % {"when": plant_time(report.generated_at), "zone": plant_zone_label()}
    pdf.multi_cell(0, 5, pdf.t(status), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    _heading(pdf, _("Complaints"))
    for c in report.complaints:
        judged = _("justified") if c.justified else _("not justified") if c.justified is False else _("not judged yet")
        line = _(
            "%(number)s - %(customer)s, %(project)s / %(site)s; received %(when)s via %(channel)s; %(symptom)s, %(severity)s; "
            "%(n)s module(s); %(judged)s"
        ) % {
            "number": c.number,
            "customer": c.customer,
            "project": c.project or "-",
            "site": c.site or "-",
            "when": plant_time(c.received_at, "%Y-%m-%d"),
            "channel": word(c.channel, "channel"),
            "symptom": word(c.symptom, "symptom"),
            "severity": word(c.severity, "severity"),
            "n": len(c.barcodes),
            "judged": judged,
        }
        pdf.multi_cell(0, 5, pdf.t(line), new_x="LMARGIN", new_y="NEXT")
        pdf.multi_cell(0, 5, pdf.t(c.description), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
    for d in case.disciplines:
        pdf.ln(2)
        _heading(pdf, d.code + " " + _(d.title))
        pdf.set_font(f, "", 9)
        meta = _("owner %(owner)s; due %(due)s; %(status)s") % {
            "owner": d.owner or "-",
            "due": plant_time(d.due_at, "%Y-%m-%d"),
            "status": word(d.status, "discipline_status"),
        }
        if d.completed_at:
            meta += " " + _("%(when)s by %(who)s") % {"when": plant_time(d.completed_at, "%Y-%m-%d"), "who": d.completed_by}
        if d.approved_by:
            meta += "; " + _("approved by %(who)s") % {"who": d.approved_by}
        pdf.multi_cell(0, 5, pdf.t(meta), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(f, "", 10)
        if d.code == "D3" and report.containment:
            _containment_table(pdf, report.containment)
        for fld in d.fields:
            if fld.kind == "containment":
                continue
            pdf.set_font(f, "B", 10)
            pdf.multi_cell(0, 5, pdf.t(report_label(fld.label)), new_x="LMARGIN", new_y="NEXT")
            pdf.set_font(f, "", 10)
            value = d.data.get(fld.name)
            if fld.kind == "table" and _rows(value):
                _is_is_not(pdf, _rows(value))
            else:
                pdf.multi_cell(0, 5, pdf.t(_value(value)), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    _heading(pdf, _("Traceability evidence"))
    pdf.set_font(f, "", 8)
    with pdf.table(col_widths=(26, 24, 20, 26, 30, 34, 30), text_align="LEFT") as table:
        table.row(
            [
                pdf.t(h)
                for h in (_("barcode"), _("product"), _("work order"), _("string EL"), _("stations"), _("shifts"), _("shipped"))
            ]
        )
        for e in report.evidence:
            table.row(
                [
                    pdf.t(x)
                    for x in (
                        e.barcode + ("" if e.known else " " + _("(unknown)")),
                        e.product or "-",
                        e.work_order or "-",
                        e.string_el,
                        e.stations,
                        e.shifts,
                        f"{e.customer} {plant_time(e.shipped_at, '%Y-%m-%d')}" if e.shipped_at else "-",
                    )
                ]
            )
    attachments = [(c.number, a) for c in report.complaints for a in c.attachments]
    if attachments:
        pdf.ln(2)
        _heading(pdf, _("Attachments"))
        pdf.set_font(f, "", 9)
        for number, a in attachments:
            kib = a.size_bytes / 1024
            pdf.multi_cell(
                0, 5, pdf.t(f"{number}: {a.filename} ({a.content_type}, {kib:.1f} KiB)"), new_x="LMARGIN", new_y="NEXT"
            )
    _signatures(pdf, case)
    images = [(n, a) for n, a in attachments if a.content_type.startswith("image/")]
    for number, a in images:
        png = _report_image(blobs, a.sha256)
        if png is None:
            continue
        pdf.add_page()
        pdf.set_font(f, "B", 11)
        pdf.cell(0, 7, pdf.t(f"{number}: {a.filename}"), new_x="LMARGIN", new_y="NEXT")
        pdf.image(io.BytesIO(png), w=pdf.epw)
    return bytes(pdf.output())


def _heading(pdf: _Pdf, text: str) -> None:
    pdf.set_font(pdf.family, "B", 12)
    pdf.cell(0, 7, pdf.t(text), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(pdf.family, "", 10)


def _is_is_not(pdf: _Pdf, rows: list[dict[str, Any]]) -> None:
    pdf.set_font(pdf.family, "", 9)
    with pdf.table(col_widths=(30, 60, 60), text_align="LEFT") as table:
        table.row([pdf.t(_("dimension")), pdf.t(_("IS")), pdf.t(_("IS NOT"))])
        for r in rows:
            table.row([pdf.t(str(r.get(k, "") or "")) for k in ("dimension", "is", "is_not")])
    pdf.ln(1)
    pdf.set_font(pdf.family, "", 10)


def _signatures(pdf: _Pdf, case: Any) -> None:
    """Who released the report: D8 approval, and lines to sign by hand for the customer."""
    pdf.ln(4)
    _heading(pdf, _("Approval"))
    d8 = next((d for d in case.disciplines if d.code == "D8"), None)
    approved = d8.approved_by if d8 is not None else None
    pdf.set_font(pdf.family, "", 10)
    with pdf.table(col_widths=(50, 60, 40), text_align="LEFT") as table:
        table.row([pdf.t(_("role")), pdf.t(_("name / signature")), pdf.t(_("date"))])
        table.row([pdf.t(_("8D champion (D8 approval)")), pdf.t(approved or ""), pdf.t(plant_time(case.closed_at, "%Y-%m-%d"))])
        table.row([pdf.t(_("Quality manager")), "", ""])
        table.row([pdf.t(_("Customer")), "", ""])


def _containment_table(pdf: _Pdf, rows: list[dict[str, object]]) -> None:
    pdf.set_font(pdf.family, "", 9)
    with pdf.table(col_widths=(40, 25, 25, 25, 25), text_align="LEFT") as table:
        table.row([pdf.t(h) for h in (_("location"), _("suspect"), _("checked"), _("bad"), _("verified"))])
        for r in rows:
            table.row(
                [
                    pdf.t(word(r.get("location", ""), "location")),
                    str(r.get("suspect", "")),
                    str(r.get("checked", "")),
                    str(r.get("bad", "")),
                    pdf.t(_("yes") if r.get("verified") is True else _("no")),
                ]
            )
    pdf.ln(1)
