"""`eltrace labels export`: the floor's decisions on cells as a labelled set (CSV, or a folder of cell crops)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import typer
from rich.console import Console

if TYPE_CHECKING:
    from services.imagestore.store import BlobStore
    from services.labels.schemas import FloorLabel

labels_app = typer.Typer(help="Labelled cells from the floor's decisions (training data).", no_args_is_help=True)
console = Console()
COLUMNS = ["image_sha256", "barcode", "string_position", "station", "row", "col", "x", "y", "w", "h", "label",
           "model_class", "source", "by", "at", "model_version", "file"]  # fmt: skip
MARGIN = 0.08  # of the cell's size, around each crop: the gap and busbar ends the model also sees


def _day_start(day: str | None, zone: str) -> datetime | None:
    if not day:
        return None
    return datetime.combine(date.fromisoformat(day), time(), ZoneInfo(zone))


def _crop(data: bytes, box: list[int]) -> np.ndarray | None:
    """The cell with a small margin, in the image's own bit depth; None if the image cannot be read."""
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        return None
    x, y, w, h = box
    mx, my = int(w * MARGIN), int(h * MARGIN)
    x0, y0 = max(0, x - mx), max(0, y - my)
    x1, y1 = min(img.shape[1], x + w + mx), min(img.shape[0], y + h + my)
    return img[y0:y1, x0:x1] if x1 > x0 and y1 > y0 else None


def write_labels(labels: Sequence[FloorLabel], blobs: BlobStore, manifest: Path, *, crops: bool) -> tuple[int, int]:
    """The labels as a CSV manifest; with `crops`, each cell's crop in LABEL/ beside it. (written, left out)."""
    out = manifest.parent
    out.mkdir(parents=True, exist_ok=True)
    written, skipped = 0, 0
    with manifest.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for lab in labels:
            file = ""
            if crops:
                crop = _crop(blobs.get(lab.image_sha256), lab.box) if lab.box and blobs.exists(lab.image_sha256) else None
                if crop is None:  # no box (an escape), or the image is gone from the store (retention)
                    skipped += 1
                    continue
                name = f"{lab.label}/{lab.image_sha256[:16]}-s{lab.string_position}-r{lab.row}c{lab.col}.png"
                (out / lab.label).mkdir(exist_ok=True)
                cv2.imwrite(str(out / name), crop)
                file = name
            x, y, bw, bh = lab.box or ["", "", "", ""]
            w.writerow([lab.image_sha256, lab.barcode, lab.string_position, lab.station, lab.row, lab.col, x, y, bw, bh,
                        lab.label, lab.model_class or "", lab.source, lab.by, lab.at.isoformat(), lab.model_version, file])  # fmt: skip
            written += 1
    return written, skipped


@labels_app.command("export")
def export(
    out: Annotated[Path, typer.Option(help="A CSV file (--format csv) or a folder to create (--format folder)")],
    since: Annotated[str | None, typer.Option(help="First plant day, e.g. 2026-11-01")] = None,
    until: Annotated[str | None, typer.Option(help="Last plant day (included)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv | folder (a crop per cell in LABEL/ folders + labels.csv)")] = "csv",
) -> None:
    """Every labelled cell of [since, until]: false calls (ok), repaired / not repairable cells, escapes."""
    from cli.main import _core, _sessions
    from services.core.db import transaction
    from services.imagestore.store import DirectoryBlobStore
    from services.labels.service import floor_labels

    if fmt not in ("csv", "folder"):
        console.print(f"[red]unknown format {fmt!r}[/]: csv | folder")
        raise typer.Exit(2)
    s = _core()
    start, last = _day_start(since, s.plant_timezone), _day_start(until, s.plant_timezone)
    with transaction(_sessions(s.resolved_database_url())) as session:
        labels = floor_labels(session=session, since=start, until=last + timedelta(days=1) if last else None)
    blobs = DirectoryBlobStore(s.resolved_image_dir())
    if fmt == "folder" and out.exists() and any(out.iterdir()):
        console.print(f"[red]{out} is not empty[/]: export into a new folder")
        raise typer.Exit(1)
    manifest = out / "labels.csv" if fmt == "folder" else out
    written, skipped = write_labels(labels, blobs, manifest, crops=fmt == "folder")
    by_label: dict[str, int] = {}
    for lab in labels:
        by_label[lab.label] = by_label.get(lab.label, 0) + 1
    console.print(
        f"{written} labelled cells to {manifest}"
        + (f" ({skipped} left out: no cell box or no image in the store)" if skipped else "")
        + ": " + ", ".join(f"{k} {v}" for k, v in sorted(by_label.items()))
    )  # fmt: skip
