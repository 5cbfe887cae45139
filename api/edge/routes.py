"""The edge devices' door: image upload, confirmations, whoami, model assignment and files (device key only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from api.deps import ERRORS, DeviceDep, SessionDep, get_blobs, get_settings, in_transaction
from api.i18n import N_
from api.limits import takes_upload
from services.contracts import derive_signing_key
from services.contracts.models import ModelAssignment
from services.core.errors import InvalidInput, PayloadTooLarge
from services.devices.schemas import ConfirmationQuery, ConfirmationRead, WhoAmI
from services.imagestore.store import store_image
from services.inspection.service import confirm_results
from services.registry import service as registry

router = APIRouter(prefix="/api/v1/edge", tags=["edge"], responses=ERRORS)
Sha = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")]


@router.put("/images/{sha256}", status_code=204, response_class=Response)
@takes_upload("max_upload_bytes")
async def put_image(sha256: Sha, request: Request, device: DeviceDep) -> Response:
    """Upload an image to the content-addressed store; the body must hash to `sha256`."""
    cap = get_settings(request).max_upload_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise PayloadTooLarge(N_("image over %(cap)s bytes"), cap=cap)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise PayloadTooLarge(N_("image over %(cap)s bytes"), cap=cap)
        chunks.append(chunk)
    data = b"".join(chunks)
    if not data:
        raise InvalidInput(N_("empty body"))
    blobs = get_blobs(request)
    await in_transaction(request, lambda s: store_image(session=s, blobs=blobs, data=data, expected_sha256=sha256))
    return Response(status_code=204)


@router.post("/confirmations")
def confirmations(body: ConfirmationQuery, request: Request, session: SessionDep, device: DeviceDep) -> ConfirmationRead:
    """Which of the device's results are stored with their images (forget), refused (park), or lack their image."""
    return confirm_results(session=session, blobs=get_blobs(request), device_id=device.id, result_ids=body.result_ids)


@router.get("/whoami")
def whoami(device: DeviceDep) -> WhoAmI:
    """The identity behind the device key (for commissioning a station)."""
    return WhoAmI.model_validate(device)


@router.get("/model")
def model_assignment(request: Request, session: SessionDep, device: DeviceDep) -> ModelAssignment:
    """Which model the device's station runs live (and in shadow), signed with the device's own signing key."""
    master = get_settings(request).secret_key.get_secret_value().encode()
    key = derive_signing_key(master, device.code, device.key_id)
    return registry.assignment(session=session, station=device.station_code, device_id=device.code, key=key)


@router.get("/models/{sha256}", response_class=Response, responses={200: {"content": {"application/octet-stream": {}}}})
def model_file(sha256: Sha, request: Request, session: SessionDep, device: DeviceDep) -> Response:
    """A registered model's ONNX file by its sha256 (the edge checks the bytes against its signed assignment)."""
    data = registry.model_bytes(session=session, blobs=get_blobs(request), sha256=sha256)
    return Response(data, media_type="application/octet-stream")
