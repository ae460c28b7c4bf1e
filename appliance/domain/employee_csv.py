"""The employee import file (manual 4.2): template, decoding and row parsing."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

COLUMNS = ("分机号", "姓名", "密码", "联络电话", "所属组织", "角色")
# The column that holds each attribute of an employee, to name it in a row's error.
COLUMN_OF = {
    "extension": "分机号",
    "name": "姓名",
    "password": "密码",
    "phone": "联络电话",
    "organization_id": "所属组织",
    "role_ids": "角色",
}
ROLE_SEPARATOR = "|"
MAX_ROWS = 20_000


def template() -> bytes:
    """The header row, UTF-8 with a BOM and CRLF, so Excel in China opens it correctly."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(COLUMNS)
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM) or GBK/GB18030, as Excel saves CSV on Chinese Windows."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise ValueError("the file is neither UTF-8 nor GBK text") from None


@dataclass(frozen=True)
class CsvRow:
    line: int
    extension: str
    name: str
    password: str
    phone: str
    organization: str
    roles: list[str]


@dataclass(frozen=True)
class RowError:
    """One bad row: its line, the English reason, and the rule (code, params, column) for a
    console to say it in its language (codes as in appliance.errors)."""

    line: int
    reason: str
    code: str = "invalid_format"
    params: dict[str, Any] = field(default_factory=dict)
    column: str | None = None


def parse(text: str) -> tuple[list[CsvRow], list[RowError]]:
    """Rows with their line numbers, and the structural errors found (missing columns...)."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return [], [RowError(1, "the file is empty", "empty_file")]
    except csv.Error as exc:
        return [], [RowError(1, f"not a CSV file: {exc}", "not_csv")]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        return [], [
            RowError(
                1,
                f"missing columns: {', '.join(missing)} (use employee-tpl.csv)",
                "missing_columns",
                {"columns": missing},
            )
        ]
    index = {c: header.index(c) for c in COLUMNS}
    rows: list[CsvRow] = []
    errors: list[RowError] = []
    try:
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(rows) + len(errors) >= MAX_ROWS:
                errors.append(
                    RowError(
                        line,
                        f"more than {MAX_ROWS} rows; split the file",
                        "too_many_rows",
                        {"max": MAX_ROWS},
                    )
                )
                break
            cells = [record[index[c]].strip() if index[c] < len(record) else "" for c in COLUMNS]
            extension, name, password, phone, organization, roles = cells
            missing_cells = [
                attribute
                for attribute, value in (
                    ("extension", extension),
                    ("name", name),
                    ("organization_id", organization),
                )
                if not value
            ]
            if missing_cells:
                spoken = ", ".join(f"{COLUMN_OF[a]} ({a})" for a in missing_cells)
                first = COLUMN_OF[missing_cells[0]]
                errors.append(RowError(line, f"required: {spoken}", "required", {}, first))
                continue
            role_names = [r.strip() for r in roles.split(ROLE_SEPARATOR) if r.strip()]
            rows.append(CsvRow(line, extension, name, password, phone, organization, role_names))
    except csv.Error as exc:
        errors.append(RowError(reader.line_num, f"malformed CSV: {exc}", "not_csv"))
    return rows, errors
