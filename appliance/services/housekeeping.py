"""The scheduler's jobs: circular recording (R-STO-4) and sweeping orphaned files."""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pony.orm import db_session

from appliance.db import recording_queries
from appliance.services import recordings, settings
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


def enforce_disk_limit(
    ctx: AppContext, usage: Callable[[Path], float] = disk_usage_percent
) -> CircularResult:
    """Delete the oldest recordings until the data disk is under the usage limit."""
    with db_session:
        limit = settings.current().disk_usage_limit
    before = now = usage(ctx.config.data_dir)
    deleted = 0
    while now > limit:
        with db_session:
            oldest = recording_queries.oldest_live(DELETE_BATCH)
        if not oldest:
            log.warning("disk at %.1f%% (limit %d%%) with no recordings left", now, limit)
            break
        # One at a time: stop as soon as the disk is under the limit.
        for recording_id in oldest:
            deleted += recordings.delete(ctx, SYSTEM, [recording_id], reason="circular recording")
            now = usage(ctx.config.data_dir)
            if now <= limit:
                break
    if deleted:
        log.info(
            "circular recording: deleted %d recordings, disk %.1f%% -> %.1f%%", deleted, before, now
        )
    return CircularResult(deleted, before, now)


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
            if relpath not in known and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed.append(relpath)
    for relpath in removed:
        log.warning("removed orphaned file %s (no recording refers to it)", relpath)
    return removed
