"""Bearer tokens of the push API and their scopes (see :mod:`services.common.auth`). Pure."""

from __future__ import annotations

from services.common.auth import ApiToken, Scope, find_token

__all__ = ["ApiToken", "Scope", "find_token"]
