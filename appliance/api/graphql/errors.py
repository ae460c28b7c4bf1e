"""Mapping the appliance's errors to GraphQL: typed results for expected failures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import strawberry
from starlette.concurrency import run_in_threadpool

from appliance import errors
from graphql import GraphQLError

T = TypeVar("T")

CODES: list[tuple[type[errors.ApplianceError], str]] = [
    (errors.InvalidInput, "INVALID_INPUT"),
    (errors.NotFound, "NOT_FOUND"),
    (errors.Conflict, "CONFLICT"),
    (errors.PermissionDenied, "FORBIDDEN"),
    (errors.AccountLocked, "ACCOUNT_LOCKED"),
    (errors.CaptchaFailed, "CAPTCHA_FAILED"),
    (errors.PasswordChangeRequired, "PASSWORD_CHANGE_REQUIRED"),
    (errors.AuthError, "UNAUTHENTICATED"),
    (errors.StorageError, "STORAGE_ERROR"),
]


def code_of(exc: errors.ApplianceError) -> str:
    return next((code for cls, code in CODES if isinstance(exc, cls)), "ERROR")


@strawberry.type
class UserError:
    """An expected failure a person can act on."""

    code: str
    message: str
    field: str | None = None

    @classmethod
    def of(cls, exc: errors.ApplianceError) -> UserError:
        return cls(code=code_of(exc), message=str(exc), field=getattr(exc, "field", None))


@contextmanager
def graphql_errors() -> Iterator[None]:
    """Raise the appliance's errors as GraphQL errors that carry their code."""
    try:
        yield
    except errors.ApplianceError as exc:
        raise GraphQLError(str(exc), extensions={"code": code_of(exc)}) from exc


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a synchronous use case in the thread pool; raise its errors as GraphQL errors."""
    with graphql_errors():
        return await run_in_threadpool(fn, *args, **kwargs)


async def attempt(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | UserError:
    """Like call(), but expected failures come back as a UserError value."""
    try:
        return await run_in_threadpool(fn, *args, **kwargs)
    except errors.ApplianceError as exc:
        return UserError.of(exc)


def should_mask(error: GraphQLError) -> bool:
    """Hide the text of unexpected exceptions; ours and GraphQL's own are shown."""
    original = error.original_error
    if original is None or isinstance(original, errors.ApplianceError | GraphQLError):
        return False
    return not type(original).__module__.startswith("strawberry")
