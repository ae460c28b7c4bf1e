"""Excel (.xlsx) writing for list exports, with formula-looking cells neutralised."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Sequence
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


def write_xlsx(
    title: str,
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    widths: Sequence[int] = (),
) -> str:
    """Write a workbook in openpyxl's streaming mode to a temporary file; return its path.

    widths: column widths in characters, so dates and SNs show whole when the file opens.
    """
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title)
    for index, width in enumerate(widths):
        ws.column_dimensions[chr(ord("A") + index)].width = width
    ws.append(list(header))
    for row in rows:
        ws.append([_cell(ws, v) for v in row])
    fd, path = tempfile.mkstemp(prefix="export-", suffix=".xlsx")
    os.close(fd)
    try:
        wb.save(path)
    except BaseException:
        os.unlink(path)
        raise
    return path
