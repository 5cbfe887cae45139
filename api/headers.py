"""Browser hardening headers on every response, and the API docs served from a package (no CDN)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

# No inline script anywhere (the pages load /static/*.js); images may be data: URIs (SVG charts are inline elements).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none';"
    " base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
# What people uploaded (complaint attachments, EL images) is shown, never run: no script, no plugins, no forms.
UPLOAD_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"
_ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def hardened(response: Response, *, https: bool) -> None:
    """Add the headers a response has not set itself (a route may set a stricter or looser CSP of its own)."""
    for name, value in _ALWAYS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Content-Security-Policy", CSP)
    # Pages and JSON are per person: not kept by the browser or a proxy. Images set their own caching.
    response.headers.setdefault("Cache-Control", "no-store")
    if https:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


def install_docs(app: FastAPI) -> None:
    """Swagger UI at /docs with its assets from the swagger-ui-bundle wheel (works offline)."""
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/docs-assets", StaticFiles(directory=str(swagger_ui_path)), name="swagger")

    @app.get("/docs", include_in_schema=False)
    def docs() -> Response:
        page = get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="eltrace API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="data:,",  # no request to fastapi.tiangolo.com
        )
        # Swagger UI starts itself with one inline script: allowed on this page only.
        page.headers["Content-Security-Policy"] = CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")
        return page
