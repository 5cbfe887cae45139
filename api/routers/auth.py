"""Login for the API: username + password -> short-lived bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from api.deps import SessionDep, get_settings
from services.security.service import AuthFailed, issue_token, login

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class TokenRead(BaseModel):
    access_token: str
    token_type: str = "bearer"
    role: str


@router.post("/token")
def token(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep) -> TokenRead:
    """Exchange a username and password for a bearer token (OAuth2 password flow)."""
    try:
        principal = login(session=session, username=form.username, password=form.password)
    except AuthFailed:
        session.commit()  # the failed-login counter must persist, or there is no lockout
        raise
    secret = get_settings(request).secret_key.get_secret_value()
    return TokenRead(access_token=issue_token(principal, secret=secret), role=principal.role.value)
