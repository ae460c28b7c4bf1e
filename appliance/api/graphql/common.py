"""What every GraphQL module shares: ids, the deletion result, and the typed mutation runner."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import strawberry

from appliance.api.graphql.errors import UserError, attempt
from appliance.errors import ApplianceError, InvalidInput

R = TypeVar("R")
W = TypeVar("W")


def parse_id(raw: strawberry.ID) -> int | None:
    """The number an ID names, or None when it names none (it cannot exist)."""
    text = str(raw)
    return int(text) if text.isdigit() and len(text) < 19 else None


def parse_ids(values: list[strawberry.ID], field: str) -> list[int]:
    """Ids a client refers to; one that names no number is refused on `field`."""
    parsed = [parse_id(v) for v in values]
    if any(p is None for p in parsed):
        raise InvalidInput(f"{field}: not an id", field=field, code="not_an_id")
    return [p for p in parsed if p is not None]


def parse_optional_id(value: strawberry.ID | None, field: str) -> int | None:
    return None if value in (None, "") else parse_ids([value], field)[0]


@strawberry.type
class DeleteResult:
    deleted: int


def deleted_one(_: object) -> DeleteResult:
    return DeleteResult(deleted=1)


async def run(fn: Callable[..., R], wrap: Callable[[R], W], *args: object) -> W | UserError:
    """Run a use case and wrap its answer; expected failures come back as a UserError. An
    argument that is a callable is built first (an input's spec), so its refusal is typed too."""
    try:
        built = [a() if callable(a) else a for a in args]
    except ApplianceError as exc:
        return UserError.of(exc)
    result = await attempt(fn, *built)
    return result if isinstance(result, UserError) else wrap(result)


async def run_on(
    raw_id: strawberry.ID,
    what: str,
    fn: Callable[..., R],
    wrap: Callable[[R], W],
    actor: object,
    *args: object,
) -> W | UserError:
    """run() for a use case on one existing object; an id that cannot exist is NOT_FOUND."""
    target = parse_id(raw_id)
    if target is None:
        return UserError(code="NOT_FOUND", message=f"no such {what}", field="id")
    return await run(fn, wrap, actor, target, *args)
