"""Reading a selection of recordings from query parameters (ids, or the search's filter)."""

from __future__ import annotations

from starlette.datastructures import QueryParams

from appliance.api.http.query import filter_from_query, parameter_of
from appliance.domain.recordings import RecordingFilter
from appliance.errors import InvalidInput
from appliance.services.catalogue import Selection


def selection_from_query(params: QueryParams) -> Selection:
    """`ids=1,2,3` selects those; otherwise the filter parameters select what they match."""
    raw_ids = params.get("ids")
    if raw_ids:
        parts = [p.strip() for p in raw_ids.split(",") if p.strip()]
        # isdigit() alone takes "²" and "①" (int() refuses them) and other scripts' digits.
        if not all(p.isascii() and p.isdigit() and len(p) < 19 for p in parts):
            raise InvalidInput(
                "ids must be a comma-separated list of recording ids",
                field="ids",
                code="not_an_id",
            )
        return Selection(ids=[int(p) for p in parts])
    chosen = filter_from_query(RecordingFilter, params)
    try:
        return Selection(filter=chosen.validate())
    except InvalidInput as exc:
        exc.field = parameter_of(exc.field) if exc.field else None
        raise
