"""Bearer tokens of the push API and their scopes. Pure."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

Scope = Literal["push", "read"]


class ApiToken(BaseModel):
    """A bearer token with the scopes it grants (``push`` items, ``read`` feed status)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    token: SecretStr = Field(min_length=16)
    scopes: frozenset[Scope] = frozenset({"push"})


def find_token(tokens: Sequence[ApiToken], authorization: str | None) -> ApiToken | None:
    """The token named by an ``Authorization: Bearer`` header, compared in constant time."""
    if not authorization:
        return None
    scheme, _, presented = authorization.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return None
    given = presented.strip().encode()
    found = None
    for token in tokens:  # compare with every token, so timing does not tell which one matched
        if hmac.compare_digest(token.token.get_secret_value().encode(), given):
            found = token
    return found
