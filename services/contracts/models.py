"""Model assignment contract: which classifier an edge station runs live (and which in shadow), signed.

The API signs each assignment with the device's own signing key (the HMAC key it signs results with),
so an edge worker runs only a model the API named for it; the file's sha256 inside the signed body
then proves the downloaded bytes are that model.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.contracts.signing import SignatureError

_SHA256 = r"^[0-9a-f]{64}$"


class ModelFile(BaseModel):
    """One registered model version as an edge needs it: identity, the file's sha256 and its metadata."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    version: str = Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9][A-Za-z0-9._+\-]{0,49}$")
    sha256: str = Field(pattern=_SHA256)
    size_bytes: int = Field(ge=1)
    metadata: dict[str, Any]  # metadata.json of the model folder (classes, input size, operating points)


class ModelAssignment(BaseModel):
    """What a station runs: the live model acts, the shadow model (if any) only judges beside it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    station: str
    device_id: str
    live: ModelFile | None
    shadow: ModelFile | None = None
    issued_at: AwareDatetime
    signature: str = ""


def _body(a: ModelAssignment) -> bytes:
    data = a.model_dump(mode="json", exclude={"signature"})
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign_assignment(a: ModelAssignment, key: bytes) -> ModelAssignment:
    """The assignment with its HMAC-SHA256 signature (hex) over the canonical JSON of everything else."""
    return a.model_copy(update={"signature": hmac.new(key, _body(a), hashlib.sha256).hexdigest()})


def verify_assignment(a: ModelAssignment, key: bytes, *, device_id: str) -> None:
    """SignatureError unless the assignment is for this device and signed with its key."""
    if not a.signature:
        raise SignatureError("unsigned model assignment")
    if not hmac.compare_digest(hmac.new(key, _body(a), hashlib.sha256).hexdigest(), a.signature):
        raise SignatureError("model assignment signature does not match")
    if a.device_id != device_id:
        raise SignatureError(f"model assignment is for device {a.device_id!r}, not {device_id!r}")
