"""Folder-watching edge worker: image + barcode in, result into the outbox, file out of the way."""

from __future__ import annotations

import errno
import json
import re
import shutil
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import structlog

from edge import metrics
from edge.outbox import DiskFull, Outbox
from edge.pipeline import Inspector, Outcome, Recipe
from services.contracts import Grid
from services.contracts.result import BARCODE_PATTERN, Stage, normalise_barcode

log = structlog.get_logger("eltrace.edge.worker")

IMAGE_SUFFIXES = {".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp"}


class RejectedInput(ValueError):
    """A file the worker cannot even attribute to a module (no barcode, bad position)."""


@dataclass(frozen=True)
class Capture:
    """What the EL tester said about an image."""

    barcode: str
    string_position: int
    captured_at: datetime
    recipe: Recipe


class FolderWorker:
    """Turns each settled image in `watch_dir` into one outbox entry, exactly once."""

    def __init__(
        self,
        *,
        inspector: Inspector,
        outbox: Outbox,
        watch_dir: Path,
        done_dir: Path | None,
        rejected_dir: Path,
        default_recipe: Recipe,
        filename_pattern: str,
        stage: Stage = Stage.STRING_EL,
        settle_s: float = 0.2,
        min_free_bytes: int = 128 * 1024 * 1024,
    ) -> None:
        self.inspector = inspector
        self.outbox = outbox
        self.watch_dir = Path(watch_dir)
        self.done_dir = done_dir
        self.rejected_dir = Path(rejected_dir)
        self.default_recipe = default_recipe
        self.pattern = re.compile(filename_pattern)
        self.stage = stage
        self.settle_s = settle_s
        # Below this much free space new images wait unjudged in the watch folder (status: disk full), so
        # the outbox never meets ENOSPC in the middle of a write; confirmations free space meanwhile.
        self.min_free_bytes = min_free_bytes
        self.disk_full: str | None = None  # why new images are refused right now, None when they are not
        self.accepted = 0
        self.rejected = 0
        self.quarantined = 0
        self.quarantine_dir = self.rejected_dir / "quarantine"
        # Names the file being judged; left behind only if the process died on it (segfault, OOM kill).
        self.inflight = self.outbox.path.parent / "inflight.json"
        for d in (self.watch_dir, self.rejected_dir, *([done_dir] if done_dir else [])):
            Path(d).mkdir(parents=True, exist_ok=True)
        self.recover()

    def recover(self) -> None:
        """A file that killed the previous process is quarantined with an ERROR result, never judged again.

        Without this a poison file would crash the worker on every restart and block every image behind it.
        """
        if not self.inflight.exists():
            return
        try:
            name = json.loads(self.inflight.read_text())["file"]
        except (OSError, ValueError, KeyError, TypeError):
            self.inflight.unlink(missing_ok=True)
            return
        path = self.watch_dir / Path(str(name)).name
        if path.exists():
            reason = "the worker stopped while judging this file (crash): quarantined, judge it by hand"
            try:
                cap = self._capture(path)
                data = path.read_bytes()
                out = self.inspector.unjudged(
                    data,
                    barcode=cap.barcode,
                    string_position=cap.string_position,
                    recipe=cap.recipe,
                    captured_at=cap.captured_at,
                    stage=self.stage,
                    reason=reason,
                )
                self.outbox.add(out.envelope, out.image_bytes)
            except RejectedInput as exc:
                reason = f"{reason}; {exc}"
            self.quarantined += 1
            metrics.REJECTED.inc()
            log.error("file_quarantined", file=path.name, reason=reason)
            self._move(path, self.quarantine_dir, reason)
        self.inflight.unlink(missing_ok=True)

    def _capture(self, path: Path) -> Capture:
        sidecar = path.with_suffix(".json")
        meta: dict[str, object] = {}
        if sidecar.exists():
            try:
                meta = json.loads(sidecar.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise RejectedInput(f"sidecar {sidecar.name} is not valid JSON") from exc
        else:
            m = self.pattern.match(path.stem)
            if not m:
                raise RejectedInput(f"no sidecar and file name {path.name!r} does not match the barcode pattern")
            meta = {"barcode": m.group("barcode"), "string_position": int(m.group("pos"))}
        barcode = normalise_barcode(str(meta.get("barcode", "")))
        if not re.fullmatch(BARCODE_PATTERN, barcode):
            raise RejectedInput(f"barcode {barcode!r} is malformed")
        try:
            pos = _as_int(meta.get("string_position", 1))
        except (TypeError, ValueError) as exc:
            raise RejectedInput("string_position is not a number") from exc
        if not 1 <= pos <= 64:
            raise RejectedInput(f"string_position {pos} out of range 1..64")
        recipe = self.default_recipe
        if "rows" in meta and "cols" in meta and "recipe" in meta:
            try:
                recipe = Recipe(
                    name=str(meta["recipe"])[:60],
                    grid=Grid(rows=_as_int(meta["rows"]), cols=_as_int(meta["cols"])),
                    cell_aspect=self.default_recipe.cell_aspect if str(meta["recipe"]) == self.default_recipe.name else None,
                    layout=str(meta.get("layout", self.default_recipe.layout)),
                )
            except (TypeError, ValueError) as exc:
                raise RejectedInput(f"sidecar grid is invalid: {exc}") from exc
        captured = meta.get("captured_at")
        if isinstance(captured, str):
            try:
                captured_at = datetime.fromisoformat(captured)
            except ValueError as exc:
                raise RejectedInput(f"captured_at {captured[:40]!r} is not an ISO time") from exc
            if captured_at.tzinfo is None:
                raise RejectedInput("captured_at needs a time zone")
        else:
            captured_at = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        return Capture(barcode, pos, captured_at, recipe)

    def _move(self, path: Path, target_dir: Path | None, reason: str | None = None) -> None:
        sidecar = path.with_suffix(".json")
        if target_dir is None:
            path.unlink(missing_ok=True)
            sidecar.unlink(missing_ok=True)
            return
        target_dir.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), target_dir / path.name)
        if sidecar.exists():
            shutil.move(str(sidecar), target_dir / sidecar.name)
        if reason:
            (target_dir / (path.name + ".reason.txt")).write_text(reason + "\n")

    def pending_files(self) -> list[Path]:
        """Image files old enough that the tester has finished writing them, oldest first."""
        now = time.time()
        files = []
        for p in self.watch_dir.iterdir():
            if p.suffix.lower() not in IMAGE_SUFFIXES or p.name.startswith("."):
                continue
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            if now - st.st_mtime >= self.settle_s:
                files.append((st.st_mtime, p.name, p))
        return [p for _, _, p in sorted(files)]

    def process_file(self, path: Path) -> Outcome | None:
        """Judge one file and put its result in the outbox; None if it was rejected."""
        try:
            cap = self._capture(path)
        except RejectedInput as exc:
            self.rejected += 1
            metrics.REJECTED.inc()
            log.warning("file_rejected", file=path.name, reason=str(exc))
            self._move(path, self.rejected_dir, str(exc))
            return None
        except OSError as exc:  # vanished or unreadable sidecar: the tester may still be writing; next scan
            log.warning("file_unreadable", file=path.name, reason=str(exc))
            return None
        try:
            data = path.read_bytes()
        except OSError as exc:
            log.warning("file_unreadable", file=path.name, reason=str(exc))
            return None
        try:
            self.inflight.write_text(json.dumps({"file": path.name}))
            outcome = self.inspector.inspect(
                data,
                barcode=cap.barcode,
                string_position=cap.string_position,
                recipe=cap.recipe,
                captured_at=cap.captured_at,
                stage=self.stage,
            )
            # Outbox first, then move the file: a crash in between re-judges the same bytes into the
            # same result_id, which the outbox ignores.
            self.outbox.add(outcome.envelope, outcome.image_bytes)
        except OSError as exc:
            if not isinstance(exc, DiskFull) and exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            self.inflight.unlink(missing_ok=True)
            self._refuse_new(f"disk full while storing {path.name}: {exc}")
            return None  # the file stays in the watch folder, unjudged, and is taken when there is room
        self._move(path, self.done_dir)
        self.inflight.unlink(missing_ok=True)
        self.accepted += 1
        env = outcome.envelope
        metrics.IMAGES.labels(verdict=env.verdict.value).inc()
        metrics.LATENCY.observe(env.timings_ms.get("total", 0.0) / 1000)
        log.info(
            "inspected",
            result_id=env.result_id,
            barcode=env.barcode,
            verdict=env.verdict.value,
            ms=env.timings_ms.get("total"),
            error=env.error,
        )
        return outcome

    def _refuse_new(self, reason: str) -> None:
        if self.disk_full is None:
            log.error("disk_full_refusing_new_images", reason=reason)
        self.disk_full = reason
        metrics.DISK_FULL.set(1)

    def room_for_more(self) -> bool:
        """Whether the outbox's disk has room for new results; sets or clears the disk-full status."""
        free = shutil.disk_usage(self.outbox.path.parent).free
        if free < self.min_free_bytes:
            self._refuse_new(f"{free // 1024} KiB free on the outbox disk, below the {self.min_free_bytes // 1024} KiB reserve")
            return False
        if self.disk_full is not None:
            log.info("disk_space_back_accepting_images", free_kib=free // 1024)
            self.disk_full = None
            metrics.DISK_FULL.set(0)
        return True

    def scan_once(self) -> int:
        """Process every settled file once (none while the disk is full); returns how many were handled."""
        n = 0
        for p in self.pending_files():
            if not self.room_for_more():
                break
            self.process_file(p)
            n += 1
            if self.disk_full is not None:
                break
        return n

    def run(self, stop: threading.Event, *, poll_s: float = 0.2) -> None:
        """Watch the folder until stopped."""
        heartbeat = self.outbox.path.parent / "heartbeat"
        while not stop.is_set():
            try:
                heartbeat.touch()  # an existing file's time: works on a full disk too
            except OSError:
                pass
            if self.scan_once() == 0 or self.disk_full is not None:
                stop.wait(poll_s if self.disk_full is None else max(poll_s, 2.0))


def _as_int(value: object) -> int:
    """A sidecar's number (JSON int, float or text); anything else is a TypeError."""
    if isinstance(value, int | float | str):
        return int(value)
    raise TypeError(f"not a number: {value!r}")
