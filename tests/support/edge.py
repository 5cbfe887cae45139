"""An edge station's folder worker for tests: 1x12 strings named BARCODE_S<pos>.png, results into an outbox."""

from __future__ import annotations

from pathlib import Path

from edge.outbox import Outbox
from edge.pipeline import Inspector, Recipe
from edge.worker import FolderWorker
from services.contracts import Grid


def folder_worker(inspector: Inspector, root: Path) -> FolderWorker:
    """A worker watching root/in, its outbox in root/outbox.sqlite, judging at once (no settle time)."""
    return FolderWorker(
        inspector=inspector,
        outbox=Outbox(root / "outbox.sqlite"),
        watch_dir=root / "in",
        done_dir=None,
        rejected_dir=root / "rejected",
        default_recipe=Recipe("full-1x12", Grid(rows=1, cols=12), 1.0),
        filename_pattern=r"^(?P<barcode>[A-Za-z0-9][A-Za-z0-9.\-]{0,63})_S(?P<pos>\d{1,2})$",
        settle_s=0,
    )
