"""Backups (备份管理, 备份设置): targets, policies, the passphrase, "back up now", the log,
importing sets, and protected recordings."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from datetime import datetime, time
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from appliance import words
from appliance.api.graphql.common import DeleteResult, parse_id
from appliance.api.graphql.context import IsAdmin, IsAuthenticated, actor_of, context_of
from appliance.api.graphql.errors import UserError, attempt, call
from appliance.api.graphql.inputs import input_of, to_domain
from appliance.backup import imports, runner
from appliance.backup.importer import ImportRun
from appliance.backup.runner import BackupRun
from appliance.domain import backup as domain
from appliance.domain.schedule import IntervalUnit, Policy, Schedule
from appliance.errors import InvalidInput
from appliance.services import backup_log, backups, catalogue
from appliance.services.backups import BackupTargetView

BackupTargetKind = strawberry.enum(domain.TargetKind, name="BackupTargetKind")
BackupResultType = strawberry.enum(domain.BackupResult, name="BackupResult")
BackupLogKind = strawberry.enum(domain.LogKind, name="BackupLogKind")
BackupPolicyKind = strawberry.enum(Policy, name="BackupPolicyKind")
BackupIntervalUnit = strawberry.enum(IntervalUnit, name="BackupIntervalUnit")
PROGRESS_POLL_S = 1.0


@strawberry.type
class BackupProblem:
    subject: str = strawberry.field(description="The recording's SN, or the file")
    reason: str = strawberry.field(description="unreadable, corrupt, missing")
    detail: str


def _problems(counts: domain.RunCounts) -> list[BackupProblem]:
    return [BackupProblem(subject=p.subject, reason=p.reason, detail=p.detail)
            for p in counts.problems]  # fmt: skip


@strawberry.type
class BackupRunResult:
    """A backup run's outcome: the contract's five fields, and why it stopped."""

    result: BackupResultType  # type: ignore[valid-type]
    recordings: int
    voicemails: int
    bytes: float = strawberry.field(description="Bytes written to the target")
    problems: list[BackupProblem]
    error: str = strawberry.field(
        description="Why the run stopped (disk_limit, no_passphrase, connect_failed, "
        "auth_failed, not_found, …); empty when it ran to the end"
    )
    error_detail: str
    set_name: str
    removed_sets: int

    @classmethod
    def of(cls, run: BackupRun) -> BackupRunResult:
        c = run.counts
        return cls(
            result=run.result, recordings=c.recordings, voicemails=c.voicemails,
            bytes=float(c.bytes), problems=_problems(c), error=run.error,
            error_detail=run.detail, set_name=run.set_name, removed_sets=run.removed_sets,
        )  # fmt: skip


@strawberry.type
class BackupProgress:
    running: bool
    done: int
    total: int
    recordings: int
    voicemails: int
    bytes: float


@strawberry.type
class BackupTarget:
    id: strawberry.ID
    kind: BackupTargetKind  # type: ignore[valid-type]
    enabled: bool
    location: str
    username: str
    password_set: bool
    keep_months: int = strawberry.field(description="Sets older than this are removed; 0 keeps all")
    disk_limit_percent: int
    tls_fingerprint: str
    host_key: str = strawberry.field(description="SFTP: pinned at the first sign-in")
    progress: BackupProgress
    last_run_at: datetime | None
    last_run: JSON = strawberry.field(description="The last run's summary (result, counts, error)")

    @classmethod
    def of(cls, v: BackupTargetView) -> BackupTarget:
        p = v.progress
        return cls(
            id=strawberry.ID(str(v.id)), kind=v.kind, enabled=v.enabled, location=v.location,
            username=v.username, password_set=v.password_set, keep_months=v.keep_months,
            disk_limit_percent=v.disk_limit_percent, tls_fingerprint=v.tls_fingerprint,
            host_key=v.host_key,
            progress=BackupProgress(
                running=v.running, done=int(p.get("done", 0)), total=int(p.get("total", 0)),
                recordings=int(p.get("recordings", 0)), voicemails=int(p.get("voicemails", 0)),
                bytes=float(p.get("bytes", 0)),
            ),
            last_run_at=v.last_run_at, last_run=JSON(v.last_result),
        )  # fmt: skip


@strawberry.input
class BackupTargetInput:
    id: strawberry.ID | None = strawberry.field(default=None, description="None adds a target")
    kind: BackupTargetKind  # type: ignore[valid-type]
    enabled: bool = True
    location: str = strawberry.field(
        description="/mnt/backup, ftp://host/dir, ftps://host/dir, sftp://host/dir, "
        "\\\\host\\share\\dir"
    )
    username: str = ""
    password: str | None = strawberry.field(default=None, description="None keeps the saved one")
    keep_months: int = 12
    disk_limit_percent: int = 90
    tls_fingerprint: str = ""

    def to_spec(self) -> domain.BackupTargetSpec:
        return domain.BackupTargetSpec(
            kind=self.kind, enabled=self.enabled, location=self.location,
            username=self.username, password=self.password, keep_months=self.keep_months,
            disk_limit_percent=self.disk_limit_percent, tls_fingerprint=self.tls_fingerprint,
        )  # fmt: skip


BackupTargetResult = Annotated[BackupTarget | UserError, strawberry.union("BackupTargetResult")]


@strawberry.type
class BackupPolicy:
    policy: BackupPolicyKind  # type: ignore[valid-type]
    every: int
    unit: BackupIntervalUnit  # type: ignore[valid-type]
    at: str = strawberry.field(description="HH:MM, the appliance's time zone")
    weekdays: list[int] = strawberry.field(description="1 (Monday) to 7 (Sunday)")
    month_days: list[int]

    @classmethod
    def of(cls, s: Schedule) -> BackupPolicy:
        return cls(
            policy=s.policy, every=s.every, unit=s.unit, at=s.at.strftime("%H:%M"),
            weekdays=sorted(s.weekdays), month_days=sorted(s.month_days),
        )  # fmt: skip


@strawberry.input
class BackupPolicyInput:
    policy: BackupPolicyKind  # type: ignore[valid-type]
    every: int = 0
    unit: BackupIntervalUnit = IntervalUnit.MINUTES  # type: ignore[valid-type]
    at: str = "00:00"
    weekdays: list[int] = strawberry.field(default_factory=list)
    month_days: list[int] = strawberry.field(default_factory=list)

    def to_schedule(self) -> Schedule:
        try:
            hour, minute = (int(x) for x in self.at.split(":"))
            at = time(hour, minute)
        except ValueError:
            raise InvalidInput("at is HH:MM", field="at", code="not_a_time") from None
        return Schedule(
            self.policy, every=self.every, unit=self.unit, at=at,
            weekdays=frozenset(self.weekdays), month_days=frozenset(self.month_days),
        ).validate()  # fmt: skip


@strawberry.type
class BackupSettings:
    policies: list[BackupPolicy]
    next_run_at: datetime | None
    passphrase_set: bool
    include_config: bool = strawberry.field(
        description="Each set carries the configuration too (settings, devices, departments, "
        "roles, employees), encrypted; no password in clear"
    )


BackupSettingsResult = Annotated[
    BackupSettings | UserError, strawberry.union("BackupSettingsResult")
]


def _settings(actor: object) -> BackupSettings:
    return BackupSettings(
        policies=[BackupPolicy.of(s) for s in backups.policies(actor)],  # type: ignore[arg-type]
        next_run_at=backups.next_run_at(),
        passphrase_set=backups.passphrase_set(),
        include_config=backups.include_config(),
    )


@strawberry.type
class BackupLogEntry:
    id: strawberry.ID
    at: datetime
    kind: BackupLogKind  # type: ignore[valid-type]
    target: str = strawberry.field(description="LOCAL, FTP, SFTP, SMB; empty for a deletion")
    result: BackupResultType  # type: ignore[valid-type]
    recordings: int
    voicemails: int
    bytes: float
    event: str
    params: JSON

    @strawberry.field(description="In the manual's words, in zh-CN (default), zh-TW or en")
    def description(self, language: str = "zh-CN") -> str:
        counts = {"recordings": self.recordings, "voicemails": self.voicemails}
        params: dict[str, Any] = dict(self.params) if isinstance(self.params, dict) else {}
        return words.backup_description(
            words.language(language), self.target, self.event, params, counts
        )

    @classmethod
    def of(cls, e: domain.BackupLogEntry) -> BackupLogEntry:
        return cls(
            id=strawberry.ID(str(e.id)), at=e.at, kind=e.kind, target=e.target, result=e.result,
            recordings=e.recordings, voicemails=e.voicemails, bytes=float(e.bytes),
            event=e.event, params=JSON(e.params),
        )  # fmt: skip


@strawberry.type
class BackupLogPage:
    total: int
    items: list[BackupLogEntry]


if TYPE_CHECKING:
    BackupLogFilter = domain.BackupLogFilter
else:
    BackupLogFilter = input_of(domain.BackupLogFilter, "BackupLogFilter")


@strawberry.type
class BackupSet:
    name: str
    created_at: datetime
    state: str = strawberry.field(
        description="OPEN (a run broke off: the next completes it), CLOSED"
    )
    recordings: int
    bytes: float


@strawberry.type
class BackupTestResult:
    ok: bool
    error: str
    detail: str
    found: str = strawberry.field(description="A certificate or host key fingerprint to trust")
    total_bytes: float | None
    available_bytes: float | None
    sets: list[str] = strawberry.field(description="The backup sets found there")


@strawberry.type
class ImportResult:
    result: BackupResultType  # type: ignore[valid-type]
    recordings: int
    voicemails: int
    skipped: int = strawberry.field(description="Already on this appliance (by SN)")
    bytes: float
    problems: list[BackupProblem]
    error: str = strawberry.field(description="wrong_passphrase, no_backup, connect_failed, …")
    error_detail: str
    sets: list[str]
    config_restored: JSON = strawberry.field(
        description="With includeConfig: how many of each (device, department, role, employee) "
        "were created; what was there already is left alone"
    )

    @classmethod
    def of(cls, run: ImportRun) -> ImportResult:
        c = run.counts
        return cls(
            result=run.result, recordings=c.recordings, voicemails=c.voicemails,
            skipped=c.skipped, bytes=float(c.bytes), problems=_problems(c), error=run.error,
            error_detail=run.detail, sets=run.sets,
            config_restored=JSON(run.config.created if run.config else {}),
        )  # fmt: skip


@strawberry.type
class ProtectResult:
    changed: int


@strawberry.type
class BackupQueries:
    @strawberry.field(permission_classes=[IsAdmin], description="Administrators only")
    async def backup_log(
        self,
        info: Info,
        filter: BackupLogFilter | None = None,
        page: int = 1,
        page_size: int = 20,
    ) -> BackupLogPage:
        checked = to_domain(filter, domain.BackupLogFilter)
        total, items = await call(
            backup_log.search, actor_of(info), checked.checked(), max(1, page),
            max(1, min(page_size, 200)),
        )  # fmt: skip
        return BackupLogPage(total=total, items=[BackupLogEntry.of(e) for e in items])

    @strawberry.field(permission_classes=[IsAdmin])
    async def backup_targets(self, info: Info) -> list[BackupTarget]:
        return [BackupTarget.of(v) for v in await call(backups.targets, actor_of(info))]

    @strawberry.field(permission_classes=[IsAdmin])
    async def backup_settings(self, info: Info) -> BackupSettings:
        return await call(_settings, actor_of(info))

    @strawberry.field(permission_classes=[IsAdmin], description="The sets this appliance wrote")
    async def backup_sets(self, info: Info, target_id: strawberry.ID) -> list[BackupSet]:
        found = await call(backups.sets_of, actor_of(info), parse_id(target_id) or 0)
        return [BackupSet(name=s.name, created_at=s.created_at, state=s.state,
                          recordings=s.recordings, bytes=float(s.bytes)) for s in found]  # fmt: skip


@strawberry.type
class BackupMutations:
    @strawberry.mutation(permission_classes=[IsAdmin])
    async def set_backup_target(self, info: Info, input: BackupTargetInput) -> BackupTargetResult:
        ctx = context_of(info)
        target_id = parse_id(input.id) if input.id is not None else None
        if input.id is not None and target_id is None:
            return UserError(code="NOT_FOUND", message="no such target", field="id")
        result = await attempt(
            backups.set_target, actor_of(info), target_id, input.to_spec(), ctx.app.master,
            ctx.app.config.recordings_dir,
        )  # fmt: skip
        return result if isinstance(result, UserError) else BackupTarget.of(result)

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def delete_backup_target(self, info: Info, id: strawberry.ID) -> DeleteResult:
        target_id = parse_id(id)
        if target_id is None:
            return DeleteResult(deleted=0)
        await call(backups.delete_target, actor_of(info), target_id)
        return DeleteResult(deleted=1)

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def set_backup_policies(
        self, info: Info, policies: list[BackupPolicyInput]
    ) -> BackupSettingsResult:
        actor = actor_of(info)

        def save() -> BackupSettings:
            backups.set_policies(actor, [p.to_schedule() for p in policies])
            return _settings(actor)

        return await attempt(save)

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="The first makes the backup key; a later one rewraps it (sets stay readable)",
    )
    async def set_backup_passphrase(self, info: Info, passphrase: str) -> BackupSettingsResult:
        actor = actor_of(info)
        master = context_of(info).app.master

        def save() -> BackupSettings:
            backups.set_passphrase(actor, passphrase, master)
            return _settings(actor)

        return await attempt(save)

    @strawberry.mutation(permission_classes=[IsAdmin], description="Returns when the run ends")
    async def backup_now(self, info: Info, target_id: strawberry.ID) -> BackupRunResult:
        found = parse_id(target_id) or 0
        run = await call(runner.run_target, context_of(info).app, actor_of(info), found)
        return BackupRunResult.of(run)

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def test_backup_target(self, info: Info, target_id: strawberry.ID) -> BackupTestResult:
        found = parse_id(target_id) or 0
        r = await call(imports.test_target, context_of(info).app, actor_of(info), found)
        return BackupTestResult(
            ok=r.ok, error=r.error, detail=r.detail, found=r.found,
            total_bytes=None if r.space is None else float(r.space[0]),
            available_bytes=None if r.space is None else float(r.space[1]), sets=r.sets,
        )  # fmt: skip

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Import sets from a target (all of them when sets is empty)",
    )
    async def import_backup(
        self,
        info: Info,
        target_id: strawberry.ID,
        passphrase: str,
        sets: list[str] | None = None,
        include_config: bool = False,
    ) -> ImportResult:
        found = parse_id(target_id) or 0
        run = await call(
            imports.from_target, context_of(info).app, actor_of(info), found, passphrase, sets,
            include_config,
        )  # fmt: skip
        return ImportResult.of(run)

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def set_backup_include_config(self, info: Info, include: bool) -> BackupSettings:
        actor = actor_of(info)

        def save() -> BackupSettings:
            backups.set_include_config(actor, include)
            return _settings(actor)

        return await call(save)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Legal hold: needs the delete right; circular recording and retention "
        "pass over a protected recording, and deleting it needs the mark removed first",
    )
    async def protect_recordings(
        self, info: Info, ids: list[strawberry.ID], protect: bool
    ) -> ProtectResult:
        parsed = [i for i in map(parse_id, ids) if i is not None]
        return ProtectResult(changed=await call(catalogue.protect, actor_of(info), parsed, protect))


@strawberry.type
class BackupSubscriptions:
    @strawberry.subscription(
        permission_classes=[IsAdmin],
        description="A target's backup progress, and an import's, each second while it changes; "
        "targetId 0 follows the import of an uploaded set",
    )
    async def backup_progress(
        self, info: Info, target_id: strawberry.ID
    ) -> AsyncGenerator[BackupProgress, None]:
        actor = actor_of(info)
        found = parse_id(target_id) or 0
        last = ""
        while True:
            state = imports.progress_of(found)
            if state is None and found != imports.UPLOAD_KEY:
                view = await call(backups.target_view, actor, found)
                state = view.progress if view.running else {}
            state = state or {}
            shown = BackupProgress(
                running=bool(state), done=int(state.get("done", 0)),
                total=int(state.get("total", 0)), recordings=int(state.get("recordings", 0)),
                voicemails=int(state.get("voicemails", 0)), bytes=float(state.get("bytes", 0)),
            )  # fmt: skip
            said = json.dumps(state, sort_keys=True)
            if said != last:
                last = said
                yield shown
            await asyncio.sleep(PROGRESS_POLL_S)
