"""The edge's HTTP client to the traceability API: image upload, result confirmation, model assignment."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from services.contracts.models import ModelAssignment


class ApiUnavailable(RuntimeError):
    """The API could not be reached or answered with a server error; try again later."""


class ApiUnauthorized(ApiUnavailable):
    """The API refused the device key (revoked or wrong): every row waits, none is parked, an alarm shows."""


class ApiRefused(ValueError):
    """The API refused this one request for good (4xx): the row is parked with this reason."""


@dataclass
class Confirmation:
    """The API's answer about some sent results."""

    stored: set[str] = field(default_factory=set)
    refused: list[tuple[str, str, str | None, str]] = field(default_factory=list)  # (result_id, stream_id, key_id, reason)
    reupload: set[str] = field(default_factory=set)  # image sha256s the store has lost


class EdgeApiClient:
    """Authenticated with the device's API key; identity comes from the key, not the payload."""

    def __init__(self, base_url: str, api_key: str, *, timeout_s: float = 10.0) -> None:
        self.http = httpx.Client(base_url=base_url.rstrip("/"), headers={"X-Device-Key": api_key}, timeout=timeout_s)

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def _call(self, method: str, url: str, **kw: object) -> httpx.Response:
        try:
            resp = self.http.request(method, url, **kw)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            raise ApiUnavailable(str(exc)) from exc
        if resp.status_code >= 500 or resp.status_code == 429:
            raise ApiUnavailable(f"{method} {url}: HTTP {resp.status_code}")
        if resp.status_code in (401, 403):
            raise ApiUnauthorized(f"{method} {url}: HTTP {resp.status_code} (device key refused)")
        return resp

    def upload_image(self, sha256: str, data: bytes, content_type: str) -> None:
        """PUT the image to the content-addressed store (idempotent); ApiRefused on a 4xx."""
        resp = self._call("PUT", f"/api/v1/edge/images/{sha256}", content=data, headers={"Content-Type": content_type})
        if resp.status_code not in (200, 201, 204):
            raise ApiRefused(f"image upload refused: HTTP {resp.status_code} {_detail(resp)}")

    def confirm(self, result_ids: list[str]) -> Confirmation:
        """Which of these results the API has stored (with their images), refused, or lacks the image of."""
        out = Confirmation()
        for i in range(0, len(result_ids), 500):
            chunk = result_ids[i : i + 500]
            resp = self._call("POST", "/api/v1/edge/confirmations", json={"result_ids": chunk})
            if resp.status_code != 200:
                raise ApiUnavailable(f"confirmations: HTTP {resp.status_code} {_detail(resp)}")
            body = resp.json()
            out.stored.update(body["stored"])
            out.refused.extend((r["result_id"], r["stream_id"], r.get("key_id"), r["reason"]) for r in body.get("refused", []))
            out.reupload.update(body.get("reupload", []))
        return out

    def whoami(self) -> str:
        """The device the API sees behind this key (ApiUnauthorized when it refuses the key)."""
        resp = self._call("GET", "/api/v1/edge/whoami")
        if resp.status_code != 200:
            raise ApiUnavailable(f"whoami: HTTP {resp.status_code} {_detail(resp)}")
        return str(resp.json()["device_id"])

    def model_assignment(self) -> ModelAssignment:
        """Which model this device's station runs (signed; the caller verifies it)."""
        resp = self._call("GET", "/api/v1/edge/model")
        if resp.status_code != 200:
            raise ApiUnavailable(f"model assignment: HTTP {resp.status_code} {_detail(resp)}")
        return ModelAssignment.model_validate_json(resp.content)

    def model_file(self, sha256: str) -> bytes:
        """A registered model's ONNX bytes (the caller checks their sha256)."""
        resp = self._call("GET", f"/api/v1/edge/models/{sha256}")
        if resp.status_code != 200:
            raise ApiRefused(f"model file {sha256[:16]}: HTTP {resp.status_code} {_detail(resp)}")
        return resp.content

    def confirmed(self, result_ids: list[str]) -> set[str]:
        """Which of these results the API has stored (with their images)."""
        return self.confirm(result_ids).stored


def _detail(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:200]
    detail = body.get("detail", body) if isinstance(body, dict) else body
    return str(detail)[:200]
