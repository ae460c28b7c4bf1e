"""Small helpers for JSON errors and the user-facing HTTP endpoints."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from appliance.api.http.auth import resolve_actor
from appliance.services.context import Actor


def error(status: int, message: str, **extra: object) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


async def require_user(request: Request) -> Actor | JSONResponse:
    """The logged-in actor, or the JSON error response to send instead."""
    actor, _ = await resolve_actor(request)
    if actor is None:
        return error(401, "not logged in, or the token is not valid")
    if actor.must_change_password:
        return error(403, "the password must be changed before anything else")
    return actor
