"""The backup log (备份日志): backup runs, imports, and circular recording's deletions,
written by each of them and read by administrators in the console's language."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pony.orm import db_session

from appliance.db import backup_queries
from appliance.domain.alarms import AlarmEvent
from appliance.domain.backup import (
    BackupLogEntry,
    BackupLogFilter,
    BackupResult,
    LogKind,
    RunCounts,
    log_search_text,
)
from appliance.domain.events import EventKind
from appliance.services import alarms, events
from appliance.services.context import Actor, utcnow

PRUNE_BATCH = 5000


def record(
    kind: LogKind,
    target: str,
    result: BackupResult,
    counts: RunCounts,
    event: str,
    **params: Any,
) -> None:
    """One entry, inside the caller's db_session."""
    backup_queries.add_log(
        utcnow(),
        kind,
        target,
        result,
        (counts.recordings, counts.voicemails, counts.bytes),
        event,
        params,
        log_search_text(target, event, params),
    )


def record_deletion(sn: str, caller: str, callee: str, relpath: str) -> None:
    """Circular recording removed a recording: "[删除录音]录音文件(…)", as the manual logs it."""
    record(
        LogKind.DELETE,
        "",
        BackupResult.DONE,
        RunCounts(),
        "deleted_circular",
        sn=sn,
        caller=caller,
        callee=callee,
        file=relpath.rpartition("/")[2],
    )


_EVENTS = {
    BackupResult.DONE: "done",
    BackupResult.PARTIAL: "partial",
    BackupResult.FAILED: "failed",
}


@db_session
def report_run(
    actor: Actor,
    kind: LogKind,
    target: str,
    result: BackupResult,
    counts: RunCounts,
    *,
    alarm_subject: str,
    summary: dict[str, Any],
    **params: Any,
) -> None:
    """A backup run or an import ended: its log entry and event; BACKUP_FAILED raised for
    a run that failed or left recordings behind, cleared by the next good one."""
    event = f"{kind.value.lower()}_{_EVENTS[result]}"
    record(kind, target, result, counts, event, **params)
    events.record(EventKind.BACKUP_RAN, actor, run=kind.value, **summary)
    if kind is not LogKind.BACKUP:
        return
    if result is BackupResult.DONE:
        alarms.clear_alarm(AlarmEvent.BACKUP_FAILED, subject=alarm_subject)
    else:
        alarms.raise_alarm(
            AlarmEvent.BACKUP_FAILED,
            subject=alarm_subject,
            target=str(params.get("location", target)),
            error=f"{params.get('error') or 'problems'} {params.get('detail', '')}".strip()[:300],
        )


@db_session
def search(
    actor: Actor, f: BackupLogFilter, page: int, page_size: int
) -> tuple[int, list[BackupLogEntry]]:
    actor.require_admin()
    return backup_queries.search_log(f, (page - 1) * page_size, page_size)


@db_session
def export_rows(actor: Actor, f: BackupLogFilter, limit: int) -> list[BackupLogEntry]:
    actor.require_admin()
    return backup_queries.search_log(f, 0, limit)[1]


def prune(before: datetime) -> int:
    removed = 0
    while True:
        with db_session:
            n = backup_queries.prune_log(before, PRUNE_BATCH)
        removed += n
        if n < PRUNE_BATCH:
            return removed
