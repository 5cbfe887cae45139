"""Pages in the reader's language: gettext catalogues under api/locales/, one language per request.

The English text is the message id, so English needs no catalogue. zh_CN is compiled in memory from its
.po file once per process (no compiled .mo in the repository, no build step). The language is the
person's choice (cookie, saved with the user), else the browser's Accept-Language, else the plant's
default (ELTRACE_DEFAULT_LOCALE). `docs/i18n.md` says how to add a string.
"""

from __future__ import annotations

import gettext as _gettext
import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from starlette.types import ASGIApp, Receive, Scope, Send

from api.plant import use_zone
from services.core.i18n import N_, NC_

__all__ = ["N_", "NC_", "gettext", "ngettext", "pgettext", "LocaleMiddleware", "use_locale"]

LOCALE_DIR = Path(__file__).parent / "locales"
# What the language switch offers, each in its own language.
LOCALES: dict[str, str] = {"zh_CN": "中文", "en": "English"}
LANG_COOKIE = "eltrace_lang"
HTML_LANG = {"zh_CN": "zh-CN", "en": "en"}

_active: ContextVar[str] = ContextVar("eltrace_locale", default="en")


@cache
def translations(locale: str) -> _gettext.NullTranslations:
    """The compiled catalogue of a locale (English: the message ids themselves)."""
    po = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if locale == "en" or not po.exists():
        return _gettext.NullTranslations()
    with po.open("rb") as f:
        catalog = read_po(f, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return _gettext.GNUTranslations(buf)


def current_locale() -> str:
    """The language of the request being answered."""
    return _active.get()


def gettext(message: str) -> str:
    """`message` in the request's language."""
    return translations(_active.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for `n`, in the request's language."""
    return translations(_active.get()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """`message` of a vocabulary (`context`, e.g. 'defect'), in the request's language."""
    return translations(_active.get()).pgettext(context, message)


_ = gettext


@contextmanager
def use_locale(locale: str) -> Iterator[None]:
    """Answer in `locale` inside the block (tests, reports rendered outside a request)."""
    token = _active.set(locale if locale in LOCALES else "en")
    try:
        yield
    finally:
        _active.reset(token)


def from_accept_language(header: str) -> str | None:
    """The first supported language the browser asks for (q-values respected), if any."""
    wanted: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")):
        tag, _sep, params = part.strip().partition(";")
        q = 1.0
        for p in params.split(";"):
            key, _eq, value = p.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if tag and q > 0:
            wanted.append((-q, i, tag.strip().lower()))
    for _q, _i, tag in sorted(wanted):
        if tag.startswith("zh"):
            return "zh_CN"
        if tag.startswith("en"):
            return "en"
    return None


def pick_locale(cookie: str | None, accept_language: str | None, default: str) -> str:
    """The person's choice, else the browser's, else the plant's default."""
    if cookie in LOCALES:
        return str(cookie)
    return from_accept_language(accept_language or "") or (default if default in LOCALES else "en")


class LocaleMiddleware:
    """Sets the request's language and plant time zone before any route, dependency or error handler runs."""

    def __init__(self, app: ASGIApp, default: str, plant_timezone: str) -> None:
        self.app = app
        self.default = default
        self.plant_timezone = plant_timezone

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())}
        cookie = None
        for part in headers.get("cookie", "").split(";"):
            name, _eq, value = part.strip().partition("=")
            if name == LANG_COOKIE:
                cookie = value
        locale = pick_locale(cookie, headers.get("accept-language"), self.default)
        scope.setdefault("state", {})["locale"] = locale
        token = _active.set(locale)
        try:
            with use_zone(self.plant_timezone):
                await self.app(scope, receive, send)
        finally:
            _active.reset(token)
