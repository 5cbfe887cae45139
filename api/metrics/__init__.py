"""Quality figures: the dashboard and complaint PPM."""

from api.metrics import pages, routes

ROUTERS = (
    routes.router,
    pages.router,
)
