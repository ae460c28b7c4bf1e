"""Downloads: recordings as a zip, the list and the audit trail as Excel."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import partial
from typing import TypeVar

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse

from appliance import words
from appliance.api.admission import REPORTS, person_of
from appliance.api.http.audio import parse_format
from appliance.api.http.query import filter_from_query
from appliance.api.http.responses import error, error_of, require_user
from appliance.api.http.selection import selection_from_query
from appliance.api.http.spreadsheet import Sheet, write_workbook, write_xlsx
from appliance.api.http.zipstream import stream_zip
from appliance.domain.alarms import AlarmFilter
from appliance.domain.audit import AuditFilter
from appliance.domain.backup import BackupLogFilter
from appliance.domain.organization import Action
from appliance.domain.recordings import RecordingFilter, format_duration
from appliance.domain.reports import ExtensionSort, ReportMeasure, ReportTemplate
from appliance.errors import IntegrityError, InvalidInput
from appliance.media.store import INTEGRITY_MESSAGE, storage_failure
from appliance.services import alarms, audit, backup_log, exports, reports
from appliance.services import audio as stored_audio
from appliance.services.context import Actor, AppContext, to_local, to_utc, utcnow

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_AUDIT_EXPORT = 1_000_000
DAMAGED_NOTE = "damaged-recordings.txt"

RECORDING_COLUMNS = [
    "device",
    "caller",
    "callerOrg",
    "callee",
    "calleeOrg",
    "startedAt",
    "duration",
    "score",
    "tags",
    "plays",
    "sn",
]
RECORDING_WIDTHS = [18, 16, 14, 16, 14, 20, 10, 8, 20, 10, 22]
AUDIT_COLUMNS = ["at", "account", "name", "type", "details", "ip"]
AUDIT_WIDTHS = [20, 14, 14, 14, 60, 16]
ALARM_COLUMNS = [
    "id",
    "raisedAt",
    "event",
    "level",
    "state",
    "message",
    "value",
    "threshold",
    "clearedAt",
    "acknowledged",
]
ALARM_WIDTHS = [8, 20, 22, 8, 10, 50, 8, 8, 20, 14]
MAX_ALARM_EXPORT = 100_000
BACKUP_LOG_COLUMNS = ["at", "result", "description"]
BACKUP_LOG_WIDTHS = [20, 12, 90]
MAX_BACKUP_LOG_EXPORT = 100_000
REPORT_COLUMNS = [
    "device",
    "extension",
    "name",
    "organization",
    "calls",
    "talkTime",
    "averageSeconds",
    "outgoing",
    "incoming",
    "voicemails",
]
REPORT_WIDTHS = [18, 12, 14, 16, 10, 14, 14, 10, 10, 12]
SERIES_COLUMNS = ["label", "calls", "talkTime", "talkSeconds", "voicemails", "peakConcurrent"]
SERIES_WIDTHS = [20, 10, 14, 12, 12, 14]
HEAT_COLUMNS = ["weekday", "hour", "calls", "talkSeconds"]


@dataclass(frozen=True)
class ReportParams:
    """A report's parameters as the export takes them from a query (the filter apart)."""

    template: ReportTemplate | None = None
    at: date | None = None
    measure: ReportMeasure = ReportMeasure.CALLS
    sort: ExtensionSort = ExtensionSort.EXTENSION
    descending: bool = False


def _lang(request: Request) -> str:
    """The exporting person's language (the console sends it), else the default."""
    return words.language(request.query_params.get("lang"))


def _stamp() -> str:
    """Now in the appliance's time zone, for a file name a person reads."""
    return to_local(utcnow()).strftime("%Y%m%d%H%M%S")


def _local(value: datetime) -> datetime:
    return to_local(to_utc(value))


async def _build_xlsx(build: Callable[[], str]) -> str:
    """Run build() off the loop; a full or failing disk is a storage error, not a bare 500."""
    try:
        return await run_in_threadpool(build)
    except OSError as exc:
        raise storage_failure(exc, "writing a spreadsheet") from exc


def _xlsx_response(path: str, filename: str) -> Response:
    return FileResponse(
        path,
        media_type=XLSX,
        filename=filename,
        background=BackgroundTask(os.unlink, path),
    )


