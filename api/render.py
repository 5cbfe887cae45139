"""The one render helper of the pages, and their error story (post / redirect / get back with the reason)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from api import i18n
from api.csrf import csrf_token, set_csrf_cookie
from api.plant import plant_time, plant_zone_label
from api.words import error_text, word
from services.complaints.schemas import CaseStatus, DisciplineStatus, Severity
from services.contracts import CellDecision, Verdict
from services.core.errors import DomainError
from services.core.time import utcnow
from services.inspection.schemas import ModuleStatus
from services.metrics.schemas import PPM_GROUPS
from services.registry.schemas import Role as ModelRole
from services.rework.schemas import HoldOutcome, HoldSource, StationState
from services.security.service import Role

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.add_extension("jinja2.ext.i18n")
# gettext in templates reads the request's language (api.i18n sets it before the route runs).
templates.env.install_gettext_callables(  # type: ignore[attr-defined]
    i18n.gettext, i18n.ngettext, newstyle=True, pgettext=i18n.pgettext
)


def pct(share: float | None, digits: int = 1) -> str:
    """A share in [0, 1] as a percentage for people ("12.5 %"); a missing one as a dash."""
    return "—" if share is None else f"{share * 100:.{digits}f} %"


templates.env.filters["word"] = word
templates.env.filters["plant"] = plant_time
templates.env.filters["pct"] = pct
# Templates compare with the vocabularies, never with string literals: a renamed value fails loudly here.
templates.env.globals.update(
    CaseStatus=CaseStatus,
    CellDecision=CellDecision,
    DisciplineStatus=DisciplineStatus,
    HoldOutcome=HoldOutcome,
    HoldSource=HoldSource,
    ModuleStatus=ModuleStatus,
    ModelRole=ModelRole,
    PPM_GROUPS=PPM_GROUPS,
    Role=Role,
    Severity=Severity,
    StationState=StationState,
    Verdict=Verdict,
    LOCALES=i18n.LOCALES,
    HTML_LANG=i18n.HTML_LANG,
)


def render(request: Request, name: str, status: int = 200, **ctx: object) -> Response:
    """A page from templates/ with the CSRF token for its forms (and the cookie that goes with it)."""
    ctx.setdefault("user", getattr(request.state, "principal", None))
    ctx.setdefault("locale", i18n.current_locale())
    ctx.setdefault("plant_zone", plant_zone_label())
    ctx.setdefault("printed_at", plant_time(utcnow()))
    response = templates.TemplateResponse(request, name, {"csrf": csrf_token(request), **ctx}, status_code=status)
    set_csrf_cookie(request, response, secure=request.app.state.settings.profile == "production")
    return response


def back_url(path: str, detail: str, anchor: str = "") -> str:
    """The page URL with the reason nothing was saved (shown by the page's error banner)."""
    sep = "&" if "?" in path else "?"
    return f"{path}{sep}{urlencode({'error': detail})}{'#' + anchor if anchor else ''}"


def back_with_error(path: str, detail: str, anchor: str = "") -> Response:
    """Post / redirect / get: back to the page, which shows why nothing was saved."""
    return RedirectResponse(back_url(path, detail, anchor), status_code=303)


class PageBack(Exception):
    """A page's form post was refused: go back to `path` and say why (the request's transaction rolls back)."""

    def __init__(self, path: str, detail: str, anchor: str = "") -> None:
        super().__init__(detail)
        self.url = back_url(path, detail, anchor)


@contextmanager
def back_on_error(path: str, anchor: str = "", prefix: str = "") -> Iterator[None]:
    """Around a page's state change: a DomainError becomes a redirect back to `path` with its reason.

    The exception leaves the handler, so the request's transaction is rolled back (nothing of a
    refused change stays) before the redirect is sent.
    """
    try:
        yield
    except DomainError as exc:
        raise PageBack(path, f"{prefix}{error_text(exc)}", anchor) from exc
