"""GET /api/v1/recordings/{id}/audio: the bytes, with Range, in the stored or asked format."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from appliance.api.http.ranges import RangeNotSatisfiable, parse_range
from appliance.api.http.responses import error, error_of, require_user
from appliance.domain.settings import FileFormat
from appliance.errors import AudioDecodeError, IntegrityError, InvalidInput, NotFound
from appliance.media.codec import EXTENSIONS, MEDIA_TYPES
from appliance.services import audio as stored_audio
from appliance.services.context import AppContext


def parse_format(raw: str | None) -> FileFormat | None:
    """The ?format= of a download; a bad value is a 400 through the app's error mapping."""
    if not raw:
        return None
    try:
        return FileFormat(raw.upper())
    except ValueError:
        raise InvalidInput(
            "format must be mp3 or wav",
            field="format",
            code="one_of",
            params={"allowed": ["mp3", "wav"]},
        ) from None


async def recording_audio(request: Request) -> Response:
    app: AppContext = request.app.state.ctx
    actor = await require_user(request)
    fmt = parse_format(request.query_params.get("format"))
    raw_id = request.path_params["id"]
    if not raw_id.isdigit() or len(raw_id) > 18:
        return error(404, "no such recording")
    try:
        audio = await run_in_threadpool(stored_audio.open_audio, app, actor, int(raw_id), fmt)
    except NotFound:
        return error(404, "no such recording")
    except IntegrityError as exc:
        return error_of(exc)  # checked before any byte is sent: never a 200 cut short
    except AudioDecodeError as exc:
        return error(500, f"the stored audio cannot be read: {exc}")
    size = audio.size
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Disposition": f'inline; filename="{audio.sn}.{EXTENSIONS[audio.file_format]}"',
        "Cache-Control": "private, no-store",
    }
    media_type = MEDIA_TYPES[audio.file_format]
    if request.method == "HEAD":  # Range is for GET alone (RFC 9110, 14.2)
        return Response(headers={**headers, "Content-Length": str(size)}, media_type=media_type)
    try:
        wanted = parse_range(request.headers.get("range"), size)
    except RangeNotSatisfiable:
        return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
    if wanted is None or wanted[0] == 0:
        await run_in_threadpool(stored_audio.count_play, actor, audio.recording_id)
    if size == 0:
        return Response(b"", headers=headers, media_type=media_type)
    start, end = wanted if wanted else (0, size - 1)
    headers["Content-Length"] = str(end - start + 1)
    status = 200
    if wanted is not None:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    body = stored_audio.read_range(app, audio, start, end)
    return StreamingResponse(body, status_code=status, headers=headers, media_type=media_type)
