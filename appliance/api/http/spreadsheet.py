"""Excel (.xlsx) writing for list exports, with formula-looking cells neutralised."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
_PHONE = re.compile(r"^\+?[0-9*#]+$")


def safe_cell(value: object) -> object:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe; characters
    XML forbids (a failed sign-in's login may hold them) become U+FFFD, else the whole
    export would fail on one cell.

    A plain telephone number such as +8613800000000 is left as it is: it cannot run.
    """
    if not isinstance(value, str):
        return value
    text: str = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
    if text.startswith(_DANGEROUS) and not _PHONE.match(text):
        return "'" + text
    return text


# A time is a real date-time cell (sortable, filterable), shown in the order the manual uses.
DATE_TIME_FORMAT = "yyyy/mm/dd hh:mm:ss"


def _cell(ws: WriteOnlyWorksheet, value: object) -> object:
    if isinstance(value, datetime):
        # Excel has no time zones: the caller gives the appliance's wall-clock time.
        # Whole seconds, as the format shows them (Excel keeps milliseconds at best).
        wall = datetime.combine(value.date(), value.time()).replace(microsecond=0)
        cell = WriteOnlyCell(ws, value=wall)
        cell.number_format = DATE_TIME_FORMAT
        return cell
    return safe_cell(value)


@dataclass(frozen=True)
class Sheet:
    title: str
    header: Sequence[str]
    rows: Iterable[Sequence[object]]
    widths: Sequence[int] = ()  # column widths in characters, so dates and SNs show whole


def write_xlsx(
    title: str,
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    widths: Sequence[int] = (),
) -> str:
    """Write a one-sheet workbook to a temporary file; return its path."""
    return write_workbook([Sheet(title, header, rows, widths)])


def write_workbook(sheets: Sequence[Sheet]) -> str:
    """Write sheets in openpyxl's streaming mode to a temporary file; return its path."""
    wb = Workbook(write_only=True)
    for sheet in sheets:
        ws = wb.create_sheet(sheet.title)
        for index, width in enumerate(sheet.widths):
            ws.column_dimensions[chr(ord("A") + index)].width = width
        ws.append(list(sheet.header))
        for row in sheet.rows:
            ws.append([_cell(ws, v) for v in row])
    fd, path = tempfile.mkstemp(prefix="export-", suffix=".xlsx")
    os.close(fd)
    try:
        wb.save(path)
    except BaseException:
        os.unlink(path)
        raise
    return path
