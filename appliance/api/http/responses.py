"""Small helpers for JSON errors and the user-facing HTTP endpoints."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from appliance import errors
from appliance.api.http.auth import resolve_actor
from appliance.services.context import Actor

STATUS: list[tuple[type[errors.ApplianceError], int]] = [
    (errors.InvalidInput, 400),
    (errors.NotFound, 404),
    (errors.PermissionDenied, 403),
    (errors.AuthError, 401),
    (errors.Conflict, 409),
    (errors.StorageFull, 507),
    (errors.IntegrityError, 500),
    (errors.StorageError, 503),
    (errors.Busy, 503),
]
# Which failure it was, for clients that act on it (the message is for people).
CODES: list[tuple[type[errors.ApplianceError], str]] = [
    (errors.StorageFull, "STORAGE_FULL"),
    (errors.IntegrityError, "INTEGRITY_ERROR"),
    (errors.StorageError, "STORAGE_ERROR"),
    (errors.Busy, "BUSY"),
]


def error(status: int, message: str, **extra: object) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


class NotSignedIn(Exception):
    """Raised by require_user; the app answers with the response it carries."""

    def __init__(self, response: JSONResponse) -> None:
        super().__init__(response.status_code)
        self.response = response


async def require_user(request: Request) -> Actor:
    """The signed-in actor past the forced password change; else raises NotSignedIn."""
    actor, _ = await resolve_actor(request)
    if actor is None:
        raise NotSignedIn(error(401, "not logged in, or the token is not valid"))
    if actor.must_change_password:
        raise NotSignedIn(error(403, "the password must be changed before anything else"))
    return actor


async def not_signed_in(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NotSignedIn)
    return exc.response


async def appliance_error(request: Request, exc: Exception) -> JSONResponse:
    """The one mapping of the appliance's errors to HTTP statuses for every endpoint."""
    assert isinstance(exc, errors.ApplianceError)
    return error_of(exc)


def error_of(exc: errors.ApplianceError) -> JSONResponse:
    """The JSON error for one of the appliance's errors (storage ones say no path)."""
    status = next((code for cls, code in STATUS if isinstance(exc, cls)), 500)
    extra: dict[str, object] = {"field": getattr(exc, "field", None)}
    code = next((c for cls, c in CODES if isinstance(exc, cls)), None)
    if code:
        extra["code"] = code
    if isinstance(exc, errors.Refusal):
        # The field is already the HTTP parameter's name: the handler that read the
        # parameters renamed it (selection_from_query), or the domain's name is the
        # parameter's (the upload's snake_case form fields).
        extra["rule"] = exc.code
        extra["params"] = exc.params
    response = error(status, str(exc), **extra)
    if isinstance(exc, errors.Busy):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response
