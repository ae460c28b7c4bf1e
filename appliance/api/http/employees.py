"""The employee import file: the template to download, and the upload of a filled one."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from appliance.api.http.responses import error, require_user
from appliance.domain import employee_csv
from appliance.services import employee_import

MAX_CSV_BYTES = 10 * 1024 * 1024
MAX_IMPORT_BODY = MAX_CSV_BYTES + 64 * 1024  # the file and the multipart framing around it


async def employee_template(request: Request) -> Response:
    await require_user(request)  # any signed-in user may fetch the template
    return Response(
        employee_csv.template(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="employee-tpl.csv"'},
    )


async def import_employees(request: Request) -> Response:
    """201 with the counts; 422 with every bad row and nothing imported: its line, the
    English reason, and the rule (rule, params, column: the CSV header) to say it in a
    console's language."""
    actor = await require_user(request)
    if not actor.is_admin:  # before a byte of the body is read or spooled to disk
        return error(403, "only administrators may import employees")
    try:
        form = await request.form(max_files=1, max_fields=4)
    except (MultiPartException, ValueError, KeyError) as exc:
        return error(400, f"malformed multipart body: {exc}")
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            return error(400, "the 'file' part is missing", field="file")
        data = await upload.read(MAX_CSV_BYTES + 1)
    finally:
        await form.close()
    if len(data) > MAX_CSV_BYTES:
        return error(413, f"the file is larger than {MAX_CSV_BYTES} bytes")
    report = await run_in_threadpool(employee_import.import_employees, actor, data)
    if report.errors:
        return JSONResponse(
            {
                "error": f"{len(report.errors)} bad rows; nothing was imported",
                "rows": [
                    {
                        "line": e.line,
                        "reason": e.reason,
                        "rule": e.code,
                        "params": e.params,
                        "column": e.column,
                    }
                    for e in report.errors
                ],
            },
            status_code=422,
        )
    return JSONResponse({"created": report.created, "updated": report.updated}, status_code=201)
