"""POST /api/v1/recordings: a device uploads a finished recording (store-and-forward).

The body is parsed as it arrives: the audio part goes, sealed, into an unnamed scratch
file in the data directory, and the size limit holds while streaming (chunked bodies
too), so an upload costs bounded memory and an oversized one is refused at once.
"""

from __future__ import annotations

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from appliance.api.http.auth import basic_credentials, client_ip
from appliance.api.http.responses import error, error_of
from appliance.domain.recordings import RecordingMeta
from appliance.errors import AccountLocked, AuthenticationFailed, InvalidInput
from appliance.media.store import Scratch
from appliance.services import devices, ingest
from appliance.services.context import Actor, AppContext

FIELDS = ("call_id", "caller", "callee", "started_at", "kind", "direction")
MAX_FIELDS = len(FIELDS) + 4
MAX_FIELD_BYTES = 4096
OVERHEAD = 64 * 1024  # multipart boundaries, part headers and the text fields
FLUSH_BYTES = 1024 * 1024  # audio handed to the scratch file (off the event loop) in these


class TooLarge(Exception):
    pass


class _Form:
    """python-multipart callbacks: text fields in memory (bounded), the audio to pending."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.fields: dict[str, str] = {}
        self.pending: list[bytes] = []
        self.pending_size = 0
        self.audio_size = 0
        self.has_audio = False
        self._files = 0
        self._count = 0
        self._name = ""
        self._is_audio = False
        self._is_file = False
        self._text = bytearray()
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._disposition = b""

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._part_begin,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_header_field": lambda d, s, e: self._header_name.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._header_value.extend(d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
        }

    def _part_begin(self) -> None:
        self._disposition = b""
        self._text.clear()

    def _header_end(self) -> None:
        if bytes(self._header_name).lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            raise InvalidInput('malformed multipart body: a part has no "name"')
        self._name = options[b"name"].decode("utf-8", "replace")
        self._is_file = b"filename" in options
        self._count += 1
        if self._count > MAX_FIELDS + 1:
            raise InvalidInput("malformed multipart body: too many parts")
        if self._is_file:
            self._files += 1
            if self._files > 1:
                raise InvalidInput("malformed multipart body: one file part only ('audio')")
        self._is_audio = self._is_file and self._name == "audio"

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._is_audio:
            self.audio_size += end - start
            if self.audio_size > self.limit:
                raise TooLarge
            self.pending.append(data[start:end])
            self.pending_size += end - start
        elif not self._is_file:
            self._text.extend(data[start:end])
            if len(self._text) > MAX_FIELD_BYTES:
                raise InvalidInput(
                    f"the field {self._name!r} is too long",
                    field=self._name,
                    code="too_long",
                    params={"max": MAX_FIELD_BYTES},
                )

    def _part_end(self) -> None:
        self.has_audio |= self._is_audio  # only a part that was closed counts
        if not self._is_file and self._name in FIELDS:
            self.fields[self._name] = self._text.decode("utf-8", "replace")

    def take(self) -> list[bytes]:
        out, self.pending, self.pending_size = self.pending, [], 0
        return out


def _write_all(scratch: Scratch, pieces: list[bytes]) -> None:
    for piece in pieces:
        scratch.write(piece)


async def _receive(request: Request, boundary: bytes, scratch: Scratch, limit: int) -> _Form:
    form = _Form(limit)
    parser = MultipartParser(boundary, form.callbacks())  # type: ignore[arg-type]
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit + OVERHEAD:
            raise TooLarge
        parser.write(chunk)
        if form.pending_size >= FLUSH_BYTES:
            await run_in_threadpool(_write_all, scratch, form.take())
    parser.finalize()
    await run_in_threadpool(_write_all, scratch, form.take())
    return form


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
    if declared and declared.isdigit() and (len(declared) > 18 or int(declared) > limit + OVERHEAD):
        return error(413, f"the upload is larger than {limit} bytes")
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data":
        return error(400, "the 'audio' file part is missing", field="audio")
    boundary = options.get(b"boundary")
    if not boundary:
        return error(400, "malformed multipart body: missing boundary")
    with app.store.scratch() as scratch:
        try:
            form = await _receive(request, boundary, scratch, limit)
        except TooLarge:
            return error(413, f"the upload is larger than {limit} bytes")
        except FormParserError as exc:
            return error(400, f"malformed multipart body: {exc}")
        if not form.has_audio:
            return error(400, "the 'audio' file part is missing", field="audio")
        actor = Actor(None, device.alias, device.alias, False, client_ip(request), "device")
        try:
            meta = RecordingMeta.parse(form.fields)
            result = await run_in_threadpool(
                ingest.ingest_upload, app, actor, device.id, meta, scratch
            )
        except InvalidInput as exc:
            return error_of(exc)
    body = {"id": str(result.id), "sn": result.sn}
    return JSONResponse(body, status_code=201 if result.created else 200)


def _unauthorized(message: str) -> Response:
    response = error(401, message)
    response.headers["WWW-Authenticate"] = 'Basic realm="recorder", charset="UTF-8"'
    return response
