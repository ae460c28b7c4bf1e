"""The recording settings page ("录音设置")."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from appliance.api.graphql.context import IsAdmin, actor_of
from appliance.api.graphql.errors import UserError, attempt, call
from appliance.domain import settings as domain
from appliance.services import settings as service

FileFormatType = strawberry.enum(domain.FileFormat, name="FileFormat")
ChannelModeType = strawberry.enum(domain.ChannelMode, name="ChannelMode")
UnknownSourceType = strawberry.enum(domain.UnknownSourcePolicy, name="UnknownSourcePolicy")


@strawberry.type
class Settings:
    file_format: FileFormatType  # type: ignore[valid-type]
    log_level: int
    sip_port: int
    log_retention_days: int
    mixing_gain: int
    channel_mode: ChannelModeType  # type: ignore[valid-type]
    encryption: bool
    show_zero_duration: bool
    disk_usage_limit: int
    unknown_push_source: UnknownSourceType  # type: ignore[valid-type]
    rtp_port_min: int
    rtp_port_max: int
    rtp_timeout_seconds: int
    time_zone: str = strawberry.field(
        description="The appliance's IANA time zone (e.g. Asia/Shanghai): SNs, file names, "
        "report times and schedules follow it."
    )

    @classmethod
    def of(cls, s: domain.Settings) -> Settings:
        return cls(**{f: getattr(s, f) for f in cls.__annotations__})


@strawberry.input
class SettingsInput:
    """Only the fields given are changed."""

    file_format: FileFormatType | None = None  # type: ignore[valid-type]
    log_level: int | None = None
    sip_port: int | None = None
    log_retention_days: int | None = None
    mixing_gain: int | None = None
    channel_mode: ChannelModeType | None = None  # type: ignore[valid-type]
    encryption: bool | None = None
    show_zero_duration: bool | None = None
    disk_usage_limit: int | None = None
    unknown_push_source: UnknownSourceType | None = None  # type: ignore[valid-type]
    rtp_port_min: int | None = None
    rtp_port_max: int | None = None
    rtp_timeout_seconds: int | None = None
    time_zone: str | None = None


SettingsResult = Annotated[Settings | UserError, strawberry.union("SettingsResult")]


@strawberry.type
class SettingsQueries:
    @strawberry.field(permission_classes=[IsAdmin])
    async def settings(self, info: Info) -> Settings:
        return Settings.of(await call(service.current))


@strawberry.type
class SettingsMutations:
    @strawberry.mutation(permission_classes=[IsAdmin])
    async def update_settings(self, info: Info, input: SettingsInput) -> SettingsResult:
        changes = {k: v for k, v in vars(input).items() if v is not None}
        result = await attempt(service.update, actor_of(info), **changes)
        return result if isinstance(result, UserError) else Settings.of(result)
