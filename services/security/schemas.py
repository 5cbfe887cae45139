"""What signing in returns."""

from __future__ import annotations

from pydantic import BaseModel


class TokenRead(BaseModel):
    """A bearer token and the role it carries."""

    access_token: str
    token_type: str = "bearer"
    role: str
