"""Primary and standby (主备): the administrator's settings and status, and the use cases
the failover service runs: pairing, what the primary sends, what the standby applies,
takeover and stepping down."""

from __future__ import annotations

import base64
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pony.orm import db_session

from appliance.db import account_queries, event_queries, ha_queries, recording_queries
from appliance.domain.alarms import AlarmEvent
from appliance.domain.audit import AuditType
from appliance.domain.events import EventKind
from appliance.domain.ha import (
    Change,
    HaRole,
    HaSettings,
    change_of,
    check_secret,
    checked_recording,
    has_an_administrator,
)
from appliance.domain.recordings import STORED_PATH, sn_with_suffix
from appliance.errors import Conflict, InvalidInput
from appliance.media.crypto import MasterKey
from appliance.services import alarms, audit, events
from appliance.services.context import SYSTEM, Actor, AppContext, utcnow

log = logging.getLogger(__name__)

BATCH = 200
# A peer heard within this long is reachable (heartbeats go every second).
REACHABLE_SECONDS = 5.0
# How long "make primary" waits for the primary to send what it has before taking over.
FAILBACK_WAIT_SECONDS = 30.0
# Users whose sessions end on the standby too, besides a changed password or a removal.
_SESSIONS_ENDED = {EventKind.USER_ACCESS_ENDED.value, EventKind.USER_DISABLED.value}


@dataclass(frozen=True)
class HaStatus:
    settings: HaSettings
    paired: bool
    paired_at: datetime | None
    peer_reachable: bool
    peer_role: str
    peer_seen_at: datetime | None
    last_sync_at: datetime | None
    lag_recordings: int
    lag_seconds: float
    epoch: int
    promoted_at: datetime | None
    last_error: str  # the detail, as the peer or the system said it
    secret_set: bool
    fingerprint: str = ""  # this side's pair certificate, to compare on both consoles
    vrrp_state: str = ""  # keepalived's, where a virtual IP follows the primary
    last_problem: str = ""  # a word of PROBLEMS, "" when the last exchange went well


@dataclass(frozen=True)
class Side:
    """What the failover service needs of this appliance's side, read in one go."""

    settings: HaSettings
    secret: str
    peer_pem: str
    epoch: int
    promoted_at: str  # ISO UTC, "" before the first promotion
    sync_requested_at: datetime | None
    last_sync_at: datetime | None
    failback_requested: bool = False
    vrrp_state: str = ""


def _settings_of(state: dict[str, Any]) -> HaSettings:
    return HaSettings(
        role=HaRole(state["role"]),
        peer_address=state["peer_address"],
        recording_sync=state["recording_sync"],
        config_sync=state["config_sync"],
        period_seconds=int(state["period_seconds"]),
        takeover_seconds=int(state["takeover_seconds"]),
        witness=state["witness"],
    )


def _status(state: dict[str, Any], fingerprint: str = "") -> HaStatus:
    seen = state["peer_seen_at"]
    return HaStatus(
        settings=_settings_of(state),
        paired=bool(state["peer_cert"]),
        paired_at=state["paired_at"],
        peer_reachable=_reachable(state),
        peer_role=state["peer_role"],
        peer_seen_at=seen,
        last_sync_at=state["last_sync_at"],
        lag_recordings=int(state["lag_recordings"]),
        lag_seconds=float(state["lag_seconds"]),
        epoch=int(state["epoch"]),
        promoted_at=state["promoted_at"],
        last_error=state["last_error"].partition("|")[2],
        last_problem=state["last_error"].partition("|")[0],
        secret_set=bool(state["secret_sealed"]),
        fingerprint=fingerprint,
        vrrp_state=state["vrrp_state"],
    )


# The failover service writes its pair certificate's fingerprint here; the API shows it.
FINGERPRINT_FILE = "ha/node.fingerprint"


