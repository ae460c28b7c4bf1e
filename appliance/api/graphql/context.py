"""Per-request GraphQL context and the permission classes built on it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from strawberry.permission import BasePermission
from strawberry.types import Info

from appliance.api.http.captcha import CaptchaStore
from appliance.services.context import Actor, AppContext


@dataclass
class GqlContext:
    request: Request
    response: Response
    app: AppContext
    captchas: CaptchaStore
    actor: Actor | None
    session_token: str | None


def context_of(info: Info[Any, Any]) -> GqlContext:
    return info.context  # type: ignore[no-any-return]


def actor_of(info: Info[Any, Any]) -> Actor:
    actor = context_of(info).actor
    assert actor is not None, "guarded by IsAuthenticated"
    return actor


class IsAuthenticated(BasePermission):
    """Logged in (session or token) and past the forced change of the default password."""

    message = "not logged in"
    error_extensions = {"code": "UNAUTHENTICATED"}  # noqa: RUF012 - strawberry reads it per instance

    def has_permission(self, source: Any, info: Info[Any, Any], **kwargs: Any) -> bool:
        actor = context_of(info).actor
        if actor is None:
            return False
        if actor.must_change_password:
            self.message = "the password must be changed before anything else"
            self.error_extensions = {"code": "PASSWORD_CHANGE_REQUIRED"}
            return False
        return True


class IsAdmin(IsAuthenticated):
    def has_permission(self, source: Any, info: Info[Any, Any], **kwargs: Any) -> bool:
        if not super().has_permission(source, info, **kwargs):
            return False
        if not actor_of(info).is_admin:
            self.message = "only administrators may do this"
            self.error_extensions = {"code": "FORBIDDEN"}
            return False
        return True
