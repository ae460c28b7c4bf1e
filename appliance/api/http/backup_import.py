"""Importing a backup set uploaded from the console (a .zip of a set's folder, copied off a
disk): the body is the zip, streamed to the data disk, never held in memory; the
passphrase travels in a header, percent-encoded, so that no log line holds it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import unquote

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from appliance.api.http.responses import error, require_user
from appliance.backup import imports
from appliance.services.context import AppContext

MAX_SET_UPLOAD = 8 * 1024**3
PASSPHRASE_HEADER = "x-backup-passphrase"


async def import_backup_upload(request: Request) -> Response:
    """200 with the import's counts and problems (its result says DONE, PARTIAL or FAILED)."""
    actor = await require_user(request)
    if not actor.is_admin:  # before a byte of the body is read or written to disk
        return error(403, "only administrators may import backups")
    try:
        passphrase = unquote(request.headers.get(PASSPHRASE_HEADER, ""), errors="strict")
    except UnicodeDecodeError:
        return error(400, f"{PASSPHRASE_HEADER}: percent-encoded UTF-8", field="passphrase")
    if not passphrase:
        return error(
            400, f"the passphrase is missing (header {PASSPHRASE_HEADER})", field="passphrase"
        )
    ctx: AppContext = request.app.state.ctx
    fd, name = tempfile.mkstemp(prefix="upload-", suffix=".zip", dir=ctx.store.scratch_dir())
    path = Path(name)
    try:
        try:
            with os.fdopen(fd, "wb") as fh:
                async for chunk in request.stream():
                    await run_in_threadpool(fh.write, chunk)
        except ClientDisconnect:
            return error(400, "the upload was cut off")
        include = request.query_params.get("includeConfig") == "true"
        run = await run_in_threadpool(imports.from_upload, ctx, actor, path, passphrase, include)
    finally:
        path.unlink(missing_ok=True)
    return JSONResponse(
        {
            **run.summary(),
            "errorDetail": run.detail,
            "sets": run.sets,
            "problems": [
                {"subject": p.subject, "reason": p.reason, "detail": p.detail}
                for p in run.counts.problems
            ],
        }
    )
