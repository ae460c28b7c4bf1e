"""The event log, live, for administrators (what alarms will later push to every page)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from appliance.api.graphql.context import IsAdmin, actor_of
from appliance.api.graphql.errors import call
from appliance.api.graphql.watch import SharedPoll
from appliance.domain.events import Event
from appliance.services import events


@strawberry.type(name="Event")
class EventEntry:
    id: int = strawberry.field(description="Rises in commit order; resume after it")
    at: datetime
    kind: str = strawberry.field(description="What changed, e.g. device.deleted")
    process: str = strawberry.field(description="The process that wrote it, e.g. api@host:1234")
    actor: str = strawberry.field(description="The acting login, or system")
    params: JSON

    @classmethod
    def of(cls, e: Event) -> EventEntry:
        return cls(
            id=e.id, at=e.at, kind=e.kind, process=e.process, actor=e.actor, params=JSON(e.params)
        )


# One read of the newest id per API process every 0.5 s while someone subscribes; each
# subscriber then reads only what is new to it.
NEWEST_EVENT = SharedPoll(events.latest_id, 0.5)


@strawberry.type
class EventSubscriptions:
    @strawberry.subscription(
        permission_classes=[IsAdmin],
        description="Each change in the appliance as it commits, oldest first: those after "
        "`after` (an id already seen, to resume), else only those to come",
    )
    async def events(
        self, info: Info, after: int | None = None
    ) -> AsyncGenerator[EventEntry, None]:
        actor = actor_of(info)
        last = after if after is not None else await call(events.latest_id)
        async for _ in NEWEST_EVENT.changes():
            while True:
                batch = await call(events.seen_by, actor, last)
                for entry in batch:
                    yield EventEntry.of(entry)
                if batch:
                    last = batch[-1].id
                if len(batch) < events.BATCH:
                    break
