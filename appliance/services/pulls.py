"""Pull devices' use cases that touch the database: what a run needs to know, its lease,
what it fetched, how it went; the pinned SFTP host key; the appliance's own SSH key.
The run itself (network, files) is appliance.pull's."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pony.orm import db_session

from appliance.db import pull_queries, settings_queries
from appliance.db.entities import Device, Recording
from appliance.domain.audit import AuditType
from appliance.domain.devices import DeviceMode, DeviceSpec, IntervalUnit, PullEndpoint
from appliance.domain.events import EventKind
from appliance.domain.pull import (
    AfterFetch,
    NamePattern,
    PullAuth,
    PullCounts,
    PullProblem,
    PullReason,
)
from appliance.errors import NotFound
from appliance.media.crypto import MasterKey
from appliance.services import audit, events
from appliance.services.context import SYSTEM, Actor, utcnow
from appliance.services.devices import DeviceView, spec_of, view_of

SSH_KEY_SETTING = "pull.ssh_key"  # the appliance's own Ed25519 key, sealed
SSH_KEY_COMMENT = "call-recorder"


@dataclass(frozen=True)
class PullConfig:
    """Everything one run needs about its device, secrets opened."""

    device_id: int
    alias: str
    endpoint: PullEndpoint
    username: str
    password: str
    private_key: str
    tls_fingerprint: str
    host_key: str
    blocked: str  # "host_key_changed" while an administrator has not accepted the new key
    found_key: str
    pattern: NamePattern | None
    after: AfterFetch
    move_to: str


@dataclass(frozen=True)
class PullRun:
    """A device's last run, or the one under way (progress while running)."""

    running: bool
    at: datetime | None
    error: str  # a TransferFailed code, "" when the run connected and listed
    detail: str
    counts: PullCounts
    listed: int  # files found by the listing
    to_fetch: int
    done: int  # of to_fetch, handled so far
    failures_in_a_row: int


@db_session
def config(device_id: int, master: MasterKey) -> PullConfig:
    d = Device.get(id=device_id)
    if d is None or d.mode != DeviceMode.PULL.value:
        raise NotFound("no such pull device")
    spec: DeviceSpec = spec_of(d, master)
    private_key = ""
    if spec.pull_auth is PullAuth.KEY:
        private_key = _ssh_key(master)[0]
    return PullConfig(
        device_id=d.id,
        alias=d.alias,
        endpoint=spec.endpoint(),
        username=spec.pull_username,
        password=spec.secret,
        private_key=private_key,
        tls_fingerprint=spec.pull_tls_fingerprint,
        host_key=d.pull_host_key or "",
        blocked=d.pull_blocked or "",
        found_key=d.pull_found_key or "",
        pattern=NamePattern.parse(spec.pull_pattern) if spec.pull_pattern else None,
        after=spec.pull_after,
        move_to=spec.pull_move_to,
    )


@db_session
def due(at: datetime) -> list[int]:
    """Pull devices whose interval has passed since their last run, not running now."""
    states = pull_queries.all_states()
    found = []
    for device_id, every, unit in pull_queries.schedules():
        s = states.get(device_id)
        if s is not None and s.lease_until is not None and s.lease_until >= at:
            continue
        step = timedelta(days=every) if unit == IntervalUnit.DAY.value else timedelta(hours=every)
        if s is None or s.last_run_at is None or s.last_run_at + step <= at:
            found.append(device_id)
    return found


@db_session
def begin(device_id: int, owner: str, lease_s: float) -> bool:
    """Take the device's lease; False if another run holds it."""
    at = utcnow()
    pull_queries.ensure(device_id)
    return pull_queries.take_lease(device_id, owner, at, at + timedelta(seconds=lease_s))


@db_session
def report_progress(device_id: int, owner: str, lease_s: float, run: PullRun) -> bool:
    """Renew the lease with the run's figures so far; False if the lease was lost."""
    until = utcnow() + timedelta(seconds=lease_s)
    return pull_queries.renew_lease(device_id, owner, until, _to_json(run))


@db_session
def fetched_keys(device_id: int) -> set[tuple[str, int, int]]:
    return pull_queries.fetched_keys(device_id)


@db_session
def recording_of(device_id: int, call_id: str) -> int | None:
    found = Recording.get(device_id=device_id, call_id=call_id)
    return int(found.id) if found else None


@db_session
def remember(device_id: int, path: str, size: int, mtime: int, recording_id: int | None) -> None:
    pull_queries.remember(device_id, path, size, mtime, recording_id, utcnow())


@db_session
def pin_host_key(device_id: int, key: str) -> None:
    """The key seen at the first successful sign-in is the one trusted from then on."""
    d = Device.get(id=device_id)
    if d is not None and not d.pull_host_key:
        d.pull_host_key = key
        audit.record(SYSTEM, AuditType.DEVICE, "device_host_key_pinned", alias=d.alias, key=key)