def _fingerprint(ctx: AppContext) -> str:
    from_file = ctx.config.data_dir / FINGERPRINT_FILE
    try:
        return from_file.read_text(encoding="ascii").strip()
    except OSError:
        return ""


@db_session
def status(ctx: AppContext, actor: Actor) -> HaStatus:
    actor.require_admin()
    return _status(ha_queries.state(), _fingerprint(ctx))


@db_session
def role() -> HaRole:
    """This appliance's role now (the capture and the API ask it every second or so)."""
    return HaRole(ha_queries.state()["role"])


def update_settings(
    ctx: AppContext, actor: Actor, pairing_secret: str | None = None, **changes: Any
) -> HaStatus:
    """The 主备设置 page's save. A new peer address or secret means pairing again."""
    actor.require_admin()
    if pairing_secret is not None and pairing_secret != "":
        check_secret(pairing_secret)
    with db_session:
        state = ha_queries.state()
        before = _settings_of(state)
        after = before.changed(**changes)
        updates: dict[str, Any] = {
            k: getattr(after, k).value if k == "role" else getattr(after, k)
            for k in vars(after)
            if getattr(after, k) != getattr(before, k)
        }
        if after.role is HaRole.STANDALONE:
            updates["peer_cert"] = ""
            event_queries.forget_cursor(event_queries.PEER_READER)  # retention as alone
        if after.peer_address != before.peer_address or pairing_secret:
            updates["peer_cert"] = ""  # pair again with whoever is there now
            updates["paired_at"] = None
        if pairing_secret:
            updates["secret_sealed"] = ctx.master.seal_text(pairing_secret)
        if after.role is HaRole.PRIMARY and before.role is not HaRole.PRIMARY:
            updates["epoch"] = _next_epoch(state)
            updates["promoted_at"] = utcnow()
        ha_queries.update_state(**updates)
        # The secret never reaches the audit trail or the event log; that it was set does.
        shown = {
            k: ("(set)" if k == "secret_sealed" else str(v))
            for k, v in updates.items()
            if k not in ("peer_cert", "paired_at", "promoted_at")
        }
        summary = ", ".join(f"{k.removesuffix('_sealed')}={v}" for k, v in shown.items())
        audit.record(actor, AuditType.SETTINGS, "ha_settings_changed", changes=summary)
        events.record(EventKind.HA_CHANGED, actor, **shown)
        found = _status(ha_queries.state(), _fingerprint(ctx))
    write_role(ctx.config.data_dir, found.settings.role)
    return found


@db_session
def request_sync(ctx: AppContext, actor: Actor) -> HaStatus:
    """ "Sync now": the failover service starts a round at once instead of at the period."""
    actor.require_admin()
    ha_queries.update_state(sync_requested_at=utcnow())
    audit.record(actor, AuditType.SETTINGS, "ha_sync_requested")
    return _status(ha_queries.state(), _fingerprint(ctx))


def make_primary(ctx: AppContext, actor: Actor) -> HaStatus:
    """The administrator's failback: this side becomes the newest primary; the other side
    steps down when it next hears of it. While the primary answers, it first sends this
    side everything it has (deletions, scores, configuration made since its last sync),
    which a stepped-down primary would no longer hand over."""
    actor.require_admin()
    with db_session:
        state = ha_queries.state()
        if not state["peer_address"]:
            raise Conflict("no standby is configured", code="not_paired")
        drain = (
            state["role"] == HaRole.STANDBY.value and bool(state["peer_cert"]) and _reachable(state)
        )
        if drain:
            ha_queries.update_state(failback_requested_at=utcnow())
            audit.record(actor, AuditType.SETTINGS, "ha_failback_requested")
        else:
            _promote(state, actor, "make_primary")
    if drain:  # the failover service asks the primary to drain, then promotes
        deadline = time.monotonic() + FAILBACK_WAIT_SECONDS
        while time.monotonic() < deadline and role() is not HaRole.PRIMARY:
            time.sleep(0.25)
        with db_session:
            state = ha_queries.state()
            if state["role"] != HaRole.PRIMARY.value:  # the drain did not finish: go anyway
                _promote(state, actor, "make_primary")
            ha_queries.update_state(failback_requested_at=None)
    with db_session:
        found = _status(ha_queries.state(), _fingerprint(ctx))
    write_role(ctx.config.data_dir, found.settings.role)
    return found


