"""The edge's HTTP client to the traceability API: image upload and result confirmation."""

from __future__ import annotations

import httpx


class ApiUnavailable(RuntimeError):
    """The API could not be reached or answered with a server error; try again later."""


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
        if resp.status_code >= 500:
            raise ApiUnavailable(f"{method} {url}: HTTP {resp.status_code}")
        return resp

    def upload_image(self, sha256: str, data: bytes, content_type: str) -> None:
        """PUT the image to the content-addressed store (idempotent)."""
        resp = self._call("PUT", f"/api/v1/edge/images/{sha256}", content=data, headers={"Content-Type": content_type})
        if resp.status_code not in (200, 201, 204):
            raise ValueError(f"image {sha256} refused: HTTP {resp.status_code} {resp.text[:200]}")

    def confirmed(self, result_ids: list[str]) -> set[str]:
        """Which of these results the API has stored (with their images)."""
        out: set[str] = set()
        for i in range(0, len(result_ids), 500):
            chunk = result_ids[i : i + 500]
            resp = self._call("POST", "/api/v1/edge/confirmations", json={"result_ids": chunk})
            if resp.status_code != 200:
                raise ApiUnavailable(f"confirmations: HTTP {resp.status_code} {resp.text[:200]}")
            out.update(resp.json()["stored"])
        return out
