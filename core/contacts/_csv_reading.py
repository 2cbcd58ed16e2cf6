"""Reading CSV files as people actually save them: any of the usual encodings and delimiters.

Works on a binary file object without reading it all into memory: the encoding is decided from
the byte-order mark, the byte pattern and (for 8-bit files) charset detection, checked over the
whole file in one cheap streaming pass, and the rows are then parsed as a stream. `open_csv` is
the one way in: the preview and the import open a file the same way.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from charset_normalizer import from_bytes

from core.base import ValidationError
from core.i18n import N_, Term

DELIMITERS = [",", ";", "\t", "|"]
SAMPLE_BYTES = 64 * 1024
CHUNK_BYTES = 1024 * 1024
# Spreadsheet cells can be long (notes, addresses); past this a field is a broken quote.
FIELD_SIZE_LIMIT = 1024 * 1024

_NOT_CSV_SIGNATURES = {
    b"PK\x03\x04": N_("an Excel or zip file"),
    b"\xd0\xcf\x11\xe0": N_("an old Excel (.xls) or Office file"),
    b"%PDF": N_("a PDF"),
    b"\x89PNG": N_("an image"),
    b"\xff\xd8\xff": N_("an image"),
    b"GIF8": N_("an image"),
}


@dataclass(frozen=True)
class CsvFormat:
    encoding: str  # a Python codec name
    delimiter: str

    @property
    def encoding_name(self) -> str:
        """What staff read: "UTF-8", "UTF-16", "Windows-1252" (one name everywhere)."""
        return {"utf-8-sig": "UTF-8", "utf-8": "UTF-8", "cp1252": "Windows-1252"}.get(
            self.encoding, self.encoding.upper().replace("_", "-")
        )

    @property
    def delimiter_name(self) -> str:
        return {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}[self.delimiter]


def seekable(fileobj: BinaryIO) -> BinaryIO:
    """The file itself when it can be re-read, else a spooled copy (kept on disk past 16 MB)."""
    try:
        if fileobj.seekable():
            fileobj.seek(0)
            return fileobj
    except (AttributeError, OSError):
        pass
    copy = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115
    shutil.copyfileobj(fileobj, copy)
    copy.seek(0)
    return copy  # type: ignore[return-value]


def detect_encoding(fileobj: BinaryIO) -> str:
    """The file's encoding, or `ValidationError` when it is not a text file."""
    fileobj.seek(0)
    head = fileobj.read(SAMPLE_BYTES)
    fileobj.seek(0)
    if not head.strip():
        raise ValidationError("the file is empty", "file")
    if head.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        for signature, what in _NOT_CSV_SIGNATURES.items():
            if head.startswith(signature):
                raise ValidationError(
                    "this is {what}, not a CSV text file: save it as CSV and upload that",
                    "file",
                    what=Term(what),
                )
        encoding = _utf16_without_bom(head) or _text_encoding(fileobj, head)
    _check_decodes(fileobj, encoding)
    return encoding


def _utf16_without_bom(head: bytes) -> str | None:
    if b"\x00" not in head:
        return None
    sample = head[: len(head) - len(head) % 2]
    even_nuls = sample[0::2].count(0)
    odd_nuls = sample[1::2].count(0)
    half = len(sample) // 2 or 1
    if odd_nuls > 0.3 * half and even_nuls < 0.05 * half:
        return "utf-16-le"
    if even_nuls > 0.3 * half and odd_nuls < 0.05 * half:
        return "utf-16-be"
    raise ValidationError("the file is not text (it contains binary data)", "file")