@db_session
def block(device_id: int, code: str, found: str) -> None:
    """Stop the device until an administrator accepts what was found (a new host key)."""
    d = Device.get(id=device_id)
    if d is not None and (d.pull_blocked != code or d.pull_found_key != found):
        d.pull_blocked, d.pull_found_key = code, found
        audit.record(
            SYSTEM, AuditType.DEVICE, "device_blocked", alias=d.alias, reason=code, found=found
        )


@db_session
def accept_host_key(actor: Actor, device_id: int) -> DeviceView:
    """Trust the host key the device's server now shows, and let the device run again."""
    actor.require_admin()
    d = Device.get(id=device_id)
    if d is None or d.mode != DeviceMode.PULL.value:
        raise NotFound("no such pull device")
    old, new = d.pull_host_key or "", d.pull_found_key or ""
    d.pull_host_key, d.pull_blocked, d.pull_found_key = new, "", ""
    audit.record(
        actor, AuditType.DEVICE, "device_host_key_accepted", alias=d.alias, old=old, new=new
    )
    events.record(EventKind.DEVICE_CHANGED, actor, id=d.id, alias=d.alias, mode=d.mode)
    return view_of(d)


@db_session
def finish(device_id: int, owner: str, run: PullRun, actor: Actor) -> int:
    """Keep the run's result, free the lease; how many runs in a row have failed."""
    at = utcnow()
    failed = bool(run.error)
    d = Device.get(id=device_id)
    if d is not None and not failed:
        d.last_success_at = at
    failures = pull_queries.finish(device_id, owner, at, _to_json(run), failed)
    events.record(
        EventKind.DEVICE_PULLED,
        actor,
        id=device_id,
        alias=d.alias if d else "",
        error=run.error,
        fetched=run.counts.fetched,
        already_had=run.counts.already_had,
        waiting=run.counts.waiting,
        unrecognised=run.counts.unrecognised,
        failed=run.counts.failed,
        failures_in_a_row=failures,
    )
    return failures


@db_session
def last_runs(device_ids: list[int]) -> dict[int, PullRun]:
    """Each device's run under way, else its last one."""
    states = pull_queries.all_states()
    found = {}
    for device_id in device_ids:
        s = states.get(device_id)
        if s is None:
            continue
        at = utcnow()
        if s.lease_until is not None and s.lease_until >= at and s.progress:
            found[device_id] = _from_json(s.progress, running=True, at=s.last_run_at)
        elif s.last_run:
            found[device_id] = _from_json(s.last_run, running=False, at=s.last_run_at)
        elif s.lease_until is not None and s.lease_until >= at:
            found[device_id] = PullRun(True, None, "", "", PullCounts(), 0, 0, 0, s.failures)
        if device_id in found:
            found[device_id] = _with_failures(found[device_id], s.failures)
    return found


def _with_failures(run: PullRun, failures: int) -> PullRun:
    return PullRun(**{**run.__dict__, "failures_in_a_row": failures})


def _to_json(run: PullRun) -> str:
    counts = asdict(run.counts)
    counts["problems"] = [[p.path, p.reason.value, p.detail] for p in run.counts.problems]
    return json.dumps(
        {
            "error": run.error,
            "detail": run.detail,
            "counts": counts,
            "listed": run.listed,
            "to_fetch": run.to_fetch,
            "done": run.done,
        },
        ensure_ascii=False,
    )


def _from_json(text: str, *, running: bool, at: datetime | None) -> PullRun:
    data: dict[str, Any] = json.loads(text)
    c = data.get("counts", {})
    problems = tuple(
        PullProblem(p[0], PullReason(p[1]), p[2] if len(p) > 2 else "")
        for p in c.get("problems", [])
        if p[1] in PullReason._value2member_map_
    )
    counts = PullCounts(
        fetched=c.get("fetched", 0),
        already_had=c.get("already_had", 0),
        waiting=c.get("waiting", 0),
        unrecognised=c.get("unrecognised", 0),
        failed=c.get("failed", 0),
        problems=problems,
    )
    return PullRun(
        running=running,
        at=at,
        error=data.get("error", ""),
        detail=data.get("detail", ""),
        counts=counts,
        listed=data.get("listed", 0),
        to_fetch=data.get("to_fetch", 0),
        done=data.get("done", 0),
        failures_in_a_row=0,
    )


def _ssh_key(master: MasterKey) -> tuple[str, str]:
    """(private OpenSSH PEM, public "ssh-ed25519 … call-recorder"), made at first need."""
    stored = settings_queries.load_all().get(SSH_KEY_SETTING)
    if stored:
        private_pem = master.open_text(stored)
        key = serialization.load_ssh_private_key(private_pem.encode(), password=None)
    else:
        key = Ed25519PrivateKey.generate()
        private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        ).decode()
        settings_queries.save({SSH_KEY_SETTING: master.seal_text(private_pem)})
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return private_pem, f"{public.decode()} {SSH_KEY_COMMENT}"


@db_session
def ssh_public_key(actor: Actor, master: MasterKey) -> str:
    """What an administrator puts in the PBX's authorized_keys for key sign-in."""
    actor.require_admin()
    return _ssh_key(master)[1]
