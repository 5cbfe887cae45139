"""Walk every route of the app, whichever way the installed FastAPI nests included routers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from api.limits import leaf_routes

# Public on purpose: health, the two ways to sign in (and out), the API docs, the stylesheet.
PUBLIC = {
    "/healthz",
    "/readyz",
    "/api/v1/auth/token",
    "/login",
    "/logout",
    "/language",  # the language switch: also on the sign-in page; CSRF-checked, saves to the user only when signed in
    "/static",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/docs-assets",
    "/redoc",
    "/api/v1/pictures/{sha256}",  # the signed link is the credential (events point to pictures with it)
}


def iter_routes(routes: list[Any]) -> Iterator[Any]:
    """Leaf routes (objects with .path, .methods and, for API routes, .dependant): the walk the body caps use."""
    return leaf_routes(routes)


def dependency_calls(dependant: Any) -> Iterator[Any]:
    """Every callable in a route's dependency tree."""
    for dep in dependant.dependencies:
        if dep.call is not None:
            yield dep.call
        yield from dependency_calls(dep)
