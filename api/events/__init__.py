"""Events out: the pull feed for plant systems, signed picture links, and the webhook subscribers admins manage."""

from api.events import pages, routes

ROUTERS = (routes.router, routes.pictures, pages.router)
