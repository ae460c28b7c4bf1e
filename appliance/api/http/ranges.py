"""HTTP Range header parsing (RFC 9110, single range)."""

from __future__ import annotations

import re

from appliance.errors import InvalidInput

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
# No file is 10^18 bytes; longer numbers are refused before int() (which gives up at
# 4300 digits with a ValueError).
MAX_DIGITS = 18


class RangeNotSatisfiable(Exception):
    pass


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end inclusive) of the first range, None for the whole body.

    Multiple ranges are answered with the first one only, which RFC 9110 allows.
    """
    if not header:
        return None
    first = header.split(",")[0].strip()
    match = _RANGE.match(first)
    if not match or (not match.group(1) and not match.group(2)):
        return None  # a malformed Range is ignored, as the RFC says
    start_text, end_text = match.groups()
    if max(len(start_text), len(end_text)) > MAX_DIGITS:
        raise InvalidInput(
            f"Range: a byte position has more than {MAX_DIGITS} digits",
            field="Range",
            code="too_long",
            params={"max": MAX_DIGITS},
        )
    if not start_text:
        length = int(end_text)
        if length == 0 or size == 0:
            raise RangeNotSatisfiable
        return max(0, size - length), size - 1
    start = int(start_text)
    end = int(end_text) if end_text else size - 1
    if start >= size or end < start:
        raise RangeNotSatisfiable
    return start, min(end, size - 1)
