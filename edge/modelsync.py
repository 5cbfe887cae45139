"""Keeping a station on the model the API assigns: download, verify, switch between two images.

The assignment is signed with the device's own signing key and names the file's sha256, so a model is
run only if the API named it for this device and the bytes are that model. Anything that fails
(signature, bytes, the metadata inside the file, loading) is refused and reported (model.json, log,
metric); the live model stays. The switch is one reference assignment on the worker: the image being
judged finishes on the old model, the next one is judged by the new one, and each result names its model.
A shadow model is fetched and checked the same way and judges every image beside the live one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import structlog

from edge import metrics
from edge.api_client import ApiUnavailable, EdgeApiClient
from edge.pipeline import Inspector, ShadowModel
from edge.worker import FolderWorker
from services.contracts import SignatureError
from services.contracts.models import ModelFile, verify_assignment

log = structlog.get_logger("eltrace.edge.models")


@dataclass
class SyncState:
    """What model.json says: the model judging now, the last check, the last refusal."""

    live: str = ""
    live_sha256: str = ""
    checked_at: float = 0.0
    switches: int = 0
    refused: str | None = None  # why the last assigned model was refused (None: nothing refused)
    refused_at: float | None = None
    api_error: str | None = None
    shadow: str = ""  # the shadow model judging beside the live one ("" : none)
    shadow_refused: str | None = None


class ModelSync:
    """Polls the station's assignment and switches the worker's inspector when the live model changes."""

    def __init__(
        self,
        *,
        api: EdgeApiClient,
        worker: FolderWorker,
        models_dir: Path,
        device_id: str,
        signing_key: bytes,
        load: Callable[[Path], Inspector],
        state_path: Path,
    ) -> None:
        self.api, self.worker, self.models_dir = api, worker, Path(models_dir)
        self.device_id, self.key, self.load = device_id, signing_key, load
        self.state_path = Path(state_path)
        ref = worker.inspector.model_ref
        self.state = SyncState(live=f"{ref.name} {ref.version}", live_sha256=ref.sha256)
        self._refused_sha: str | None = None
        self._refused_shadow_sha: str | None = None

    def check_once(self) -> str:
        """One poll: 'same', 'none' (nothing assigned: keep the local model), 'switched' or 'refused: why'.

        The shadow model (if any) follows too; its state is in `state.shadow` / `state.shadow_refused`.
        """
        self.state.checked_at = time.time()
        try:
            a = self.api.model_assignment()
        except ApiUnavailable as exc:
            self.state.api_error = str(exc)[:300]
            self._write()
            return "unavailable"
        self.state.api_error = None
        try:
            verify_assignment(a, self.key, device_id=self.device_id)
        except SignatureError as exc:
            return self._refuse(f"assignment refused: {exc}", None)
        live = self._sync_live(a.live)
        self._sync_shadow(a.shadow)
        self._write()
        return live

    def _sync_live(self, f: ModelFile | None) -> str:
        if f is None:
            return "none"
        if f.sha256 == self.worker.inspector.model_ref.sha256:
            return "same"
        if f.sha256 == self._refused_sha:  # refused before: not downloaded again every poll
            return f"refused: {self.state.refused}"
        try:
            inspector = self._load(f)
        except Exception as exc:  # noqa: BLE001 - whatever fails (download, bytes, ONNX load), the live model stays
            return self._refuse(f"{f.name} {f.version} refused: {exc}", f.sha256)
        before = self.worker.inspector
        inspector.shadow = before.shadow  # the shadow keeps running beside the new live model
        self.worker.inspector = inspector  # the next image is judged by the new model
        ref = inspector.model_ref
        self.state.live, self.state.live_sha256 = f"{ref.name} {ref.version}", ref.sha256
        self.state.switches += 1
        self.state.refused = self.state.refused_at = self._refused_sha = None
        metrics.MODEL_SWITCHES.inc()
        log.info("model_switched", before=f"{before.model_ref.name} {before.model_ref.version}", after=self.state.live)
        return "switched"

    def _sync_shadow(self, f: ModelFile | None) -> None:
        inspector = self.worker.inspector
        current = inspector.shadow
        if f is None:
            if current is not None:
                inspector.shadow = None
                log.info("shadow_stopped", shadow=f"{current.ref.name} {current.ref.version}")
            self.state.shadow, self.state.shadow_refused = "", None
            return
        if current is not None and current.ref.sha256 == f.sha256:
            return
        if f.sha256 == self._refused_shadow_sha:
            return
        try:
            loaded = self._load(f)
        except Exception as exc:  # noqa: BLE001 - a candidate that cannot run is reported; the live model is untouched
            self.state.shadow_refused, self._refused_shadow_sha = f"{f.name} {f.version} refused: {exc}"[:500], f.sha256
            metrics.MODEL_REFUSED.inc()
            log.error("shadow_refused", why=self.state.shadow_refused)
            return
        inspector.shadow = ShadowModel(loaded.classifier, loaded.rules)
        self.state.shadow, self.state.shadow_refused, self._refused_shadow_sha = f"{f.name} {f.version}", None, None
        log.info("shadow_started", shadow=self.state.shadow)

    def _load(self, f: ModelFile) -> Inspector:
        """Download (unless on disk), verify and load an assigned model; ValueError when it is not the one named."""
        inspector = self.load(self._fetch(f))
        ref = inspector.model_ref
        if (ref.name, ref.version, ref.sha256) != (f.name, f.version, f.sha256):
            raise ValueError(f"the file says it is {ref.name} {ref.version}, the assignment {f.name} {f.version}")
        return inspector

    def _fetch(self, f: ModelFile) -> Path:
        """The model's folder under models_dir, downloaded and sha256-checked unless already there."""
        folder = self.models_dir / f.name / f.version
        onnx = folder / "model.onnx"
        if onnx.is_file() and hashlib.sha256(onnx.read_bytes()).hexdigest() == f.sha256:
            return folder
        data = self.api.model_file(f.sha256)
        actual = hashlib.sha256(data).hexdigest()
        if actual != f.sha256:
            raise ValueError(f"downloaded file hashes to {actual[:16]}..., the signed assignment names {f.sha256[:16]}...")
        folder.mkdir(parents=True, exist_ok=True)
        _atomic_write(folder / "model.onnx.sha256", f"{f.sha256}  model.onnx\n".encode())
        _atomic_write(folder / "metadata.json", json.dumps(f.metadata, indent=2).encode())
        _atomic_write(onnx, data)
        return folder

    def _refuse(self, why: str, sha: str | None) -> str:
        self.state.refused, self.state.refused_at, self._refused_sha = why[:500], time.time(), sha
        metrics.MODEL_REFUSED.inc()
        log.error("model_refused", why=why[:500], live=self.state.live)
        self._write()
        return f"refused: {why}"

    def _write(self) -> None:
        try:
            _atomic_write(self.state_path, json.dumps(asdict(self.state)).encode())
        except OSError:
            pass  # a full disk: the model keeps judging; the health check sees the stale file

    def run(self, stop: threading.Event, *, interval_s: float) -> None:
        """Poll until stopped; nothing ends the loop (a bug is logged and the next poll tries again)."""
        while not stop.is_set():
            try:
                self.check_once()
            except Exception as exc:  # noqa: BLE001 - the worker must keep judging with the live model
                log.exception("model_sync_failed", error=str(exc)[:300])
            stop.wait(interval_s)


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_sync_state(outbox_path: Path) -> SyncState | None:
    """model.json next to the outbox (None when the station does not sync its model)."""
    try:
        return SyncState(**json.loads((Path(outbox_path).parent / "model.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None
