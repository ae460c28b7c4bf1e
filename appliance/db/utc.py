"""Aware UTC datetimes above db/, naive UTC in the tables: the conversion, in one place.

The columns are `TIMESTAMP` without a zone (PostgreSQL) and Pony's text form (SQLite),
both holding UTC. Pony's own datetime converter passes values through as they are, so an
aware value would reach PostgreSQL as a `timestamptz` and be shifted by the session's
time zone, and every value read would come back naive. `use_aware_utc` puts a converter
in front of Pony's that makes every entity attribute and every query parameter of type
datetime aware UTC in Python and naive UTC in the database; `to_db` and `from_db` do the
same for the hand-written SQL in db/.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def to_db(value: datetime) -> datetime:
    """Naive UTC for the tables; a naive value is refused, as nothing above db/ has one."""
    if value.tzinfo is None:
        raise TypeError(f"naive datetime {value.isoformat()} given to the database layer")
    return value.astimezone(UTC).replace(tzinfo=None)


def from_db(value: datetime) -> datetime:
    """Aware UTC from what a table holds (naive UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _aware_utc_converter(base: type[Any]) -> type[Any]:
    """A subclass of the provider's datetime converter that converts at the boundary."""

    class AwareUtcDatetimeConverter(base):
        def validate(self, val: Any, obj: Any = None) -> datetime:
            checked: datetime = super().validate(val, obj)
            if checked.tzinfo is None:
                raise TypeError(f"{self.attr or 'parameter'}: naive datetime {checked.isoformat()}")
            return checked.astimezone(UTC)

        def py2sql(self, val: datetime) -> Any:
            return super().py2sql(to_db(val))

        def sql2py(self, val: Any) -> Any:
            read = super().sql2py(val)
            return from_db(read) if isinstance(read, datetime) else read

    return AwareUtcDatetimeConverter


def use_aware_utc(provider: Any) -> None:
    """Give a bound Pony provider the aware-UTC datetime converter (before the mapping is
    generated, when the attributes take their converters); doing it twice is harmless."""
    classes = list(provider.converter_classes)
    for i, (py_type, converter) in enumerate(classes):
        if py_type is datetime and not getattr(converter, "aware_utc", False):
            wrapped = _aware_utc_converter(converter)
            wrapped.aware_utc = True
            classes[i] = (py_type, wrapped)
    provider.converter_classes = classes
