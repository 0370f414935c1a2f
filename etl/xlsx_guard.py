"""Bound what an .xlsx workbook may expand to before any reader opens it, and find the sheet a reader will read.

An .xlsx is a zip of XML parts. A few kilobytes can declare gigabytes of XML (a zip bomb), or one cell at XFD1048576,
which makes a reader allocate the whole rectangle from A1 (17 billion cells: the process aborts). Every reader of
workbooks (ledgers, import sources, reviewed candidates, appends) asks this module first; it reads the zip's
directory, decompresses the XML parts with a running count (so a part that lies about its size is caught too), and
measures the chosen sheet's used range from its cell references, all before the real reader allocates anything.
"""
from __future__ import annotations

import io
import posixpath
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import LedgerIssue

# Readers hold every cell of the rectangle from A1 to the last used cell as a Python object (about 200 bytes each
# once it is a table), so five million cells (227,000 rows of every ledger column) is about a gigabyte: far above
# a ledger kept by hand, and a larger export belongs in a CSV, which is read without that cost. The XML of such a
# sheet is below 256 MB.
MAX_UNCOMPRESSED_BYTES = 256 << 20
MAX_CELLS = 5_000_000
MAX_MEMBERS = 10_000
CHUNK_BYTES = 1 << 20

_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\b[^>]*?\bref="\$?([A-Z]{1,3})\$?(\d{1,9})'
                        rb'(?::\$?([A-Z]{1,3})\$?(\d{1,9}))?"')
_CELL_REF = re.compile(rb'<(?:\w+:)?c\b[^>]*?\br="([A-Z]{1,3})(\d{1,9})"')
_CELL_START = re.compile(rb"<(?:\w+:)?c[\s>/]")
_ROW_START = re.compile(rb"<(?:\w+:)?row[\s>/]")
_SPREADSHEET_PARTS = (".xml", ".rels", ".vml")


@dataclass(frozen=True)
class GuardedSheet:
    """The sheet a reader will read: its name, its part in the zip and its XML (already size-checked)."""

    name: str
    member: str
    xml: bytes


def column_number(letters: str) -> int:
    """'A' → 1, 'Z' → 26, 'AA' → 27, 'XFD' → 16384."""
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - ord("A") + 1
    return number


def guarded_sheet(source: Path | bytes, label: str, pick: Callable[[list[str]], str | None]
                  ) -> tuple[GuardedSheet | None, list[LedgerIssue]]:
    """Check the workbook's expansion and return the sheet pick(sheet names in tab order) chooses.

    (None, []) when pick chooses none (the caller then reports the missing sheet without reading any); (None,
    issues) when the workbook is too large or unreadable. A caller must read only the sheet returned here.
    """
    handle = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    try:
        with zipfile.ZipFile(handle) as archive:
            problem = _archive_problem(archive)
            if problem:
                return None, [_too_large(label, problem)]
            sheets = _sheet_members(archive)
            name = pick([n for n, _ in sheets])
            if name is None:
                return None, []
            member = dict(sheets).get(name)
            if member is None or member not in archive.namelist():
                return None, [_unreadable(label, f"the workbook does not say where sheet {name!r} is stored")]
            xml = archive.read(member)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, ValueError, EOFError, OSError) as exc:
        return None, [_unreadable(label, f"the zip inside the workbook is damaged ({type(exc).__name__})")]
    problem = _sheet_problem(xml)
    if problem:
        return None, [_too_large(label, f"sheet {name!r} {problem}")]
    return GuardedSheet(name, member, xml), []


def _too_large(label: str, problem: str) -> LedgerIssue:
    return LedgerIssue(label, None, "", "", "xlsx_too_large",
                       f"refused before reading: {problem}; a ledger workbook is at most {MAX_CELLS:,} cells and "
                       f"{MAX_UNCOMPRESSED_BYTES // (1 << 20):,} MB unpacked. Save only the ledger sheet, or export "
                       "it as CSV")


def _unreadable(label: str, problem: str) -> LedgerIssue:
    return LedgerIssue(label, None, "", "", "unreadable",
                       f"not a readable .xlsx workbook: {problem}; save it again from Excel")


def _archive_problem(archive: zipfile.ZipFile) -> str:
    """Why the zip is too large to open ("" when it is not): declared sizes first, then the sizes the XML parts
    really unpack to (a part may declare a few bytes and hold gigabytes)."""
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        return f"the zip holds {len(infos):,} parts"
    declared = sum(info.file_size for info in infos)
    if declared > MAX_UNCOMPRESSED_BYTES:
        return f"its parts unpack to {declared:,} bytes"
    unpacked = 0
    for info in infos:
        if not info.filename.lower().endswith(_SPREADSHEET_PARTS):
            continue  # pictures and embedded files are never unpacked by the readers
        with archive.open(info) as part:
            while chunk := part.read(CHUNK_BYTES):
                unpacked += len(chunk)
                if unpacked > MAX_UNCOMPRESSED_BYTES or unpacked > declared:
                    return f"its XML parts unpack to more than the {declared:,} bytes they declare"
    return ""


def _sheet_members(archive: zipfile.ZipFile) -> list[tuple[str, str]]:
    """(sheet name, zip part) in tab order, as xl/workbook.xml and its relationships list them."""
    from defusedxml.ElementTree import fromstring

    workbook = fromstring(archive.read("xl/workbook.xml"))
    rels = fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = {rel.get("Id"): rel.get("Target", "") for rel in rels if rel.tag.rsplit("}", 1)[-1] == "Relationship"}
    found = []
    for element in workbook.iter():
        if element.tag.rsplit("}", 1)[-1] != "sheet":
            continue
        rel_id = next((value for key, value in element.attrib.items() if key.rsplit("}", 1)[-1] == "id"
                       and key != "sheetId"), None)
        target = targets.get(rel_id, "")
        member = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
        found.append((element.get("name", ""), member))
    return found


def _sheet_problem(xml: bytes) -> str:
    """Why the sheet's used range is too large ("" when it is not), from its declared dimension and its cells."""
    declared = _DIMENSION.search(xml, 0, 1 << 16)
    if declared:
        last_col, last_row = declared.group(3) or declared.group(1), declared.group(4) or declared.group(2)
        area = column_number(last_col.decode()) * int(last_row)
        if area > MAX_CELLS:
            return f"declares a range up to {last_col.decode()}{int(last_row)} ({area:,} cells)"
    cells = len(_CELL_START.findall(xml))
    if cells > MAX_CELLS:
        return f"holds {cells:,} cells"
    refs = _CELL_REF.findall(xml)
    if refs:
        columns = max(column_number(letters.decode()) for letters in {letters for letters, _ in refs})
        rows = max(int(number) for _, number in refs)
        if columns * rows > MAX_CELLS:
            return (f"has a cell at {_column_letters(columns)}{rows}, so its used range spans {columns * rows:,} "
                    "cells")
    if len(refs) < cells:
        # Cells without a reference are placed one after another, so a row is as wide as its cell count.
        widest = max(len(_CELL_START.findall(part)) for part in _ROW_START.split(xml))
        rows = max([int(n) for _, n in refs] + [len(_ROW_START.findall(xml))])
        if widest * rows > MAX_CELLS:
            return f"spans {widest * rows:,} cells"
    return ""


def _column_letters(number: int) -> str:
    letters = ""
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters
