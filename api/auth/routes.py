"""Signing in over the API: username + password -> a short-lived bearer token (and the shared login throttle)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import ERRORS, AnyPerson, ErrorRead, SessionDep, get_settings
from services.security.schemas import TokenRead
from services.security.service import AuthFailed, check_address, failed_from, issue_token, login, sign_out

router = APIRouter(prefix="/api/v1/auth", tags=["auth"], responses={**ERRORS, 429: {"model": ErrorRead}})


@router.post("/token")
def token(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep) -> TokenRead:
    """Exchange a username and password for a bearer token (OAuth2 password flow)."""
    addr = request.client.host if request.client else "unknown"
    check_address(session=session, address=addr)
    try:
        principal = login(session=session, username=form.username, password=form.password)
    except AuthFailed:
        failed_from(session=session, address=addr)
        session.commit()  # the failure counts must persist, or there is no throttle and no wait
        raise
    settings = get_settings(request)
    token = issue_token(principal, secret=settings.secret_key.get_secret_value(), ttl=settings.token_ttl)
    return TokenRead(access_token=token, role=principal.role.value)


@router.post("/logout", status_code=204, response_class=Response)
def logout(request: Request, session: SessionDep, p: AnyPerson, everywhere: Annotated[bool, Query()] = False) -> Response:
    """End this token now (`everywhere`: every token of this person, on every device)."""
    secret = get_settings(request).secret_key.get_secret_value()
    sign_out(session=session, token=request.state.token, secret=secret, everywhere=everywhere)
    return Response(status_code=204)
