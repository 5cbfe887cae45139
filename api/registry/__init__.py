"""The model registry over HTTP: versions, and promoting / shadowing / rolling back a station's model (JSON and page)."""

from api.registry import pages, routes

ROUTERS = (routes.router, pages.router)
