"""The audit trail (read only)."""

from api.audit import pages, routes

ROUTERS = (
    routes.router,
    pages.router,
)
