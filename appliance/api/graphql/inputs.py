"""GraphQL input types made from the domain's own declarations (the search filters), so a
condition is declared once and the API, the HTTP parameters and the domain cannot drift."""

from __future__ import annotations

from dataclasses import MISSING, fields
from datetime import datetime
from typing import Any, TypeVar, get_type_hints

import strawberry

from appliance.services.context import to_utc

D = TypeVar("D")


def input_of(domain: type[Any], name: str, descriptions: dict[str, str] | None = None) -> Any:
    """A strawberry input with the domain dataclass's fields, types and defaults (its enums
    must be strawberry enums already); `descriptions` document fields by attribute name."""
    hints = get_type_hints(domain)
    said = descriptions or {}
    # As a class body would say it: annotations, and a strawberry field per attribute.
    namespace: dict[str, Any] = {"__annotations__": {}, "__module__": __name__}
    for f in fields(domain):
        namespace["__annotations__"][f.name] = hints[f.name]
        namespace[f.name] = strawberry.field(
            default=None if f.default is MISSING else f.default, description=said.get(f.name)
        )
    return strawberry.input(type(name, (), namespace), name=name)


def to_domain(given: object | None, domain: type[D]) -> D:
    """The domain's value from an input made by input_of: blank texts unset, times in UTC."""
    if given is None:
        return domain()
    values: dict[str, Any] = {}
    for f in fields(domain):  # type: ignore[arg-type]
        value = getattr(given, f.name)
        if isinstance(value, str) and not value:
            value = None
        elif isinstance(value, datetime):
            value = to_utc(value)
        values[f.name] = value
    return domain(**values)
