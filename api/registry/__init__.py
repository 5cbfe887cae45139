"""The model registry over HTTP: versions, and promoting / shadowing / rolling back a station's model."""

from api.registry import routes

ROUTERS = (routes.router,)
