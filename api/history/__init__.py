"""A module's whole record (JSON and its page)."""

from api.history import pages, routes

ROUTERS = (
    routes.router,
    pages.router,
)
