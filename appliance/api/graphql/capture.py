"""Calls being captured now (the live view)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry
from strawberry.types import Info

from appliance.api.graphql.context import IsAuthenticated, actor_of
from appliance.api.graphql.errors import call
from appliance.api.graphql.watch import SharedPoll, follow
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


# Every 0.25 s while someone subscribes: a call shows within the second (the capture writes
# its row within milliseconds of the INVITE and of the BYE).
ACTIVE_CALLS = SharedPoll(active_calls.state, 0.25)


def _same_calls(a: list[ActiveCallView], b: list[ActiveCallView]) -> bool:
    """Equal but for the seconds, which grow on their own (the console counts them)."""
    return [(v.call_key, v.device, v.caller, v.callee) for v in a] == [
        (v.call_key, v.device, v.caller, v.callee) for v in b
    ]


@strawberry.type
class CaptureSubscriptions:
    @strawberry.subscription(
        permission_classes=[IsAuthenticated],
        description="Calls being captured now, within the subscriber's scope: at once, then "
        "each time they change",
    )
    async def active_calls(self, info: Info) -> AsyncGenerator[list[ActiveCall], None]:
        actor = actor_of(info)

        async def view() -> list[ActiveCallView]:
            return await call(active_calls.visible, actor)

        async for views in follow(ACTIVE_CALLS, view, _same_calls):
            yield [ActiveCall.of(v) for v in views]