def _text_encoding(fileobj: BinaryIO, head: bytes) -> str:
    controls = sum(1 for byte in head if byte < 0x20 and byte not in b"\t\n\r\f\x1a")
    if controls > max(2, len(head) // 100):
        raise ValidationError("the file is not text (it contains binary data)", "file")
    if _decodes(fileobj, "utf-8"):
        return "utf-8"
    # Not UTF-8: an 8-bit Western file from Excel or an older system. Detection picks between
    # Windows-1252 and Latin-1; Latin-1 decodes any byte, so it is the last resort.
    best = from_bytes(head, cp_isolation=["cp1252", "latin_1"]).best()
    guess = best.encoding if best is not None else "cp1252"
    return guess if _decodes(fileobj, guess) else "latin_1"


def _decodes(fileobj: BinaryIO, encoding: str) -> bool:
    try:
        _check_decodes(fileobj, encoding)
    except ValidationError:
        return False
    return True


def _check_decodes(fileobj: BinaryIO, encoding: str) -> None:
    """One streaming pass: a file that does not decode is refused before anything is written."""
    decoder = codecs.getincrementaldecoder(encoding)()
    wide = encoding.startswith("utf-16")
    fileobj.seek(0)
    offset = 0
    try:
        while chunk := fileobj.read(CHUNK_BYTES):
            if not wide and b"\x00" in chunk:
                raise ValidationError(
                    "the file is not text (it contains binary data: a NUL byte at byte {byte})",
                    "file",
                    byte=offset + chunk.index(0) + 1,
                )
            decoder.decode(chunk)
            offset += len(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as error:
        raise ValidationError(
            "the file is not valid {encoding} text (byte {byte})",
            "file",
            encoding=encoding,
            byte=offset + error.start + 1,
        ) from None
    finally:
        fileobj.seek(0)


def detect_delimiter(sample: str) -> str:
    """The candidate that splits the first records into the most, and most consistent, columns."""
    lines = sample.splitlines(keepends=True)
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample may end in the middle of a record
    text = "".join(lines[:200])
    best, best_score = ",", (0.0, 0)
    for delimiter in DELIMITERS:
        try:
            records = [r for r in csv.reader(io.StringIO(text), delimiter=delimiter) if any(r)]
        except csv.Error:
            continue
        records = records[:50]
        if not records or len(records[0]) < 2:
            continue
        width = len(records[0])
        consistent = sum(1 for r in records if len(r) == width) / len(records)
        score = (consistent, width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def open_text(fileobj: BinaryIO, encoding: str) -> io.TextIOWrapper:
    fileobj.seek(0)
    return io.TextIOWrapper(fileobj, encoding=encoding, newline="")  # type: ignore[arg-type]


def release(text: io.TextIOWrapper) -> None:
    """Stop using the text layer without closing the caller's file."""
    with contextlib.suppress(ValueError):
        text.detach()


def detect_format(fileobj: BinaryIO) -> CsvFormat:
    encoding = detect_encoding(fileobj)
    text = open_text(fileobj, encoding)
    try:
        sample = text.read(SAMPLE_BYTES)
    finally:
        release(text)
        fileobj.seek(0)
    if not sample.strip():
        raise ValidationError("the file is empty", "file")
    return CsvFormat(encoding, detect_delimiter(sample))


# (line where the record starts, its fields or None when the CSV is broken there, the csv
# module's error then)
Record = tuple[int, list[str] | None, str | None]


def records(text: io.TextIOWrapper, delimiter: str) -> Iterator[Record]:
    """Every non-blank record with its line number; blank lines and all-empty rows are skipped."""
    csv.field_size_limit(FIELD_SIZE_LIMIT)
    reader = csv.reader(text, delimiter=delimiter)
    previous_end = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            start, previous_end = previous_end + 1, reader.line_num
            yield start, None, str(error)  # the reason is the csv module's, in English
            continue
        start, previous_end = previous_end + 1, reader.line_num
        for value in fields:
            if value and not value.isspace():
                yield start, fields, None
                break


@dataclass(frozen=True)
class OpenedCsv:
    """A CSV file opened for reading its rows: what `open_csv` found before the first data row."""

    fileobj: BinaryIO  # the file, or a seekable copy of it
    format: CsvFormat
    size: int  # bytes, for progress
    header: list[str]  # the header row's cells as written
    columns: list[str]  # the same made unique and non-empty (`column_names`)
    rows: Iterator[Record]  # the records after the header, read as a stream


@contextlib.contextmanager
def open_csv(fileobj: BinaryIO) -> Iterator[OpenedCsv]:
    """Open an uploaded CSV: make it seekable, detect its format, read the header row.

    Raises `ValidationError` for a file that is not a CSV text or has no header row. On leaving,
    the text layer is let go without closing the file, and the file is rewound.
    """
    fileobj = seekable(fileobj)
    fmt = detect_format(fileobj)
    size = _size(fileobj)  # before the text layer exists: it reads ahead of the file's position
    text = open_text(fileobj, fmt.encoding)
    try:
        rows = records(text, fmt.delimiter)
        header = next(rows, None)
        if header is None or header[1] is None:
            raise ValidationError("the file has no header row", "file")
        yield OpenedCsv(fileobj, fmt, size, header[1], column_names(header[1]), rows)
    finally:
        release(text)
        fileobj.seek(0)


def column_names(header: list[str]) -> list[str]:
    """Header cells made unique and non-empty, so each column can be named in a mapping."""
    names: list[str] = []
    seen: set[str] = set()
    for index, cell in enumerate(header, start=1):
        name = cell.strip() or f"column {index}"
        candidate, n = name, 2
        while candidate.lower() in seen:
            candidate, n = f"{name} ({n})", n + 1
        seen.add(candidate.lower())
        names.append(candidate)
    return names


def _size(fileobj: BinaryIO) -> int:
    fileobj.seek(0, io.SEEK_END)
    size = fileobj.tell()
    fileobj.seek(0)
    return size
