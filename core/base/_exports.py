"""Tables to files staff download: CSV (formula-escaped) and Excel.

A cell that starts with `=`, `+`, `-` or `@` (or a tab / carriage return, which some spreadsheets
skip before looking) is read as a formula by Excel and LibreOffice when a CSV is opened: a contact
named `=HYPERLINK(...)` would run in the staff's spreadsheet. CSV cells like that get a leading `'`.
Excel files need no prefix: every text cell is written as text, never as a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openpyxl.cell import WriteOnlyCell

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CSV_MIME = "text/csv"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXCEL_SHEET_TITLE_MAX = 31


def escape_cell(value: str) -> str:
    """The text as a spreadsheet will show it, never as a formula."""
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)  # numbers are data, even when negative
    return escape_cell(str(value))


def to_csv(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """UTF-8 CSV with a byte-order mark, so Excel opens accented names correctly."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow([_csv_value(header) for header in headers])
    for row in rows:
        writer.writerow([_csv_value(value) for value in row])
    return buffer.getvalue().encode("utf-8-sig")


def _xlsx_cell(sheet: Any, value: Any) -> WriteOnlyCell:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.replace(tzinfo=None)  # Excel has no time zones; callers pass local times
    if isinstance(value, str):
        cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
        cell.data_type = "s"  # openpyxl would make "=..." a formula
        return cell
    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, datetime):
        cell.number_format = "yyyy-mm-dd hh:mm:ss"
    return cell


def to_xlsx(headers: Sequence[str], rows: Iterable[Sequence[Any]], title: str = "Sheet") -> bytes:
    """An .xlsx workbook with one sheet: a bold-free header row, then the rows as typed cells."""
    # openpyxl (and the numpy it pulls in) is loaded on the first export, not by every process
    # that imports core.base.
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_sheet_title(title))
    sheet.append([_xlsx_cell(sheet, str(header)) for header in headers])
    for row in rows:
        sheet.append([_xlsx_cell(sheet, value) for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _sheet_title(title: str) -> str:
    cleaned = "".join(" " if char in "[]:*?/\\" else char for char in title).strip()
    return (cleaned or "Sheet")[:EXCEL_SHEET_TITLE_MAX]