@db_session
def finish_failback() -> None:
    """The primary has sent everything: this side takes the role."""
    state = ha_queries.state()
    if state["role"] == HaRole.STANDBY.value and state["failback_requested_at"] is not None:
        _promote(state, SYSTEM, "make_primary")
        ha_queries.update_state(failback_requested_at=None)


def _next_epoch(state: dict[str, Any]) -> int:
    """Past every promotion either side has made: a new primary is the newest of the two."""
    return max(int(state["epoch"]), int(state["peer_epoch"])) + 1


def _reachable(state: dict[str, Any]) -> bool:
    seen = state["peer_seen_at"]
    return seen is not None and (utcnow() - seen).total_seconds() < REACHABLE_SECONDS


def _promote(state: dict[str, Any], actor: Actor, why: str) -> None:
    ha_queries.update_state(
        role=HaRole.PRIMARY.value, epoch=_next_epoch(state), promoted_at=utcnow()
    )
    audit.record(actor, AuditType.SETTINGS, "ha_promoted", why=why)
    events.record(EventKind.HA_ROLE_CHANGED, actor, role=HaRole.PRIMARY.value, why=why)


# --- for the failover service --------------------------------------------------------------


@db_session
def side(master: MasterKey) -> Side:
    state = ha_queries.state()
    secret = master.open_text(state["secret_sealed"]) if state["secret_sealed"] else ""
    promoted = state["promoted_at"]
    return Side(
        settings=_settings_of(state),
        secret=secret,
        peer_pem=state["peer_cert"],
        epoch=int(state["epoch"]),
        promoted_at=promoted.isoformat() if promoted else "",
        sync_requested_at=state["sync_requested_at"],
        last_sync_at=state["last_sync_at"],
        failback_requested=state["failback_requested_at"] is not None,
        vrrp_state=state["vrrp_state"],
    )


def peer_keys(master: MasterKey) -> list[bytes]:
    """The paired peers' master keys (the file store's readers ask for them)."""
    with db_session:
        sealed = ha_queries.peer_keys_sealed()
    return [base64.b64decode(master.open_text(s)) for s in sealed]


@db_session
def record_pairing(master: MasterKey, peer_pem: str, peer_keys: list[bytes]) -> None:
    """Pin the peer's certificate, keep its master keys sealed by ours, forget the secret."""
    for key in peer_keys:
        peer = MasterKey(key)
        if peer.fingerprint == master.fingerprint:
            continue  # ours, held by the peer since an earlier pairing
        sealed = master.seal_text(base64.b64encode(key).decode())
        ha_queries.add_peer_key(peer.fingerprint.hex(), sealed, utcnow())
        master.add_peer(key)
    ha_queries.update_state(peer_cert=peer_pem, paired_at=utcnow(), secret_sealed="", last_error="")
    audit.record(SYSTEM, AuditType.SETTINGS, "ha_paired")


# What the console can say of the pair's last problem, in its own words (the detail, the
# peer's or the system's text, beside it).
PROBLEMS = (
    "unreachable", "tls", "secret_differs", "not_waiting", "too_many_attempts", "not_paired",
    "refused", "isolated", "listen", "sync", "other",
)  # fmt: skip


@db_session
def note_peer(peer_role: str, peer_epoch: int = 0) -> None:
    """The peer answered: its role and promotions; no problem now."""
    ha_queries.update_state(
        peer_seen_at=utcnow(), peer_role=peer_role, peer_epoch=peer_epoch, last_error=""
    )


