"""Images for people (authenticated) and the edge's upload."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from api.deps import ANY_PERSON, ERRORS, SessionDep, current_device, get_blobs, get_settings, line_scope, require
from services.core.errors import InvalidInput, NotFound, PayloadTooLarge
from services.devices.service import AuthenticatedDevice
from services.imagestore.orm import StoredImage
from services.imagestore.preview import preview_jpeg
from services.imagestore.store import load_image, store_image
from services.inspection.repository import confirmed_result_ids, image_visible
from services.security.service import Principal

router = APIRouter(prefix="/api/v1", tags=["images"], responses=ERRORS)
edge_router = APIRouter(prefix="/api/v1/edge", tags=["edge"], responses=ERRORS)
Sha = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")]
Device = Annotated[AuthenticatedDevice, Depends(current_device)]

_CACHE = "private, max-age=86400, immutable"  # content-addressed: the bytes never change


@router.get("/images/{sha256}", response_class=Response, responses={200: {"content": {"image/png": {}}}})
def get_image(
    sha256: Sha, request: Request, session: SessionDep, p: Annotated[Principal, Depends(require(*ANY_PERSON))]
) -> Response:
    """The stored bytes of a string EL image."""
    line = line_scope(p)
    if line is not None and not image_visible(session, sha256, line=line):
        raise NotFound(f"image {sha256} not found")
    data, ctype = load_image(session=session, blobs=get_blobs(request), sha256=sha256)
    return Response(content=data, media_type=ctype, headers={"Cache-Control": _CACHE})


@router.get("/images/{sha256}/preview", response_class=Response, responses={200: {"content": {"image/jpeg": {}}}})
def get_preview(
    sha256: Sha,
    request: Request,
    session: SessionDep,
    p: Annotated[Principal, Depends(require(*ANY_PERSON))],
    w: Annotated[int, Query(description="800 or 1600")] = 1600,
) -> Response:
    """A screen-sized JPEG of a stored image (for the rework and history pages)."""
    line = line_scope(p)
    if line is not None and not image_visible(session, sha256, line=line):
        raise NotFound(f"image {sha256} not found")
    if session.get(StoredImage, sha256) is None:
        raise NotFound(f"image {sha256} not found")
    data = preview_jpeg(blobs=get_blobs(request), sha256=sha256, width=w)
    return Response(content=data, media_type="image/jpeg", headers={"Cache-Control": _CACHE})


@edge_router.put("/images/{sha256}", status_code=204, response_class=Response)
async def put_image(sha256: Sha, request: Request, device: Device) -> Response:
    """Upload an image to the content-addressed store; the body must hash to `sha256`."""
    cap = get_settings(request).max_upload_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise PayloadTooLarge(f"image over {cap} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise PayloadTooLarge(f"image over {cap} bytes")
        chunks.append(chunk)
    data = b"".join(chunks)
    if not data:
        raise InvalidInput("empty body")
    session = request.app.state.sessions()
    try:
        store_image(session=session, blobs=get_blobs(request), data=data, expected_sha256=sha256)
        session.commit()
    finally:
        session.close()
    return Response(status_code=204)


class ConfirmationQuery(BaseModel):
    result_ids: list[Annotated[str, Field(pattern=r"^[0-9a-f\-]{36}$")]] = Field(max_length=1000)


class ConfirmationRead(BaseModel):
    stored: list[str]


@edge_router.post("/confirmations")
def confirmations(body: ConfirmationQuery, session: SessionDep, device: Device) -> ConfirmationRead:
    """Which of the device's results are stored, with their images: the edge may forget those."""
    stored = confirmed_result_ids(session, device_id=device.id, result_ids=body.result_ids)
    return ConfirmationRead(stored=sorted(stored))


class WhoAmI(BaseModel):
    device_id: str
    station_id: str
    key_id: str


@edge_router.get("/whoami")
def whoami(device: Device) -> WhoAmI:
    """The identity behind the device key (for commissioning a station)."""
    return WhoAmI(device_id=device.code, station_id=device.station_code, key_id=device.key_id)
