"""Stations and their lines: which devices may publish for which station (admins change them)."""

from api.stations import routes

ROUTERS = (routes.router,)
