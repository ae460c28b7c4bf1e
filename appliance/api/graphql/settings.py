"""The recording settings page ("录音设置")."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from appliance.api.graphql.context import IsAdmin, actor_of, context_of
from appliance.api.graphql.errors import UserError, api_field, attempt, call
from appliance.config import Config
from appliance.domain import settings as domain
from appliance.services import settings as service

FileFormatType = strawberry.enum(domain.FileFormat, name="FileFormat")
ChannelModeType = strawberry.enum(domain.ChannelMode, name="ChannelMode")
UnknownSourceType = strawberry.enum(domain.UnknownSourcePolicy, name="UnknownSourcePolicy")


@strawberry.type(
    description="A setting the appliance's configuration fixes, whatever is saved here."
)
class SettingOverride:
    field: str = strawberry.field(description="The setting, by its name in Settings (sipPort)")
    source: str = strawberry.field(
        description="What fixes it: an environment variable, or a key of the configuration file"
    )
    value: str = strawberry.field(description="The value in force")


@strawberry.type(description="The numbers a setting accepts, both ends included.")
class SettingRange:
    field: str = strawberry.field(description="The setting, by its name in Settings (sipPort)")
    min: int
    max: int


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

    overrides: list[SettingOverride] = strawberry.field(
        default_factory=list,
        description="Settings the configuration fixes (RECORDER_SIP_PORT): saving them here "
        "takes effect only once the override is removed.",
    )

    ranges: list[SettingRange] = strawberry.field(
        default_factory=list, description="Each number's allowed range, as the page shows it"
    )

    @classmethod
    def of(cls, s: domain.Settings, config: Config) -> Settings:
        values = {f: getattr(s, f) for f in cls.__annotations__ if f not in ("overrides", "ranges")}
        ranges = [
            SettingRange(field=api_field(name) or name, min=low, max=high)
            for name, (low, high) in domain.RANGES.items()
        ]
        overrides = []
        if config.sip_port is not None:
            overrides.append(
                SettingOverride(
                    field="sipPort", source=config.sip_port_source, value=str(config.sip_port)
                )
            )
        return cls(**values, overrides=overrides, ranges=ranges)


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
        return Settings.of(await call(service.current), context_of(info).app.config)


@strawberry.type
class SettingsMutations:
    @strawberry.mutation(permission_classes=[IsAdmin])
    async def update_settings(self, info: Info, input: SettingsInput) -> SettingsResult:
        changes = {k: v for k, v in vars(input).items() if v is not None}
        result = await attempt(service.update, actor_of(info), **changes)
        if isinstance(result, UserError):
            return result
        return Settings.of(result, context_of(info).app.config)
