"""The edge devices' HTTP door (results themselves travel through Redis)."""

from api.edge import routes

ROUTERS = (routes.router,)
