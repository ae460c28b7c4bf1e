"""Reading a selection of recordings from query parameters (ids, or the search's filter)."""

from __future__ import annotations

from datetime import datetime

from starlette.datastructures import QueryParams

from appliance.domain.recordings import RecordingFilter, RecordingKind
from appliance.errors import InvalidInput
from appliance.services.catalogue import Selection
from appliance.services.context import to_utc

_TEXT = {
    "device": "device",
    "tag": "tag",
    "caller": "caller",
    "callee": "callee",
    "callerOrg": "caller_org",
    "calleeOrg": "callee_org",
    "sn": "sn",
}
_INT = {"minDuration": "min_duration", "maxDuration": "max_duration", "score": "score"}
_TIME = {"startedFrom": "started_from", "startedTo": "started_to"}
# The query parameter that carries each attribute of the filter, to name it in a refusal.
PARAMETER_OF = {attr: name for names in (_TEXT, _INT, _TIME) for name, attr in names.items()}


def selection_from_query(params: QueryParams) -> Selection:
    """`ids=1,2,3` selects those; otherwise the filter parameters select what they match."""
    raw_ids = params.get("ids")
    if raw_ids:
        parts = [p.strip() for p in raw_ids.split(",") if p.strip()]
        if not all(p.isdigit() and len(p) < 19 for p in parts):
            raise InvalidInput(
                "ids must be a comma-separated list of recording ids",
                field="ids",
                code="not_an_id",
            )
        return Selection(ids=[int(p) for p in parts])
    values: dict[str, object] = {}
    for name, attr in _TEXT.items():
        if params.get(name):
            values[attr] = params[name]
    for name, attr in _INT.items():
        if params.get(name):
            try:
                values[attr] = int(params[name])
            except ValueError:
                raise InvalidInput(
                    f"{name} must be an integer", field=name, code="not_an_integer"
                ) from None
    for name, attr in _TIME.items():
        if params.get(name):
            try:
                values[attr] = to_utc(datetime.fromisoformat(params[name].replace("Z", "+00:00")))
            except ValueError:
                raise InvalidInput(
                    f"{name} must be an ISO 8601 time", field=name, code="not_a_time"
                ) from None
    kind = params.get("kind", "call").lower()
    try:
        values["kind"] = RecordingKind(kind)
    except ValueError:
        raise InvalidInput(
            "kind must be call or voicemail",
            field="kind",
            code="one_of",
            params={"allowed": [k.value for k in RecordingKind]},
        ) from None
    try:
        return Selection(filter=RecordingFilter(**values).validate())  # type: ignore[arg-type]
    except InvalidInput as exc:
        exc.field = PARAMETER_OF.get(exc.field or "", exc.field)
        raise
