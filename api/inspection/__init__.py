"""Inspections, modules, images and the shift calendar."""

from api.inspection import pages, routes

ROUTERS = (
    routes.router,
    pages.router,
)
