"""The shadow comparison: the live and the shadow model on the same images, against the floor's labels.

Per station and period: how often the two agree, and for every cell the floor labelled (EL review,
dispositions, escapes) which model would have missed it or called it falsely; the review load each
costs; and how long each took. A cell the floor never looked at (the live model passed it, no later
stage found anything) has no label: cells only the shadow flags there are counted apart, as the extra
review load the shadow would bring, not as its false calls.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import numpy as np
from pydantic import BaseModel
from sqlalchemy.orm import Session

from services.labels import repository as repo
from services.labels.schemas import OK
from services.labels.service import floor_labels

FLAGGED = ("NG", "REVIEW")


class ModelFigures(BaseModel):
    """One model's figures on the compared images."""

    version: str
    images: int
    cells: int
    ng_cells: int
    review_cells: int
    review_load: float  # REVIEW cells / all cells
    labelled_defects: int
    missed: int  # defect-labelled cells this model passed (OK)
    labelled_ok: int
    false_calls: int  # OK-labelled cells this model flagged (NG or REVIEW)
    auto_ng_false_calls: int  # OK-labelled cells this model sent straight to rework
    flagged_unlabelled: int  # flagged cells the floor has no word on
    ms_p50: float | None
    ms_p95: float | None
    errors: int = 0


class ShadowComparison(BaseModel):
    """Live vs shadow at one station over a period."""

    station: str
    since: datetime | None
    until: datetime | None
    images: int
    verdict_agreement: float | None  # share of images with the same string verdict
    cell_agreement: float | None  # share of cells with the same decision
    live: list[ModelFigures]
    shadow: list[ModelFigures]


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


def compare(*, session: Session, station: str, since: datetime | None = None, until: datetime | None = None) -> ShadowComparison:
    """The comparison report of a station's shadow period (every shadowed image of [since, until))."""
    labels: dict[tuple[str, int, int], str] = {}
    for lab in floor_labels(session=session):  # oldest first: the latest word on a cell wins
        labels[(lab.image_sha256, lab.row, lab.col)] = lab.label
    rows = repo.shadowed_images(session, station, since, until)
    figures: dict[tuple[str, str], Counter[str]] = {}
    times: dict[tuple[str, str], list[float]] = {}
    same_verdict = same_cells = both_cells = images = 0
    for sha, verdict, live_version, live_cells, shadow, timings in rows:
        images += 1
        live_key, shadow_key = ("live", live_version), ("shadow", str(shadow["model"]["version"]))
        times.setdefault(live_key, []).append(float(sum(timings.get(k, 0.0) for k in ("preprocess", "infer", "decide"))))
        times.setdefault(shadow_key, []).append(float(shadow.get("ms") or 0.0))
        live = {(c[0], c[1]): str(c[2]) for c in live_cells or []}
        _count(figures.setdefault(live_key, Counter()), live, sha, labels)
        if shadow["verdict"] == "ERROR":
            figures.setdefault(shadow_key, Counter())["errors"] += 1
            continue
        cand = {(c[0], c[1]): str(c[2]) for c in shadow["cells"]}
        _count(figures.setdefault(shadow_key, Counter()), cand, sha, labels)
        same_verdict += int(shadow["verdict"] == verdict)
        same_cells += sum(1 for k, d in cand.items() if live.get(k) == d)
        both_cells += len(cand)
    judged = images - sum(c["errors"] for k, c in figures.items() if k[0] == "shadow")

    def read(key: tuple[str, str]) -> ModelFigures:
        c = figures[key]
        return ModelFigures(
            version=key[1],
            images=c["images"],
            cells=c["cells"],
            ng_cells=c["NG"],
            review_cells=c["REVIEW"],
            review_load=round(c["REVIEW"] / c["cells"], 5) if c["cells"] else 0.0,
            labelled_defects=c["labelled_defects"],
            missed=c["missed"],
            labelled_ok=c["labelled_ok"],
            false_calls=c["false_calls"],
            auto_ng_false_calls=c["auto_ng_false_calls"],
            flagged_unlabelled=c["flagged_unlabelled"],
            ms_p50=_pct(times.get(key, []), 50),
            ms_p95=_pct(times.get(key, []), 95),
            errors=c["errors"],
        )

    return ShadowComparison(
        station=station,
        since=since,
        until=until,
        images=images,
        verdict_agreement=round(same_verdict / judged, 5) if judged else None,
        cell_agreement=round(same_cells / both_cells, 5) if both_cells else None,
        live=[read(k) for k in sorted(figures) if k[0] == "live"],
        shadow=[read(k) for k in sorted(figures) if k[0] == "shadow"],
    )


def _count(c: Counter[str], decisions: dict[tuple[int, int], str], sha: str, labels: dict[tuple[str, int, int], str]) -> None:
    c["images"] += 1
    for (row, col), decision in decisions.items():
        c["cells"] += 1
        c[decision] += 1
        label = labels.get((sha, row, col))
        flagged = decision in FLAGGED
        if label is None:
            c["flagged_unlabelled"] += int(flagged)
        elif label == OK:
            c["labelled_ok"] += 1
            c["false_calls"] += int(flagged)
            c["auto_ng_false_calls"] += int(decision == "NG")
        else:
            c["labelled_defects"] += 1
            c["missed"] += int(not flagged)
