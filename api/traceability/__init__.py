"""Production context imports and the containment query."""

from api.traceability import pages, routes

ROUTERS = (
    routes.router,
    pages.router,
)
