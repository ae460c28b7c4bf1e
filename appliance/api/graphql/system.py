"""System information shown from the top-right menu."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from appliance.api.graphql.context import IsAuthenticated, context_of
from appliance.api.graphql.errors import call
from appliance.services import system


@strawberry.type
class Component:
    name: str
    version: str


@strawberry.type
class SystemInfo:
    version: str
    components: list[Component]
    max_concurrent_channels: int
    device_count: int
    machine_id: str
    time_zone: str = strawberry.field(
        description="The appliance's IANA time zone: SNs, file names and the console's times follow it"
    )


@strawberry.type
class SystemQueries:
    @strawberry.field(permission_classes=[IsAuthenticated])
    async def system_info(self, info: Info) -> SystemInfo:
        s = await call(system.info, context_of(info).app)
        return SystemInfo(
            version=s.version,
            components=[Component(name=n, version=v) for n, v in s.components],
            max_concurrent_channels=s.max_concurrent_channels,
            device_count=s.device_count,
            machine_id=s.machine_id,
            time_zone=s.time_zone,
        )