@db_session
def note_problem(problem: str, detail: str) -> None:
    """Why the last exchange with the peer failed: a word of PROBLEMS, then the detail."""
    word = problem if problem in PROBLEMS else "other"
    ha_queries.update_state(last_error=f"{word}|{detail[:280]}")


@db_session
def note_vrrp(state: str) -> None:
    """keepalived's state (MASTER, BACKUP, FAULT) as its notify script last wrote it."""
    ha_queries.update_state(vrrp_state=state)


@db_session
def take_over(why: str, silent_seconds: float) -> None:
    """The standby becomes primary: it records, accepts uploads and pulls, its console is
    writable; the TAKEOVER alarm tells the administrators."""
    state = ha_queries.state()
    if state["role"] != HaRole.STANDBY.value:
        return
    _promote(state, SYSTEM, why)
    log.warning("taking over as primary: %s (primary silent %.1f s)", why, silent_seconds)
    alarms.raise_alarm(
        AlarmEvent.TAKEOVER, value=silent_seconds, subject=state["peer_address"],
        peer=state["peer_address"], why=why,
    )  # fmt: skip


@db_session
def step_down(peer_epoch: int) -> None:
    """A newer primary is there: this side becomes its standby (and hands over what it
    recorded alone); never back without the administrator."""
    state = ha_queries.state()
    if state["role"] != HaRole.PRIMARY.value:
        return
    ha_queries.update_state(role=HaRole.STANDBY.value)
    audit.record(SYSTEM, AuditType.SETTINGS, "ha_stepped_down", peer_epoch=peer_epoch)
    events.record(EventKind.HA_ROLE_CHANGED, SYSTEM, role=HaRole.STANDBY.value, why="newer_primary")
    log.warning("a newer primary (epoch %d) is there: this appliance is its standby", peer_epoch)


# --- what the primary sends -------------------------------------------------------------------


@dataclass
class Outgoing:
    """One batch for the peer: the entries up to last_id, what they mean now. Each item
    carries its number ("n"), by which the peer asks for files, whatever it leaves out."""

    last_id: int
    items: list[dict[str, Any]] = field(default_factory=list)
    files: dict[int, tuple[str, int]] = field(default_factory=dict)  # item number: relpath, size

    def add(self, item: dict[str, Any], file: tuple[str, int] | None = None) -> None:
        n = len(self.items)
        self.items.append({**item, "n": n})
        if file is not None:
            self.files[n] = file

    def add_recording(self, recording_id: int) -> None:
        payload = ha_queries.recording_payload(recording_id)
        if payload is None:
            return  # gone since: its deletion follows
        row = payload["row"]
        live = row.get("deleted_at") is None
        self.add(
            {"t": "recording", "payload": payload},
            (row["relpath"], int(row["disk_size"])) if live else None,
        )

    def add_configuration(self, ended: set[int]) -> None:
        self.add(
            {"t": "configuration", "tables": ha_queries.configuration(), "ended": sorted(ended)}
        )


@db_session
def outgoing(after_id: int, settings: HaSettings, handover: bool) -> Outgoing | None:
    """The next batch after `after_id`, or None when the peer has everything."""
    found = event_queries.after(after_id, BATCH)
    if not found:
        return None
    batch = Outgoing(found[-1].id)
    recording_ids: dict[int, None] = {}  # in order, once each: the state now is sent
    deletions: list[dict[str, Any]] = []
    configuration = False
    ended: set[int] = set()
    for event in found:
        change = change_of(
            event.kind,
            recordings=settings.recording_sync,
            configuration=settings.config_sync,
            handover=handover,
        )
        recording_id = event.params.get("id")
        if change is Change.RECORDING and isinstance(recording_id, int):
            recording_ids[recording_id] = None
        elif change is Change.DELETION and isinstance(recording_id, int):
            identity = ha_queries.identity_of(recording_id)
            if identity is not None:
                device_id, call_id, sha256 = identity
                deletions.append({
                    "t": "deletion", "device_id": device_id, "call_id": call_id, "sha256": sha256,
                    "reason": str(event.params.get("reason", "deleted")), "at": event.at.isoformat(),
                })  # fmt: skip
        elif change is Change.CONFIGURATION:
            configuration = True
            if event.kind in _SESSIONS_ENDED and isinstance(recording_id, int):
                ended.add(recording_id)  # these events' "id" is the user's
    if configuration:  # the configuration as it is now, before the rows that refer to it
        batch.add_configuration(ended)
    for item in deletions:
        batch.add(item)
    for recording_id in recording_ids:
        batch.add_recording(recording_id)
    return batch


