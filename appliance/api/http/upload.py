"""POST /api/v1/recordings: a device uploads a finished recording (store-and-forward)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from appliance.api.http.auth import basic_credentials, client_ip
from appliance.api.http.responses import error
from appliance.domain.recordings import UploadMeta
from appliance.errors import AccountLocked, AuthenticationFailed, InvalidInput
from appliance.services import devices, recordings
from appliance.services.context import Actor, AppContext

FIELDS = ("call_id", "caller", "callee", "started_at", "kind", "direction")
READ_BLOCK = 1024 * 1024


async def _read_limited(upload: UploadFile, limit: int) -> bytes | None:
    chunks, size = [], 0
    while block := await upload.read(READ_BLOCK):
        size += len(block)
        if size > limit:
            return None
        chunks.append(block)
    return b"".join(chunks)


async def upload_recording(request: Request) -> Response:
    app: AppContext = request.app.state.ctx
    limit = app.config.max_upload_bytes
    creds = basic_credentials(request)
    if creds is None:
        return _unauthorized("device credentials required (HTTP Basic: alias and secret)")
    try:
        device = await run_in_threadpool(
            devices.authenticate, creds[0], creds[1], app.master, client_ip(request)
        )
    except AccountLocked as exc:
        limited = error(429, f"too many failed device authentications; retry in {exc.seconds} s")
        limited.headers["Retry-After"] = str(exc.seconds)
        return limited
    except AuthenticationFailed as exc:
        return _unauthorized(str(exc))
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        return error(413, f"the upload is larger than {limit} bytes")
    try:
        form = await request.form(max_files=1, max_fields=len(FIELDS) + 4)
    except MultiPartException as exc:
        return error(400, f"malformed multipart body: {exc.message}")
    except (ValueError, KeyError) as exc:
        return error(400, f"malformed multipart body: {exc}")
    try:
        audio = form.get("audio")
        if not isinstance(audio, UploadFile):
            return error(400, "the 'audio' file part is missing", field="audio")
        fields = {k: v for k in FIELDS if isinstance(v := form.get(k), str)}
        data = await _read_limited(audio, limit)
        if data is None:
            return error(413, f"the upload is larger than {limit} bytes")
    finally:
        await form.close()
    actor = Actor(None, device.alias, device.alias, False, client_ip(request), "device")
    try:
        meta = UploadMeta.parse(fields)
        result = await run_in_threadpool(
            recordings.ingest_upload, app, actor, device.id, meta, data
        )
    except InvalidInput as exc:
        return error(400, str(exc), field=exc.field)
    body = {"id": str(result.id), "sn": result.sn}
    return JSONResponse(body, status_code=201 if result.created else 200)


def _unauthorized(message: str) -> Response:
    response = error(401, message)
    response.headers["WWW-Authenticate"] = 'Basic realm="recorder", charset="UTF-8"'
    return response
