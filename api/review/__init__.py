"""The EL review: the station page and its API."""

from api.review import pages, routes

ROUTERS = (
    routes.router,
    pages.router,
)
