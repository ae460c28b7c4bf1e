"""A domain filter read from query parameters named as the API names its fields (camelCase),
typed by the domain's own declaration: one list of conditions for GraphQL and HTTP alike."""

from __future__ import annotations

from dataclasses import fields
from datetime import date, datetime
from enum import Enum
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from starlette.datastructures import QueryParams

from appliance.errors import InvalidInput
from appliance.services.context import to_utc

D = TypeVar("D")


def parameter_of(attribute: str) -> str:
    """The query parameter (the API's camelCase name) of a domain attribute."""
    head, *rest = attribute.split("_")
    return head + "".join(word.capitalize() for word in rest)


def _bare(hint: Any) -> Any:
    """X from `X | None`."""
    if get_origin(hint) in (Union, UnionType):
        return next(a for a in get_args(hint) if a is not type(None))
    return hint


def filter_from_query(domain: type[D], params: QueryParams) -> D:
    """The domain filter the given parameters describe; absent or blank ones keep the
    domain's default. A value of the wrong form is refused on its parameter's name."""
    hints = get_type_hints(domain)
    values: dict[str, Any] = {}
    for f in fields(domain):  # type: ignore[arg-type]
        name = parameter_of(f.name)
        raw = params.get(name)
        if not raw:
            continue
        kind = _bare(hints[f.name])
        if kind is int:
            try:
                values[f.name] = int(raw)
            except ValueError:
                raise InvalidInput(
                    f"{name} must be an integer", field=name, code="not_an_integer"
                ) from None
        elif kind is datetime:
            try:
                values[f.name] = to_utc(datetime.fromisoformat(raw.replace("Z", "+00:00")))
            except ValueError:
                raise InvalidInput(
                    f"{name} must be an ISO 8601 time", field=name, code="not_a_time"
                ) from None
        elif kind is date:
            try:
                values[f.name] = date.fromisoformat(raw)
            except ValueError:
                raise InvalidInput(
                    f"{name} must be a date (YYYY-MM-DD)", field=name, code="not_a_date"
                ) from None
        elif kind is bool:
            if raw not in ("true", "false"):
                raise InvalidInput(
                    f"{name} must be true or false",
                    field=name,
                    code="one_of",
                    params={"allowed": ["true", "false"]},
                )
            values[f.name] = raw == "true"
        elif isinstance(kind, type) and issubclass(kind, Enum):
            allowed = [str(k.value) for k in kind]
            try:
                values[f.name] = kind(raw) if raw in allowed else kind(raw.lower())
            except ValueError:
                raise InvalidInput(
                    f"{name} must be {' or '.join(allowed)}",
                    field=name,
                    code="one_of",
                    params={"allowed": allowed},
                ) from None
        else:
            values[f.name] = raw
    return domain(**values)
