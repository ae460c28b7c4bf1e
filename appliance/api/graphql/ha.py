"""Primary and standby (主备设置): status, settings, sync now, make primary."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from appliance.api.graphql.context import IsAdmin, IsAuthenticated, actor_of, context_of
from appliance.api.graphql.errors import UserError, attempt, call
from appliance.domain import ha as domain
from appliance.services import ha as service

HaRoleType = strawberry.enum(domain.HaRole, name="HaRole")


@strawberry.type(description="This appliance's side of a primary/standby pair, as it is now.")
class HaStatus:
    role: HaRoleType  # type: ignore[valid-type]
    peer: str = strawberry.field(description="The other appliance's pair address (host:port)")
    peer_reachable: bool = strawberry.field(description="Heard from within the last 5 s")
    last_sync_at: datetime | None = strawberry.field(
        description="When the standby last had everything the primary had"
    )
    lag_recordings: int = strawberry.field(
        description="Recordings stored or deleted on the primary that the standby lacks"
    )
    lag_seconds: float = strawberry.field(description="How old the oldest of them is")
    paired: bool = strawberry.field(description="The two have exchanged certificates and keys")
    paired_at: datetime | None
    peer_role: str = strawberry.field(description="The role the peer last said it has")
    peer_seen_at: datetime | None
    recording_sync: bool
    config_sync: bool
    period_seconds: int
    takeover_seconds: int
    witness: str
    epoch: int = strawberry.field(description="Promotions so far: of two primaries the higher wins")
    promoted_at: datetime | None
    last_error: str = strawberry.field(
        description="Why the last contact or sync failed, if it did, as the system said it"
    )
    last_problem: str = strawberry.field(
        description="The same as a word the console words in its language: unreachable, tls, "
        "secret_differs, not_waiting, too_many_attempts, not_paired, refused, isolated, listen, "
        "sync, other; empty when the last exchange went well"
    )
    pairing_secret_set: bool = strawberry.field(
        description="A pairing secret waits to be used (it is forgotten once paired)"
    )
    fingerprint: str = strawberry.field(
        description="SHA-256 of this side's pair certificate, to compare with the peer's page"
    )
    vip_state: str = strawberry.field(
        description="keepalived's state where a virtual IP follows the primary "
        "(MASTER: this side holds it; BACKUP; FAULT), empty without keepalived"
    )

    @classmethod
    def of(cls, s: service.HaStatus) -> HaStatus:
        return cls(
            role=s.settings.role,
            peer=s.settings.peer_address,
            peer_reachable=s.peer_reachable,
            last_sync_at=s.last_sync_at,
            lag_recordings=s.lag_recordings,
            lag_seconds=round(s.lag_seconds, 1),
            paired=s.paired,
            paired_at=s.paired_at,
            peer_role=s.peer_role,
            peer_seen_at=s.peer_seen_at,
            recording_sync=s.settings.recording_sync,
            config_sync=s.settings.config_sync,
            period_seconds=s.settings.period_seconds,
            takeover_seconds=s.settings.takeover_seconds,
            witness=s.settings.witness,
            epoch=s.epoch,
            promoted_at=s.promoted_at,
            last_error=s.last_error,
            last_problem=s.last_problem,
            pairing_secret_set=s.secret_set,
            fingerprint=s.fingerprint,
            vip_state=s.vrrp_state,
        )


@strawberry.input(description="Only the fields given are changed.")
class HaSettingsInput:
    role: HaRoleType | None = None  # type: ignore[valid-type]
    peer_address: str | None = strawberry.field(
        default=None, description="The other appliance's pair address, host or host:port (7443)"
    )
    recording_sync: bool | None = None
    config_sync: bool | None = None
    period_seconds: int | None = None
    takeover_seconds: int | None = None
    witness: str | None = strawberry.field(
        default=None,
        description="An address the standby must still reach before it takes over "
        "(host: one ping; host:port: a TCP connection); empty for none",
    )
    pairing_secret: str | None = strawberry.field(
        default=None,
        description="The same secret on both appliances, at least 16 characters; used once",
    )


HaSettingsResult = Annotated[HaStatus | UserError, strawberry.union("HaSettingsResult")]


@strawberry.type
class HaQueries:
    @strawberry.field(permission_classes=[IsAdmin])
    async def ha_status(self, info: Info) -> HaStatus:
        app = context_of(info).app
        return HaStatus.of(await call(service.status, app, actor_of(info)))

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="This appliance's role: on a STANDBY the console is read-only",
    )
    async def appliance_role(self, info: Info) -> HaRoleType:  # type: ignore[valid-type]
        return await call(service.role)


@strawberry.type
class HaMutations:
    @strawberry.mutation(permission_classes=[IsAdmin])
    async def update_ha_settings(self, info: Info, input: HaSettingsInput) -> HaSettingsResult:
        changes = {k: v for k, v in vars(input).items() if v is not None}
        secret = changes.pop("pairing_secret", None)
        result = await attempt(
            service.update_settings, context_of(info).app, actor_of(info), secret, **changes
        )
        return result if isinstance(result, UserError) else HaStatus.of(result)

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def sync_now(self, info: Info) -> HaStatus:
        return HaStatus.of(await call(service.request_sync, context_of(info).app, actor_of(info)))

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def make_primary(self, info: Info) -> HaStatus:
        return HaStatus.of(await call(service.make_primary, context_of(info).app, actor_of(info)))
