"""Complaints and 8D cases (JSON, pages, the customer report)."""

from api.complaints import pages, routes

ROUTERS = (
    routes.router,
    pages.router,
)
