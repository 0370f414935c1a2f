"""Downloads: CSV and XLSX of exactly the filtered rows, every column, with spreadsheet formulas neutralised.

Both formats are written part by part (`csv_parts`, `write_xlsx`), so a download of a million rows never holds the
whole file, or all of its rows' full columns, at once; the whole-file functions are the same encoders run on one
part.
"""
from __future__ import annotations

import io
from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd
from openpyxl import Workbook

from etl.safety import neutralise_text, write_csv, xlsx_safe_text
from etl.schema import OUTPUT_COLUMNS

XLSX_MAX_ROWS = 1_000_000  # Excel's sheet limit is 1,048,576 rows
DATE_COLUMNS = ("date_start", "date_end", "date_plot")
DECIMAL_COLUMNS = ("amount", "total_amount", "amount_usd", "amount_eur", "total_usd", "total_eur", "amount_usd_real",
                   "total_usd_real", "drawn_usd", "drawn_eur")
# Written as numbers (with the formats below when they have one); every other column is text.
NUMBER_COLUMNS = ("ledger_row", "cpi_base_year", "fx_rate_usd", "fx_rate_eur")
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIMETYPE = "text/csv"


def export_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The dataset's own columns only (no dashboard helpers), dates as ISO text, decimals as exact text."""
    out = frame[list(OUTPUT_COLUMNS)].copy()
    for column in DATE_COLUMNS:
        out[column] = out[column].dt.strftime("%Y-%m-%d").fillna("")
    for column in DECIMAL_COLUMNS:
        out[column] = out[column].astype("str").replace({"<NA>": "", "nan": "", "None": ""})
    return out


def csv_parts(parts: Iterable[pd.DataFrame]) -> Iterator[bytes]:
    """The CSV of the parts' rows, one bytes chunk per part: UTF-8 with a BOM (so Excel reads accents correctly) and
    the header before the first part only, every dataset column, formulas neutralised (etl.safety.write_csv).
    The chunks joined are the CSV of all the rows at once; `parts` must hold at least one (possibly empty) frame."""
    first = True
    for part in parts:
        buffer = io.BytesIO()
        write_csv(part[list(OUTPUT_COLUMNS)], buffer, byte_order_mark=first, header=first)
        first = False
        yield buffer.getvalue()


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """Every dataset column of the rows as one CSV (csv_parts of a single part)."""
    return b"".join(csv_parts([frame]))


# Column widths in characters for the transfers sheet; others get a width from their header.
XLSX_WIDTHS = {"id": 28, "date_raw": 14, "payer": 32, "recipient": 32, "intermediary": 32, "sources": 60,
               "purpose": 50, "notes": 50, "totals_note": 40, "fx_source": 40}
MONEY_FORMAT = "#,##0.00"
RATE_FORMAT = "0.000000"
NUMBER_FORMATS = {c: MONEY_FORMAT for c in DECIMAL_COLUMNS} | {"fx_rate_usd": RATE_FORMAT, "fx_rate_eur": RATE_FORMAT}


def _sheet_columns(sheet, part: pd.DataFrame) -> list[list]:
    """The part's cells for a write-only sheet, column by column: exact decimals as floats, text neutralised and
    cleaned of characters XML cannot hold, missing values empty, numbers carrying their format."""
    from openpyxl.cell import WriteOnlyCell

    data = export_frame(part)
    columns = []
    for column in data.columns:
        values = data[column]
        if column in DECIMAL_COLUMNS:
            # Python's float() of each exact text (numpy's object cast calls it), so a cell holds the nearest float;
            # a missing amount (empty text, or NaN where pandas keeps a missing decimal missing) is an empty cell.
            numbers = values.where(values.notna() & values.ne(""), "nan").to_numpy(dtype=object).astype("float64")
            cells = numbers.astype(object)
            cells[np.isnan(numbers)] = None
        elif column in NUMBER_COLUMNS or values.dtype == bool:
            cells = values.to_numpy(dtype=object)
            cells[values.isna().to_numpy()] = None
        else:
            text = neutralise_text(xlsx_safe_text(values.astype("str")))
            cells = text.to_numpy(dtype=object)
            cells[text.isna().to_numpy()] = None
        cells = cells.tolist()
        number_format = NUMBER_FORMATS.get(column)
        if number_format is not None:
            # openpyxl styles cells one at a time; an empty cell stays unstyled, as Excel leaves it.
            def styled(value: object) -> object:
                if value is None:
                    return None
                cell = WriteOnlyCell(sheet, value=value)
                cell.number_format = number_format
                return cell

            cells = [styled(v) for v in cells]
        columns.append(cells)
    return columns


def write_xlsx(parts: Iterable[pd.DataFrame], rows: int, about: list[tuple[str, str]], target) -> None:
    """Write to target (a path or a binary file) sheet 'transfers' (numbers as numbers with thousands separators,
    text neutralised, header frozen, an autofilter, set widths) from the parts' rows, and sheet 'about' (the filters
    in words and as a URL, build, ledgers). `rows` is the view's row count: the sheet takes its first XLSX_MAX_ROWS
    and 'about' says so when there are more. Write-only: openpyxl spills each row to a temporary file as it comes."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    sheet = book.create_sheet("transfers")
    columns = list(OUTPUT_COLUMNS)
    # Write-only sheets take their layout before the first row.
    sheet.freeze_panes = "A2"
    for i, column in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = XLSX_WIDTHS.get(column, max(12, len(column) + 2))
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{min(rows, XLSX_MAX_ROWS) + 1}"
    bold = Font(bold=True)
    header = []
    for column in columns:
        cell = WriteOnlyCell(sheet, value=column)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    room = XLSX_MAX_ROWS
    for part in parts:
        part = part.iloc[:room]
        room -= len(part)
        # openpyxl takes a sheet row by row; everything before that is done per column.
        for values in zip(*_sheet_columns(sheet, part)):
            sheet.append(values)
        if room <= 0:
            break
    info = book.create_sheet("about")
    info.column_dimensions["A"].width = 24
    info.column_dimensions["B"].width = 100
    for key, value in about:
        cells = neutralise_text(xlsx_safe_text(pd.Series([str(key), str(value)], dtype="str")))
        info.append(cells.tolist())
    if rows > XLSX_MAX_ROWS:
        info.append(["note", f"Only the first {XLSX_MAX_ROWS:,} of {rows:,} rows fit in Excel; use the CSV."])
    book.save(target)


def to_xlsx_bytes(frame: pd.DataFrame, about: list[tuple[str, str]]) -> bytes:
    """The workbook of write_xlsx for rows in one frame, as bytes."""
    buffer = io.BytesIO()
    write_xlsx([frame], len(frame), about, buffer)
    return buffer.getvalue()
