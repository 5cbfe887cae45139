"""Signing in: the API's bearer token and the pages' cookie session."""

from api.auth import pages, routes

ROUTERS = (
    routes.router,
    pages.router,
)
