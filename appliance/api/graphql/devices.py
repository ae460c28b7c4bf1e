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
from appliance.domain.pull import AfterFetch, PullAuth
from appliance.pull import runner
from appliance.services import devices, pulls
from appliance.services.devices import DeviceView
from appliance.services.pulls import PullRun

DeviceModeType = strawberry.enum(DeviceMode, name="DeviceMode")
PullProtocolType = strawberry.enum(PullProtocol, name="PullProtocol")
IntervalUnitType = strawberry.enum(IntervalUnit, name="IntervalUnit")
PullAuthType = strawberry.enum(PullAuth, name="PullAuth")
AfterFetchType = strawberry.enum(AfterFetch, name="AfterFetch")


@strawberry.type
class PullProblem:
    path: str
    reason: str = strawberry.field(
        description="unsafe_name, outside_root, unrecognised_name, not_audio, too_large, "
        "undecodable, transfer_failed, voicemail_without_txt, …"
    )
    detail: str


@strawberry.type
class PullRunResult:
    """A run's figures: the contract's five counts and problems, and how the run went."""

    fetched: int
    already_had: int
    waiting: int
    unrecognised: int
    failed: int
    problems: list[PullProblem]
    running: bool
    at: datetime | None
    error: str = strawberry.field(
        description="Why the run could not list the device (connect_failed, auth_failed, "
        "tls_untrusted, host_key_changed, …); empty when it could"
    )
    error_detail: str
    listed: int
    to_fetch: int
    done: int
    failures_in_a_row: int

    @classmethod
    def of(cls, r: PullRun) -> PullRunResult:
        c = r.counts
        return cls(
            fetched=c.fetched,
            already_had=c.already_had,
            waiting=c.waiting,
            unrecognised=c.unrecognised,
            failed=c.failed,
            problems=[PullProblem(path=p.path, reason=p.reason.value, detail=p.detail)
                      for p in c.problems],
            running=r.running,
            at=r.at,
            error=r.error,
            error_detail=r.detail,
            listed=r.listed,
            to_fetch=r.to_fetch,
            done=r.done,
            failures_in_a_row=r.failures_in_a_row,
        )  # fmt: skip


@strawberry.type
class PullTestResult:
    ok: bool
    error: str
    detail: str
    found: str = strawberry.field(
        description="The certificate or host key fingerprint the server showed, to trust"
    )
    host_key: str
    entries: list[str] = strawberry.field(description="The first names in the device's folder")


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
    pull_auth: PullAuthType  # type: ignore[valid-type]
    pull_pattern: str
    pull_after: AfterFetchType  # type: ignore[valid-type]
    pull_move_to: str
    pull_tls_fingerprint: str
    pull_host_key: str = strawberry.field(description="SFTP: pinned at the first sign-in")
    pull_blocked: str = strawberry.field(
        description="Why the device is stopped (host_key_changed); empty while it runs"
    )
    pull_found_key: str = strawberry.field(description="The key its server shows now")
    last_success_at: datetime | None
    created_at: datetime
    last_run: PullRunResult | None = strawberry.field(
        default=None, description="A pull device's run under way, else its last one"
    )

    @classmethod
    def of(cls, v: DeviceView, run: PullRun | None = None) -> Device:
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
            pull_auth=v.pull_auth,
            pull_pattern=v.pull_pattern,
            pull_after=v.pull_after,
            pull_move_to=v.pull_move_to,
            pull_tls_fingerprint=v.pull_tls_fingerprint,
            pull_host_key=v.pull_host_key,
            pull_blocked=v.pull_blocked,
            pull_found_key=v.pull_found_key,
            last_success_at=v.last_success_at,
            created_at=v.created_at,
            last_run=PullRunResult.of(run) if run else None,
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
    pull_auth: PullAuthType = PullAuth.PASSWORD  # type: ignore[valid-type]
    pull_pattern: str = strawberry.field(
        default="",
        description="The device's own file naming, e.g. {YYYY}{MM}{DD}-{hh}{mm}{ss}_{caller}_{callee}",
    )
    pull_after: AfterFetchType = AfterFetch.KEEP  # type: ignore[valid-type]
    pull_move_to: str = ""
    pull_tls_fingerprint: str = ""

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
            pull_auth=self.pull_auth,
            pull_pattern=self.pull_pattern.strip(),
            pull_after=self.pull_after,
            pull_move_to=self.pull_move_to.strip(),
            pull_tls_fingerprint=self.pull_tls_fingerprint.strip(),
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
        runs = await call(pulls.last_runs, [v.id for v in found if v.mode is DeviceMode.PULL])
        return [Device.of(v, runs.get(v.id)) for v in found]

    @strawberry.field(
        permission_classes=[IsAdmin],
        description="The appliance's SSH public key, for a PBX's authorized_keys (SFTP by key)",
    )
    async def pull_public_key(self, info: Info) -> str:
        return await call(pulls.ssh_public_key, actor_of(info), context_of(info).app.master)


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

    @strawberry.mutation(
        permission_classes=[IsAdmin], description="Runs at once; returns when the run ends"
    )
    async def pull_now(self, info: Info, device_id: strawberry.ID) -> PullRunResult:
        found = parse_id(device_id)
        ctx = context_of(info)
        result = await call(runner.run_device, ctx.app, found or 0, actor_of(info))
        return PullRunResult.of(result)

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def test_pull_device(self, info: Info, device_id: strawberry.ID) -> PullTestResult:
        found = parse_id(device_id)
        result = await call(runner.test_device, context_of(info).app, found or 0, actor_of(info))
        return PullTestResult(
            ok=result.ok,
            error=result.error,
            detail=result.detail,
            found=result.found,
            host_key=result.host_key,
            entries=result.entries,
        )

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Trust the SFTP host key the device's server shows now; the device runs again",
    )
    async def accept_pull_host_key(self, info: Info, device_id: strawberry.ID) -> DeviceResult:
        found = parse_id(device_id)
        result = await attempt(pulls.accept_host_key, actor_of(info), found or 0)
        return result if isinstance(result, UserError) else Device.of(result)

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def delete_device(self, info: Info, id: strawberry.ID) -> DeleteResult:
        device_id = parse_id(id)
        if device_id is not None:
            await call(devices.delete, actor_of(info), device_id)
            return DeleteResult(deleted=1)
        return DeleteResult(deleted=0)