@db_session
def needs_full_copy(applied: int) -> bool:
    """A standby that has applied nothing of ours, or whose next entry retention removed,
    gets everything: the configuration, then every recording."""
    oldest = ha_queries.oldest_event_id()
    return applied == 0 or (oldest is not None and applied + 1 < oldest)


@db_session
def full_copy(
    after_recording_id: int | None, settings: HaSettings, last_id: int
) -> tuple[Outgoing, int] | None:
    """The next batch of a full copy (the configuration first, then the recordings in id
    order, deleted ones too), and the last recording in it; None when done. The first
    call is after None."""
    first = after_recording_id is None
    after = after_recording_id or 0
    ids = ha_queries.recording_ids_after(after, BATCH) if settings.recording_sync else []
    if not ids and not (first and settings.config_sync):
        return None
    batch = Outgoing(last_id)
    if first and settings.config_sync:
        batch.add_configuration(set())
    for recording_id in ids:
        batch.add_recording(recording_id)
    return batch, (ids[-1] if ids else after)


@db_session
def newest_event_id() -> int:
    return event_queries.latest_id()


@db_session
def note_synced(last_applied: int, complete: bool) -> None:
    """After a round: the lag the peer still has, and when it last caught up."""
    count, oldest = ha_queries.lag_after(last_applied)
    now = utcnow()
    values: dict[str, Any] = {
        "lag_recordings": count,
        "lag_seconds": 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds()),
        "sync_requested_at": None,
        "peer_seen_at": now,
    }
    if complete:
        values["last_sync_at"] = now
    ha_queries.update_state(**values)
    event_queries.save_cursor(event_queries.PEER_READER, last_applied)


# --- what the standby applies ---------------------------------------------------------------


def checked_items(items: list[Any]) -> list[dict[str, Any]]:
    """A batch as the peer sent it, each item checked: a recording of the right types
    with a path of the store's own form, a configuration that keeps an administrator, a
    deletion naming a call. Anything else is left out (and said in the log)."""
    kept: list[dict[str, Any]] = []
    for item in items:
        kind = item.get("t") if isinstance(item, dict) else None
        try:
            n = item.get("n") if isinstance(item, dict) else None
            if not isinstance(n, int):
                raise InvalidInput("an item without its number")
            if kind == "recording":
                kept.append({"t": kind, "n": n, "payload": checked_recording(item.get("payload"))})
            elif kind == "configuration":
                tables = item.get("tables")
                if not isinstance(tables, dict) or not has_an_administrator(tables.get("app_user")):
                    raise InvalidInput("a configuration without an enabled administrator")
                ended = [int(u) for u in item.get("ended", []) if isinstance(u, int)]
                kept.append({"t": kind, "n": n, "tables": tables, "ended": ended})
            elif (
                kind == "deletion"
                and isinstance(item.get("call_id"), str)
                and isinstance(item.get("sha256"), str)
            ):
                device = item.get("device_id")
                datetime.fromisoformat(str(item.get("at")))
                kept.append({
                    "t": kind, "n": n, "device_id": device if isinstance(device, int) else None,
                    "call_id": item["call_id"], "sha256": item["sha256"],
                    "reason": str(item.get("reason", "deleted"))[:20], "at": str(item["at"]),
                })  # fmt: skip
            else:
                raise InvalidInput(f"an item of kind {kind!r}")
        except (InvalidInput, ValueError, TypeError) as exc:
            log.warning("left out an item the peer sent: %s", exc)
    return kept


