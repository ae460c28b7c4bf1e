"""Recording sources: the push and pull device lists of the settings page."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from appliance.api.graphql.common import DeleteResult, parse_id
from appliance.api.graphql.context import IsAdmin, actor_of, context_of
from appliance.api.graphql.errors import UserError, attempt, call
from appliance.domain.devices import DeviceMode, DeviceSpec, IntervalUnit, PullProtocol
from appliance.services import devices
from appliance.services.devices import DeviceView

DeviceModeType = strawberry.enum(DeviceMode, name="DeviceMode")
PullProtocolType = strawberry.enum(PullProtocol, name="PullProtocol")
IntervalUnitType = strawberry.enum(IntervalUnit, name="IntervalUnit")


@strawberry.type
class Device:
    id: strawberry.ID
    alias: str
    mode: DeviceModeType  # type: ignore[valid-type]
    address: str
    cache_address: str
    pullback_hours: int
    pull_protocol: PullProtocolType | None  # type: ignore[valid-type]
    pull_path: str
    pull_username: str
    pull_interval: int
    pull_interval_unit: IntervalUnitType  # type: ignore[valid-type]
    last_success_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, v: DeviceView) -> Device:
        return cls(
            id=strawberry.ID(str(v.id)),
            alias=v.alias,
            mode=v.mode,
            address=v.address,
            cache_address=v.cache_address,
            pullback_hours=v.pullback_hours,
            pull_protocol=v.pull_protocol,
            pull_path=v.pull_path,
            pull_username=v.pull_username,
            pull_interval=v.pull_interval,
            pull_interval_unit=v.pull_interval_unit,
            last_success_at=v.last_success_at,
            created_at=v.created_at,
        )


@strawberry.input
class DeviceInput:
    alias: str
    address: str
    secret: str = strawberry.field(description="Empty on update keeps the current secret")
    mode: DeviceModeType  # type: ignore[valid-type]
    cache_address: str = ""
    pullback_hours: int = 1
    pull_protocol: PullProtocolType | None = None  # type: ignore[valid-type]
    pull_path: str = ""
    pull_username: str = ""
    pull_interval: int = 1
    pull_interval_unit: IntervalUnitType = IntervalUnit.DAY  # type: ignore[valid-type]

    def to_spec(self) -> DeviceSpec:
        return DeviceSpec(
            alias=self.alias.strip(),
            mode=self.mode,
            address=self.address.strip(),
            secret=self.secret,
            cache_address=self.cache_address.strip(),
            pullback_hours=self.pullback_hours,
            pull_protocol=self.pull_protocol,
            pull_path=self.pull_path.strip(),
            pull_username=self.pull_username.strip(),
            pull_interval=self.pull_interval,
            pull_interval_unit=self.pull_interval_unit,
        )


DeviceResult = Annotated[Device | UserError, strawberry.union("DeviceResult")]


@strawberry.type
class DeviceQueries:
    @strawberry.field(permission_classes=[IsAdmin], description="Administrators only")
    async def devices(
        self,
        info: Info,
        mode: DeviceModeType | None = None,  # type: ignore[valid-type]
    ) -> list[Device]:
        found = await call(devices.list_devices, actor_of(info), mode)
        return [Device.of(v) for v in found]


@strawberry.type
class DeviceMutations:
    @strawberry.mutation(permission_classes=[IsAdmin])
    async def create_device(self, info: Info, input: DeviceInput) -> DeviceResult:
        ctx = context_of(info)
        result = await attempt(devices.create, actor_of(info), input.to_spec(), ctx.app.master)
        return result if isinstance(result, UserError) else Device.of(result)

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def update_device(
        self, info: Info, id: strawberry.ID, input: DeviceInput
    ) -> DeviceResult:
        device_id = parse_id(id)
        if device_id is None:
            return UserError(code="NOT_FOUND", message="no such device", field="id")
        ctx = context_of(info)
        spec = input.to_spec()
        result = await attempt(devices.update, actor_of(info), device_id, spec, ctx.app.master)
        return result if isinstance(result, UserError) else Device.of(result)

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def delete_device(self, info: Info, id: strawberry.ID) -> DeleteResult:
        device_id = parse_id(id)
        if device_id is not None:
            await call(devices.delete, actor_of(info), device_id)
            return DeleteResult(deleted=1)
        return DeleteResult(deleted=0)
