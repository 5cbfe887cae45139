"""Body caps, declared by the route that takes a large body and enforced before the body is read.

Every route gets ApiSettings.max_json_bytes; a route marked @takes_upload("max_upload_bytes") gets that
setting instead, so raising a setting raises exactly the caps of the routes that name it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from fastapi import FastAPI, HTTPException, Request
from starlette.routing import Match

F = TypeVar("F", bound=Callable[..., Any])
CAP_ATTR = "eltrace_body_cap_setting"


def takes_upload(setting: str) -> Callable[[F], F]:
    """Mark a route whose body may be as large as the ApiSettings field `setting` (put it under @router.post)."""

    def mark(fn: F) -> F:
        setattr(fn, CAP_ATTR, setting)
        return fn

    return mark


def body_cap(app: FastAPI, request: Request) -> int:
    """The cap on the request's body: the matching upload route's setting, else the JSON cap."""
    settings = app.state.settings
    for route in upload_routes(app):
        match, _ = route.matches(request.scope)
        if match is Match.FULL:
            return int(getattr(settings, getattr(route.endpoint, CAP_ATTR)))
    return int(settings.max_json_bytes)


def leaf_routes(routes: Iterable[Any]) -> Iterator[Any]:
    """Every leaf route: FastAPI may keep included routers as nodes (effective_candidates) instead of copying their routes."""
    for r in routes:
        if hasattr(r, "effective_candidates"):
            yield from leaf_routes(r.effective_candidates())
        else:
            yield r


def upload_routes(app: FastAPI) -> list[Any]:
    """The routes marked with takes_upload (computed once per app)."""
    cached: list[Any] | None = getattr(app.state, "upload_routes", None)
    if cached is None:
        cached = [r for r in leaf_routes(app.routes) if hasattr(getattr(r, "endpoint", None), CAP_ATTR)]
        app.state.upload_routes = cached
    return cached


class BodyCap:
    """ASGI middleware: the route's cap on the bytes actually received, not only on a declared Content-Length.

    A chunked body (no Content-Length) used to be read whole before the route could refuse it, even
    before authentication: 100 MiB doubled the API's memory. Now the read stops at the cap with 413.
    """

    def __init__(self, app: Any, *, api: FastAPI) -> None:
        self.app = app
        self.api = api

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Any], send: Callable[[Any], Any]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = body_cap(self.api, Request(scope))
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > cap:
            await _too_large(send, cap)
            return
        received = 0

        async def capped() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    # An HTTPException passes FastAPI's body parsing as it is (other errors become a 400).
                    raise HTTPException(413, f"body over {cap} bytes")
            return message

        await self.app(scope, capped, send)


async def _too_large(send: Callable[[Any], Any], cap: int) -> None:
    body = json.dumps({"error": "payload_too_large", "detail": f"body over {cap} bytes"}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