@db_session
def files_wanted(ctx: AppContext, items: list[dict[str, Any]]) -> list[int]:
    """The numbers of the items whose file this side lacks."""
    wanted = []
    for item in items:
        if item.get("t") != "recording":
            continue
        row = item["payload"]["row"]
        if row.get("deleted_at") is not None:
            continue
        here = ha_queries.find_replica(row.get("device_id"), row["call_id"], row["sha256"])
        if here is not None and ctx.store.path(here[1]).exists():
            continue
        wanted.append(int(item["n"]))
    return wanted


def _free_sn(sn: str) -> str:
    candidate, n = sn, 0
    while recording_queries.sn_taken(candidate):
        n += 1
        candidate = sn_with_suffix(sn, n)
    return candidate


def apply(ctx: AppContext, peer: str, last_id: int, items: list[dict[str, Any]]) -> int:
    """Apply one batch in one transaction with the cursor, so a restart on either side
    resumes exactly; the recordings applied. Files were written before."""
    removed: list[str] = []
    applied = 0
    with db_session:
        for item in items:
            kind = item.get("t")
            if kind == "configuration":
                ended = ha_queries.apply_configuration(item["tables"])
                for user_id in sorted({*ended, *map(int, item.get("ended", []))}):
                    account_queries.delete_sessions_of(user_id)
            elif kind == "recording":
                row = item["payload"]["row"]
                before = ha_queries.find_replica(
                    row.get("device_id"), row["call_id"], row["sha256"]
                )
                ha_queries.apply_recording(item["payload"], _free_sn)
                applied += 1
                if row.get("deleted_at") is not None and before and before[3] is None:
                    removed.append(before[1])
            elif kind == "deletion":
                relpath = ha_queries.apply_deletion(
                    item.get("device_id"), item["call_id"], item["sha256"], item["reason"],
                    datetime.fromisoformat(item["at"]),
                )  # fmt: skip
                if relpath:
                    removed.append(relpath)
        ha_queries.set_applied(peer, last_id)
        if ha_queries.state()["role"] == HaRole.STANDBY.value:
            # A standby's "last sync" is when the primary's changes last came in; a
            # primary taking a handover has not thereby synced its standby.
            ha_queries.update_state(last_sync_at=utcnow(), peer_seen_at=utcnow())
    for relpath in removed:
        if STORED_PATH.fullmatch(relpath):  # only ever a recording's file
            ctx.store.remove(relpath)
    return applied


@db_session
def applied_from(peer: str) -> int:
    return ha_queries.applied(peer)


# --- the role as other processes see it without asking the database ---------------------------

# Written by whoever changes the role (the settings, "make primary", the failover service's
# takeover and stepping down) and every second by the failover service, whose freshness
# keepalived's check reads (ha/vrrp.py). The other processes read it instead of asking the
# database, which the capture never waits on. A stale file still says the last role: a
# stalled failover service must not turn a standby writable.
ROLE_FILE = "ha/role"


def write_role(data_dir: Path, role: HaRole) -> None:
    path = data_dir / ROLE_FILE
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".role.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(role.value, encoding="ascii")
    os.replace(tmp, path)


def standby_now(data_dir: Path) -> bool:
    """Whether this appliance is a standby now: the capture answers 503 and the console is
    read-only. Cheap (a short read): asked per INVITE and per mutation."""
    try:
        return (data_dir / ROLE_FILE).read_text(encoding="ascii").strip() == HaRole.STANDBY.value
    except OSError:
        return False