async def download_recordings(request: Request) -> Response:
    app: AppContext = request.app.state.ctx
    actor = await require_user(request)
    fmt = parse_format(request.query_params.get("format"))
    selection = selection_from_query(request.query_params)
    if request.method == "HEAD":
        # Asked before a download: the answer a GET would start with, nothing built or logged.
        count = await run_in_threadpool(exports.selected_count, actor, selection, Action.DOWNLOAD)
        return (
            Response(media_type="application/zip") if count else error(404, "no recordings match")
        )
    entries = await run_in_threadpool(exports.archive, actor, selection, fmt)
    if not entries:
        return error(404, "no recordings match")
    # A file is checked before its entry starts: a damaged recording is left out and named
    # in a note at the end of the zip, never sent cut short. Checking all of them before
    # the first byte would keep a large selection's download silent for minutes.
    if len(entries) == 1:
        entries, damaged = await run_in_threadpool(_verified, app, entries)
        if damaged:
            return error_of(IntegrityError(INTEGRITY_MESSAGE))

    def content(audio: stored_audio.AudioFile) -> Iterable[bytes]:
        # Headers are out already: wait for a conversion slot rather than cut the zip.
        full = stored_audio.transcode(app, audio, fmt, patient=True)
        return stored_audio.read_range(app, full, 0, full.size - 1) if full.size else iter(())

    def parts() -> Iterator[tuple[str, Callable[[], Iterable[bytes]]]]:
        damaged: list[stored_audio.AudioFile] = []
        for name, audio in entries:
            good, bad = _verified(app, [(name, audio)])
            damaged += bad
            if good:
                yield name, partial(content, audio)
        if damaged:
            note = "".join(
                f"{audio.sn}\t{INTEGRITY_MESSAGE}; not in this archive\n" for audio in damaged
            )
            yield DAMAGED_NOTE, partial(iter, [note.encode()])

    body = stream_zip(parts())
    filename = f"recordings_{len(entries)}_{_stamp()}.zip"
    return StreamingResponse(
        body,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _verified(
    app: AppContext, entries: list[tuple[str, stored_audio.AudioFile]]
) -> tuple[list[tuple[str, stored_audio.AudioFile]], list[stored_audio.AudioFile]]:
    good, damaged = [], []
    for name, audio in entries:
        try:
            stored_audio.verify(app, audio)
            good.append((name, audio))
        except IntegrityError:
            damaged.append(audio)
    return good, damaged


async def export_recordings(request: Request) -> Response:
    actor = await require_user(request)
    lang = _lang(request)
    selection = selection_from_query(request.query_params)
    if request.method == "HEAD":
        await run_in_threadpool(exports.selected_count, actor, selection, Action.EXPORT)
        return Response(media_type=XLSX)

    def build() -> str:
        rows = (
            [
                v.device,
                v.caller,
                v.caller_org or "",
                v.callee,
                v.callee_org or "",
                _local(v.started_at),
                format_duration(v.duration),
                "" if v.score is None else v.score,
                ", ".join(t.name for t in v.tags),
                v.play_count,
                v.sn,
            ]
            for v in exports.export_views(actor, selection)
        )
        headers = words.columns(lang, "recordingColumns", RECORDING_COLUMNS)
        return write_xlsx("recordings", headers, rows, RECORDING_WIDTHS)

    path = await _build_xlsx(build)
    return _xlsx_response(path, f"recordings_{_stamp()}.xlsx")


async def export_audit(request: Request) -> Response:
    actor = await require_user(request)
    params = request.query_params
    try:
        f = filter_from_query(AuditFilter, params)
    except InvalidInput as exc:
        if exc.code != "not_a_time":
            raise
        return error(400, "atFrom and atTo must be ISO 8601 times")
    lang = _lang(request)
    if request.method == "HEAD":
        actor.require_admin()
        return Response(media_type=XLSX)

    def build() -> str:
        found = audit.export_rows(actor, f, MAX_AUDIT_EXPORT)
        rows = (
            [
                _local(r.at),
                r.account,
                words.person(lang, r.account, r.name),
                words.audit_type(lang, r.type),
                words.audit_entry(lang, r.event, json.loads(r.params), r.details),
                r.ip,
            ]
            for r in found
        )
        headers = words.columns(lang, "auditColumns", AUDIT_COLUMNS)
        return write_xlsx("audit", headers, rows, AUDIT_WIDTHS)

    path = await _build_xlsx(build)
    return _xlsx_response(path, f"audit_{_stamp()}.xlsx")


# The list filters with a checked() of their own, as the exports take them from a query.
F = TypeVar("F", AlarmFilter, BackupLogFilter)


async def _filtered(request: Request, kind: type[F]) -> tuple[Actor, F, str] | Response:
    """An export's who, filter and language; the refusal, or HEAD's answer, as a response."""
    actor = await require_user(request)
    try:
        f = filter_from_query(kind, request.query_params).checked()
    except InvalidInput as exc:
        return error_of(exc)
    if request.method == "HEAD":
        actor.require_admin()
        return Response(media_type=XLSX)
    return actor, f, _lang(request)


async def export_alarms(request: Request) -> Response:
    """The alarm list as the page filters it, in the exporter's language."""
    asked = await _filtered(request, AlarmFilter)
    if isinstance(asked, Response):
        return asked
    actor, f, lang = asked

    def build() -> str:
        rows = (
            [
                a.id,
                _local(a.raised_at),
                words.alarm_word(lang, "alarmEvents", a.event),
                words.alarm_word(lang, "alarmLevels", a.level),
                words.alarm_word(lang, "alarmStates", a.state),
                words.alarm_text(lang, a.event, a.value, a.threshold, a.params),
                "" if a.value is None else round(a.value, 1),
                "" if a.threshold is None else round(a.threshold),
                "" if a.cleared_at is None else _local(a.cleared_at),
                a.acknowledged_by or "",
            ]
            for a in alarms.export_rows(actor, f, MAX_ALARM_EXPORT)
        )
        headers = words.columns(lang, "alarmColumns", ALARM_COLUMNS)
        return write_xlsx("alarms", headers, rows, ALARM_WIDTHS)

    path = await _build_xlsx(build)
    return _xlsx_response(path, f"alarms_{_stamp()}.xlsx")


async def export_backup_log(request: Request) -> Response:
    """The backup log as the page filters it, in the exporter's language (the manual's 导出)."""
    asked = await _filtered(request, BackupLogFilter)
    if isinstance(asked, Response):
        return asked
    actor, f, lang = asked

    def build() -> str:
        rows = (
            [
                _local(e.at),
                words.words(lang)["backupResults"].get(e.result.value, e.result.value),
                words.backup_description(
                    lang, e.target, e.event, e.params,
                    {"recordings": e.recordings, "voicemails": e.voicemails},
                ),
            ]
            for e in backup_log.export_rows(actor, f, MAX_BACKUP_LOG_EXPORT)
        )  # fmt: skip
        headers = words.columns(lang, "backupColumns", BACKUP_LOG_COLUMNS)
        return write_xlsx("backup log", headers, rows, BACKUP_LOG_WIDTHS)

    path = await _build_xlsx(build)
    return _xlsx_response(path, f"backup_log_{_stamp()}.xlsx")


def _report_request(request: Request) -> reports.ReportRequest:
    params = request.query_params
    chosen = filter_from_query(ReportParams, params)
    if chosen.template is None:
        raise InvalidInput("template is required", field="template", code="required")
    times = {}
    for name in ("from", "to"):
        raw = params.get(name)
        if raw:
            try:
                given = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            except ValueError:
                raise InvalidInput(
                    f"{name} must be an ISO 8601 time", field=name, code="not_a_time"
                ) from None
            try:
                times[name] = to_utc(given)
            except InvalidInput as exc:  # a time UTC's years do not hold: say which
                exc.field = name
                raise
    conditions = filter_from_query(RecordingFilter, params)
    return reports.ReportRequest(
        template=chosen.template,
        at=chosen.at,
        start=times.get("from"),
        end=times.get("to"),
        filter=replace(conditions, kind=None),
        measure=chosen.measure,
        sort=chosen.sort,
        descending=chosen.descending,
    )


async def export_report(request: Request) -> Response:
    """A report as a workbook: the table per extension, the chart's series, the heat map."""
    actor = await require_user(request)
    lang = _lang(request)
    wanted = _report_request(request)
    found = await REPORTS.run(person_of(actor), reports.export, actor, wanted)
    if request.method == "HEAD":
        return Response(media_type=XLSX)
    weekdays = words.words(lang)["weekdays"]

    def build() -> str:
        table = (
            [
                e.device,
                e.extension,
                e.name,
                e.organization or "",
                e.calls,
                format_duration(e.talk_seconds),
                e.average_seconds,
                e.outgoing,
                e.incoming,
                e.voicemails,
            ]
            for e in found.extensions
        )
        no_department = words.words(lang)["reportNoDepartment"]
        series = (
            [
                p.label or no_department,
                p.calls,
                format_duration(p.talk_seconds),
                p.talk_seconds,
                p.voicemails,
                "" if p.peak_concurrent is None else p.peak_concurrent,
            ]
            for p in found.series
        )
        heat = ([weekdays[c.weekday], c.hour, c.calls, c.talk_seconds] for c in found.heat_map)
        return write_workbook(
            [
                Sheet(
                    "extensions",
                    words.columns(lang, "reportColumns", REPORT_COLUMNS),
                    table,
                    REPORT_WIDTHS,
                ),
                Sheet(
                    "series",
                    words.columns(lang, "seriesColumns", SERIES_COLUMNS),
                    series,
                    SERIES_WIDTHS,
                ),
                Sheet("heatmap", words.columns(lang, "heatColumns", HEAT_COLUMNS), heat),
            ]
        )

    path = await _build_xlsx(build)
    name = wanted.template.value.lower()
    return _xlsx_response(path, f"report_{name}_{_stamp()}.xlsx")
