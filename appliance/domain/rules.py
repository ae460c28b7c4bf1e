"""The common rules of input (a length, a range), refused with their code and numbers."""

from __future__ import annotations

from collections.abc import Sized

from appliance.errors import InvalidInput


def check_length(field: str, value: str, max_length: int, label: str | None = None) -> str:
    """A text of 1 to max_length characters: missing is `required`, longer `too_long`."""
    label = label or field
    if not value:
        raise InvalidInput(f"{label} is required", field=field, code="required")
    if len(value) > max_length:
        raise InvalidInput(
            f"{label}: at most {max_length} characters",
            field=field,
            code="too_long",
            params={"max": max_length},
        )
    return value


def check_range(field: str, value: int, low: int, high: int) -> int:
    """A whole number within low..high (both included)."""
    if not low <= value <= high:
        raise InvalidInput(
            f"{field} must be between {low} and {high}, got {value}",
            field=field,
            code="out_of_range",
            params={"min": low, "max": high, "value": value},
        )
    return value


def check_count(field: str, items: Sized, max_count: int) -> None:
    """At most max_count items at once (recipients, receivers, users)."""
    if len(items) > max_count:
        raise InvalidInput(
            f"{field}: at most {max_count} at once",
            field=field,
            code="too_many",
            params={"max": max_count},
        )


def check_page(page: int, page_size: int, max_page_size: int) -> None:
    """A list's page (from 1) and page size (1 to max_page_size)."""
    if page < 1 or not 1 <= page_size <= max_page_size:
        bad = "page" if page < 1 else "page_size"
        raise InvalidInput(
            f"page must be >= 1 and pageSize 1..{max_page_size}",
            field=bad,
            code="out_of_range",
            params={
                "min": 1,
                "max": None if bad == "page" else max_page_size,
                "value": page if bad == "page" else page_size,
            },
        )
