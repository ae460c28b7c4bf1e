"""Calls being captured now (the live view)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from appliance.api.graphql.context import IsAuthenticated, actor_of
from appliance.api.graphql.errors import call
from appliance.services import active_calls
from appliance.services.active_calls import ActiveCallView


@strawberry.type
class ActiveCall:
    id: strawberry.ID
    device: str
    caller: str
    callee: str
    started_at: datetime
    seconds: int = strawberry.field(description="Seconds recorded so far")

    @classmethod
    def of(cls, v: ActiveCallView) -> ActiveCall:
        return cls(
            id=strawberry.ID(v.call_key),
            device=v.device,
            caller=v.caller,
            callee=v.callee,
            started_at=v.started_at,
            seconds=v.seconds,
        )


@strawberry.type
class CaptureQueries:
    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="Calls being captured now, within the caller's scope",
    )
    async def active_calls(self, info: Info) -> list[ActiveCall]:
        return [ActiveCall.of(v) for v in await call(active_calls.visible, actor_of(info))]
