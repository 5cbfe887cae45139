"""The rework loop: station, dispositions, holds."""

from api.rework import pages, routes

ROUTERS = (
    routes.router,
    pages.router,
)
