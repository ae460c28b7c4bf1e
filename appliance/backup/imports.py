"""What the console starts against a configured target: "test target", and importing its
sets with progress that the console's subscription reads (the import runs in the API
process, so its progress lives here, keyed by target)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.backup import importer, runner
from appliance.backup.importer import ImportRun, Progress
from appliance.domain.backup import BackupResult, TargetKind
from appliance.errors import Conflict, TransferFailed
from appliance.services import backups
from appliance.services.context import Actor, AppContext
from appliance.transfer.client import TransferClient
from appliance.transfer.zipped import ZipClient

_progress: dict[int, dict[str, Any]] = {}
_lock = threading.Lock()


@dataclass
class TestResult:
    ok: bool = False
    error: str = ""
    detail: str = ""
    found: str = ""
    space: tuple[int, int] | None = None
    sets: list[str] = field(default_factory=list)


def test_target(ctx: AppContext, actor: Actor, target_id: int) -> TestResult:
    """Sign in, make the folder, read the free space and the sets there."""
    actor.require_admin()
    cfg = backups.target_config(target_id, ctx.master)
    result = TestResult()
    try:
        client = runner.sign_in(cfg)
        try:
            if cfg.where.kind is not TargetKind.LOCAL:
                client.make_dirs("")
            result.space = client.space()
            result.sets = importer.list_sets(client)
        finally:
            client.close()
        result.ok = True
    except TransferFailed as exc:
        result.error, result.detail, result.found = exc.code, exc.detail, exc.found
    return result


def progress_of(target_id: int) -> dict[str, Any] | None:
    with _lock:
        found = _progress.get(target_id)
        return dict(found) if found is not None else None


UPLOAD_KEY = 0  # the progress of an uploaded set's import, beside the targets' ids


def _import_tracked(
    key: int,
    open_client: Callable[[], TransferClient],
    run: Callable[[TransferClient, Progress], ImportRun],
) -> ImportRun:
    """One import at a time per key, its progress readable by the subscription meanwhile."""
    with _lock:
        if key in _progress:
            raise Conflict("an import from there is under way", code="import_running")
        _progress[key] = {"done": 0, "running": True}

    def progress(state: dict[str, Any]) -> None:
        with _lock:
            _progress[key] = {**state, "running": True}

    try:
        client = open_client()
        try:
            return run(client, progress)
        finally:
            client.close()
    except TransferFailed as exc:
        return ImportRun(error=exc.code, detail=exc.detail, result=BackupResult.FAILED)
    finally:
        with _lock:
            _progress.pop(key, None)


def from_target(
    ctx: AppContext,
    actor: Actor,
    target_id: int,
    passphrase: str,
    sets: list[str] | None,
    include_config: bool = False,
) -> ImportRun:
    actor.require_admin()
    cfg = backups.target_config(target_id, ctx.master)
    return _import_tracked(
        target_id,
        lambda: runner.sign_in(cfg),
        lambda client, progress: importer.import_backup(
            ctx, actor, client, passphrase, sets=sets or None, source=cfg.where.label(),
            progress=progress, include_config=include_config,
        ),
    )  # fmt: skip


def from_upload(
    ctx: AppContext, actor: Actor, path: Path, passphrase: str, include_config: bool = False
) -> ImportRun:
    """Import the sets in an uploaded .zip (one set folder, or several, zipped as they lie)."""
    actor.require_admin()
    return _import_tracked(
        UPLOAD_KEY,
        lambda: ZipClient(path),
        lambda client, progress: importer.import_backup(
            ctx, actor, client, passphrase, source=path.name, progress=progress,
            include_config=include_config,
        ),
    )  # fmt: skip
