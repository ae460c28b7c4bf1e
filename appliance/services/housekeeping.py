"""The scheduler's jobs: circular recording (R-STO-4), sweeping orphaned files, and log
retention (the audit trail, the event log and job runs older than the setting says)."""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pony.orm import db_session

from appliance.db import recording_queries
from appliance.services import alarms, audio, audit, backup_log, catalogue, events, jobs, settings
from appliance.services.context import SYSTEM, AppContext

log = logging.getLogger(__name__)

DELETE_BATCH = 100
ORPHAN_MIN_AGE_S = 3600  # younger files may belong to a row being inserted right now


def disk_usage_percent(path: Path) -> float:
    usage = shutil.disk_usage(path)
    return 100.0 * usage.used / usage.total


@dataclass(frozen=True)
class CircularResult:
    deleted: int
    usage_before: float
    usage_after: float


def delete_oldest_until(
    limit: float,
    usage: Callable[[], float],
    oldest: Callable[[int], list[int]],
    delete: Callable[[int], int],
) -> CircularResult:
    """Delete oldest first, one at a time, until usage is at or under the limit."""
    before = now = usage()
    deleted = 0
    while now > limit:
        batch = oldest(DELETE_BATCH)
        if not batch:
            log.warning("disk at %.1f%% (limit %g%%) with no recordings left", now, limit)
            break
        for recording_id in batch:
            deleted += delete(recording_id)
            now = usage()
            if now <= limit:
                break
    return CircularResult(deleted, before, now)


def enforce_disk_limit(
    ctx: AppContext, usage: Callable[[Path], float] = disk_usage_percent
) -> CircularResult:
    """Circular recording: keep the data disk under the administrator's usage limit."""
    with db_session:
        limit = settings.current().disk_usage_limit

    def oldest(n: int) -> list[int]:
        with db_session:
            return recording_queries.oldest_live(n)

    result = delete_oldest_until(
        limit,
        lambda: usage(ctx.config.data_dir),
        oldest,
        lambda rid: catalogue.delete(ctx, SYSTEM, [rid], event="deleted_circular"),
    )
    if result.deleted:
        log.info(
            "circular recording: deleted %d recordings, disk %.1f%% -> %.1f%%",
            result.deleted,
            result.usage_before,
            result.usage_after,
        )
    return result


def sweep_orphans(ctx: AppContext, min_age_s: float = ORPHAN_MIN_AGE_S) -> list[str]:
    """Remove files no recording names (left by a crash between writing and recording)."""
    root = ctx.config.data_dir
    recordings_dir = ctx.config.recordings_dir
    if not recordings_dir.is_dir():
        return []
    cutoff = time.time() - min_age_s
    removed: list[str] = []
    for dirpath, _, filenames in os.walk(recordings_dir):
        if not filenames:
            continue
        directory = Path(dirpath)
        relative_dir = directory.relative_to(root).as_posix()
        with db_session:
            known = recording_queries.relpaths_under(relative_dir)
        for name in filenames:
            relpath = f"{relative_dir}/{name}"
            path = directory / name
            try:
                young = path.stat().st_mtime >= cutoff
            except FileNotFoundError:
                continue
            if relpath not in known and not young:
                path.unlink(missing_ok=True)
                removed.append(relpath)
    for relpath in removed:
        log.warning("removed orphaned file %s (no recording refers to it)", relpath)
    audio.transcodes(ctx).clean_partial(min_age_s)
    return removed


@dataclass(frozen=True)
class RetentionResult:
    before: datetime
    audit_entries: int
    job_runs: int
    events: int
    alarms: int = 0  # cleared ones; an active alarm stays however old
    backup_log: int = 0


def apply_log_retention(now: datetime | None = None) -> RetentionResult:
    """Remove what is older than the log retention days (manual 4.1, "日志备份天数")."""
    with db_session:
        days = settings.current().log_retention_days
    before = (now or datetime.now(UTC)) - timedelta(days=days)
    result = RetentionResult(
        before,
        audit.prune(before),
        jobs.prune_runs(before),
        events.prune(before),
        alarms.prune(before),
        backup_log.prune(before),
    )
    log.info(
        "log retention (%d days): removed %d audit entries, %d job runs, %d events, "
        "%d cleared alarms, %d backup log entries before %s",
        days,
        result.audit_entries,
        result.job_runs,
        result.events,
        result.alarms,
        result.backup_log,
        before.isoformat(timespec="seconds"),
    )
    return result
