"""Server-side SVG charts: no JavaScript, no CDN; they print and work on a cheap station browser."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from api.i18n import gettext as _

W, H = 640, 260
PAD_L, PAD_R, PAD_T, PAD_B = 52, 16, 28, 58
PALETTE = ("#2f6db5", "#d9822b", "#3a9a5b", "#8e44ad", "#c0392b", "#16a085")


@dataclass(frozen=True)
class Line:
    """A horizontal reference line (target, centre line)."""

    value: float
    label: str
    color: str = "#b00020"
    dash: bool = True


def _fmt(v: float, percent: bool) -> str:
    if percent:
        return f"{v * 100:.2f} %" if v < 0.1 else f"{v * 100:.1f} %"
    return f"{v:,.0f}" if abs(v) >= 10 else f"{v:.2g}"


def nice_max(v: float, ticks: int = 4) -> float:
    """The smallest 'round' axis top (1, 2, 2.5 or 5 x 10^k per tick) at or above `v`, so ticks read 0, 2.5, 5 %."""
    if v <= 0:
        return 1.0
    raw = v / ticks
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw * (1 - 1e-9))
    return step * ticks


def _tick(v: float, percent: bool) -> str:
    x = v * 100 if percent else v
    text = f"{x:.3f}".rstrip("0").rstrip(".") if x else "0"
    return f"{text} %" if percent else text


def _frame(title: str, y_max: float, percent: bool, cls: str) -> list[str]:
    parts = [
        f'<svg class="chart {cls}" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="{PAD_L}" y="18" class="t">{escape(title)}</text>',
    ]
    for i in range(5):
        v = y_max * i / 4
        y = _y(v, y_max)
        parts.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" class="ax" text-anchor="end">{_tick(v, percent)}</text>')
    return parts


def _y(v: float, y_max: float) -> float:
    return H - PAD_B - (v / y_max if y_max else 0) * (H - PAD_T - PAD_B)


def _x_labels(labels: Sequence[str], xs: Sequence[float]) -> list[str]:
    step = max(1, len(labels) // 14)
    return [
        f'<text x="{x:.1f}" y="{H - PAD_B + 14}" class="ax" text-anchor="end" transform="rotate(-35 {x:.1f} {H - PAD_B + 14})">'
        f"{escape(lab)}</text>"
        for i, (lab, x) in enumerate(zip(labels, xs))
        if i % step == 0
    ]


def _ref(line: Line, y_max: float) -> str:
    y = _y(line.value, y_max)
    dash = ' stroke-dasharray="6 4"' if line.dash else ""
    return (
        f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" stroke="{line.color}" stroke-width="1.5"{dash} class="ref"/>'
        f'<text x="{W - PAD_R}" y="{y - 4:.1f}" class="ax" text-anchor="end" fill="{line.color}">{escape(line.label)}</text>'
    )


def _empty(title: str, cls: str) -> Markup:
    none = _("no data in this window")  # outside the f-string: the catalogue's extractor does not look inside one
    return Markup(
        f'<svg class="chart {cls}" viewBox="0 0 {W} 60" role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        f'<text x="{PAD_L}" y="18" class="t">{escape(title)}</text><text x="{PAD_L}" y="44" class="ax">{escape(none)}</text></svg>'
    )


def bar_chart(
    title: str,
    items: Sequence[tuple[str, float]],
    *,
    percent: bool = False,
    cumulative: bool = False,
    lines: Sequence[Line] = (),
    cls: str = "bar",
) -> Markup:
    """Vertical bars; `cumulative` adds the Pareto curve (share of the total, right scale)."""
    if not items:
        return _empty(title, cls)
    y_max = nice_max(max([v for _l, v in items] + [ln.value for ln in lines]) * 1.05)
    parts = _frame(title, y_max, percent, cls)
    slot = (W - PAD_L - PAD_R) / len(items)
    xs = []
    total = sum(v for _, v in items) or 1.0
    run, pts = 0.0, []
    for i, (label, v) in enumerate(items):
        x = PAD_L + slot * i + slot * 0.15
        xs.append(x + slot * 0.35)
        y = _y(v, y_max)
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{H - PAD_B - y:.1f}" fill="{PALETTE[0]}" class="b">'
            f"<title>{escape(label)}: {_fmt(v, percent)}</title></rect>"
        )
        run += v
        pts.append(f"{x + slot * 0.35:.1f},{_y(run / total, 1.0):.1f}")
    if cumulative:
        share = _("cumulative share")
        parts.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke="{PALETTE[1]}" stroke-width="2" class="cum"/>')
        parts.append(
            f'<text x="{W - PAD_R}" y="{PAD_T - 2}" class="ax" text-anchor="end" fill="{PALETTE[1]}">{escape(share)}</text>'
        )
    parts += [_ref(ln, y_max) for ln in lines]
    parts += _x_labels([lab for lab, _v in items], xs)
    return Markup("".join(parts) + "</svg>")


def line_chart(
    title: str,
    labels: Sequence[str],
    series: dict[str, Sequence[float | None]],
    *,
    percent: bool = False,
    lines: Sequence[Line] = (),
    cls: str = "line",
) -> Markup:
    """One polyline per series over shared x labels (None = no data that day)."""
    values = [v for s in series.values() for v in s if v is not None]
    if not labels or not values:
        return _empty(title, cls)
    y_max = nice_max(max(values + [ln.value for ln in lines]) * 1.05)
    parts = _frame(title, y_max, percent, cls)
    n = len(labels)
    xs = [PAD_L + (W - PAD_L - PAD_R) * (i + 0.5) / n for i in range(n)]
    for k, (name, vals) in enumerate(series.items()):
        color = PALETTE[k % len(PALETTE)]
        pts = [f"{xs[i]:.1f},{_y(v, y_max):.1f}" for i, v in enumerate(vals) if v is not None]
        parts.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke="{color}" stroke-width="2" class="s"/>')
        parts += [f'<circle cx="{p.split(",")[0]}" cy="{p.split(",")[1]}" r="2.5" fill="{color}"/>' for p in pts]
        parts.append(f'<text x="{PAD_L + 8 + 150 * k}" y="{H - 6}" class="ax" fill="{color}">&#9632; {escape(name)}</text>')
    parts += [_ref(ln, y_max) for ln in lines]
    parts += _x_labels(labels, xs)
    return Markup("".join(parts) + "</svg>")


def p_chart(
    title: str,
    days: Sequence[str],
    p: Sequence[float],
    ucl: Sequence[float],
    lcl: Sequence[float],
    p_bar: float,
    flagged: Sequence[bool],
) -> Markup:
    """A p-chart: NG proportion per day, centre line, stepped 3-sigma limits, out-of-control points in red."""
    if not days:
        return _empty(title, "pchart")
    y_max = min(1.0, nice_max(max(list(p) + list(ucl)) * 1.05))  # a proportion: never an axis past 100 %
    parts = _frame(title, y_max, True, "pchart")
    n = len(days)
    slot = (W - PAD_L - PAD_R) / n
    xs = [PAD_L + slot * (i + 0.5) for i in range(n)]
    for limits, name in ((ucl, "UCL"), (lcl, "LCL")):
        pts = []
        for i, v in enumerate(limits):
            y = _y(v, y_max)
            pts += [f"{PAD_L + slot * i:.1f},{y:.1f}", f"{PAD_L + slot * (i + 1):.1f},{y:.1f}"]
        parts.append(
            f'<polyline points="{" ".join(pts)}" fill="none" stroke="#888" stroke-dasharray="4 3" class="{name.lower()}"/>'
        )
        if limits:  # the limit's name and today's value at the right end, so the dashed lines read without a legend
            y = _y(limits[-1], y_max)
            parts.append(
                f'<text x="{W - PAD_R}" y="{y + (-4 if name == "UCL" else 12):.1f}" class="ax lim" text-anchor="end" fill="#555">'
                f"{name} {limits[-1] * 100:.2f} %</text>"
            )
    parts.append(_ref(Line(p_bar, f"p\u0304 {p_bar * 100:.2f} %", color="#2f6db5", dash=False), y_max))
    parts.append(
        f'<polyline points="{" ".join(f"{x:.1f},{_y(v, y_max):.1f}" for x, v in zip(xs, p))}" fill="none" stroke="#333"/>'
    )
    for x, v, bad, d in zip(xs, p, flagged, days):
        color, cls = ("#d0021b", "ooc") if bad else ("#333", "pt")
        note = " " + _("out of control") if bad else ""
        parts.append(
            f'<circle cx="{x:.1f}" cy="{_y(v, y_max):.1f}" r="{5 if bad else 3}" fill="{color}" class="{cls}">'
            f"<title>{escape(d)}: {v * 100:.2f} %{escape(note)}</title></circle>"
        )
    parts += _x_labels(days, xs)
    return Markup("".join(parts) + "</svg>")
