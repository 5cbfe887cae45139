"""Liveness and readiness (the only routes without authentication)."""

from api.health import routes

ROUTERS = (routes.router,)
