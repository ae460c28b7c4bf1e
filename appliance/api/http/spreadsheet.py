"""Excel (.xlsx) writing for list exports, with formula-looking cells neutralised."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Sequence

from openpyxl import Workbook

_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
_PHONE = re.compile(r"^\+?[0-9*#]+$")


def safe_cell(value: object) -> object:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe.

    A plain telephone number such as +8613800000000 is left as it is: it cannot run.
    """
    if isinstance(value, str) and value.startswith(_DANGEROUS) and not _PHONE.match(value):
        return "'" + value
    return value


def write_xlsx(title: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Write a workbook in openpyxl's streaming mode to a temporary file; return its path."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title)
    ws.append(list(header))
    for row in rows:
        ws.append([safe_cell(v) for v in row])
    fd, path = tempfile.mkstemp(prefix="export-", suffix=".xlsx")
    os.close(fd)
    try:
        wb.save(path)
    except BaseException:
        os.unlink(path)
        raise
    return path
