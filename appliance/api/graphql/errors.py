"""Mapping the appliance's errors to GraphQL: typed results for expected failures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import strawberry
from starlette.concurrency import run_in_threadpool
from strawberry.scalars import JSON
from strawberry.utils.str_converters import to_camel_case

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
    (errors.Busy, "BUSY"),
]


def code_of(exc: errors.ApplianceError) -> str:
    return next((code for cls, code in CODES if isinstance(exc, cls)), "ERROR")


def api_field(field: str | None) -> str | None:
    """The GraphQL name of a field the domain or a service named in its own words: every
    argument and input field here is its Python attribute in camelCase (strawberry's
    naming), so the same conversion gives the name the client sent."""
    return None if field is None else to_camel_case(field)


def refusal_of(exc: errors.ApplianceError) -> tuple[str | None, Any, str | None]:
    """(rule, params, field) of a refusal (the rule is the error's code; GraphQL's `code` is
    the kind of error), the field by its GraphQL name; Nones otherwise."""
    if isinstance(exc, errors.Refusal):
        return exc.code, exc.params, api_field(exc.field)
    return None, None, None


@strawberry.type
class UserError:
    """An expected failure a person can act on."""

    code: str
    message: str
    field: str | None = None
    rule: str | None = strawberry.field(
        default=None,
        description="Which rule refused it (out_of_range, too_short, required, duplicate, ...)",
    )
    params: JSON | None = strawberry.field(
        default=None, description="The rule's values, by name (e.g. min, max, value)"
    )

    @classmethod
    def of(cls, exc: errors.ApplianceError) -> UserError:
        rule, params, field = refusal_of(exc)
        return cls(code=code_of(exc), message=str(exc), field=field, rule=rule, params=params)


@contextmanager
def graphql_errors() -> Iterator[None]:
    """Raise the appliance's errors as GraphQL errors that carry their code (and, for a
    refusal, its rule, params and field)."""
    try:
        yield
    except errors.ApplianceError as exc:
        extensions: dict[str, object] = {"code": code_of(exc)}
        rule, params, field = refusal_of(exc)
        if rule is not None:
            extensions.update(rule=rule, params=params, field=field)
        raise GraphQLError(str(exc), extensions=extensions) from exc


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
