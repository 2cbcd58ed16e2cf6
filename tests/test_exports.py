"""Exports: CSV cells never become formulas; Excel files hold the same data as typed cells."""

from __future__ import annotations

import csv
import io
from datetime import datetime

from openpyxl import load_workbook

from core.base import escape_cell, to_csv, to_xlsx

HEADERS = ["phone", "name", "attempts", "sent_at"]
DANGEROUS = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tTAB", "\rCR", '=HYPERLINK("http://x")']


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8 names right
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_every_formula_start_is_prefixed_with_a_quote():
    rows = [["+5511999990000", name, 1, None] for name in DANGEROUS]
    parsed = read_csv(to_csv(HEADERS, rows))
    assert parsed[0] == HEADERS
    assert [row[1] for row in parsed[1:]] == ["'" + name for name in DANGEROUS]
    assert {row[0] for row in parsed[1:]} == {"'+5511999990000"}  # a phone is text too


def test_ordinary_text_numbers_and_times_are_left_alone():
    when = datetime(2025, 3, 20, 12, 0, 30)
    parsed = read_csv(
        to_csv(HEADERS, [["5511", 'José, "Zé"\nSilva', -3, when], ["", None, 0, None]])
    )
    assert parsed[1] == ["5511", 'José, "Zé"\nSilva', "-3", "2025-03-20T12:00:30"]
    assert parsed[2] == ["", "", "0", ""]
    assert escape_cell("a=b") == "a=b" and escape_cell("") == ""


def test_excel_holds_the_rows_as_text_never_as_formulas():
    when = datetime(2025, 3, 20, 12, 0, 30)
    rows = [["+5511999990000", name, 2, when] for name in DANGEROUS] + [
        ["+5511888880000", "bell\x07 char", 0, None]
    ]
    workbook = load_workbook(io.BytesIO(to_xlsx(HEADERS, rows, title="Promo: March/2025")))
    sheet = workbook.active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert sheet.title == "Promo  March 2025"
    assert values[0] == HEADERS
    # XML turns a carriage return into a line feed; the text is otherwise untouched.
    assert [row[1] for row in values[1:-1]] == [name.replace("\r", "\n") for name in DANGEROUS]
    assert all(row[1].data_type == "s" for row in sheet.iter_rows(min_row=2))
    assert values[1][0] == "+5511999990000" and values[1][2] == 2 and values[1][3] == when
    assert values[-1][1] == "bell char"  # control characters Excel refuses are dropped
