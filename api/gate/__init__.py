"""The gate the MES asks before each production step."""

from api.gate import routes

ROUTERS = (routes.router,)
