"""One domain error family: a stable code and an HTTP status for each."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every expected failure; rendered as {"error": code, "detail": ...}."""

    code = "domain_error"
    status = 400

    def __init__(self, detail: str, **params: object) -> None:
        """`detail` in English; marked with N_() and with %(name)s placeholders filled from `params`, the
        pages can say it in the reader's language (the API's JSON keeps the English text)."""
        self.template = detail
        self.params = params
        self.detail = detail % params if params else detail
        super().__init__(self.detail)


class NotFound(DomainError):
    """The thing asked for does not exist."""

    code = "not_found"
    status = 404


class Conflict(DomainError):
    """The change clashes with the current state."""

    code = "conflict"
    status = 409


class InvalidInput(DomainError):
    """Input the domain cannot accept (beyond payload validation)."""

    code = "invalid_input"
    status = 400


class PayloadTooLarge(DomainError):
    """Body or upload over the configured cap."""

    code = "payload_too_large"
    status = 413


class Forbidden(DomainError):
    """Authenticated, but this person may not do this (a role, or someone else's work)."""

    code = "forbidden"
    status = 403
