"""Downloads: CSV and XLSX of exactly the filtered rows, every column, with spreadsheet formulas neutralised."""
from __future__ import annotations

import io

import pandas as pd
from openpyxl import Workbook

from etl.safety import csv_bytes, neutralise_text, xlsx_safe_text
from etl.schema import OUTPUT_COLUMNS

XLSX_MAX_ROWS = 1_000_000  # Excel's sheet limit is 1,048,576 rows
DATE_COLUMNS = ("date_start", "date_end", "date_plot")
DECIMAL_COLUMNS = ("amount", "total_amount", "amount_usd", "amount_eur", "total_usd", "total_eur", "amount_usd_real",
                   "total_usd_real", "drawn_usd", "drawn_eur")


def export_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The dataset's own columns only (no dashboard helpers), dates as ISO text, decimals as exact text."""
    out = frame[list(OUTPUT_COLUMNS)].copy()
    for column in DATE_COLUMNS:
        out[column] = out[column].dt.strftime("%Y-%m-%d").fillna("")
    for column in DECIMAL_COLUMNS:
        out[column] = out[column].astype("str").replace({"<NA>": "", "nan": "", "None": ""})
    return out


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """Every dataset column of the rows, UTF-8 with BOM so Excel opens accents correctly, formulas neutralised."""
    return csv_bytes(frame[list(OUTPUT_COLUMNS)], byte_order_mark=True)


def _cell(value: object, column: str) -> object:
    if column in DECIMAL_COLUMNS:
        return None if value in ("", None) else float(value)
    if isinstance(value, bool):
        return value
    return value


# Column widths in characters for the transfers sheet; others get a width from their header.
XLSX_WIDTHS = {"id": 28, "date_raw": 14, "payer": 32, "recipient": 32, "intermediary": 32, "sources": 60,
               "purpose": 50, "notes": 50, "totals_note": 40, "fx_source": 40}
MONEY_FORMAT = "#,##0.00"
RATE_FORMAT = "0.000000"


def to_xlsx_bytes(frame: pd.DataFrame, about: list[tuple[str, str]]) -> bytes:
    """Sheet 'transfers' (numbers as numbers with thousands separators, text neutralised, header frozen, an
    autofilter, set widths) and sheet 'about' (the filters in words and as a URL, build, ledgers)."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    data = export_frame(frame.iloc[:XLSX_MAX_ROWS])
    text_columns = [c for c in data.columns if c not in DECIMAL_COLUMNS and data[c].dtype != bool
                    and c not in ("ledger_row", "cpi_base_year", "fx_rate_usd", "fx_rate_eur")]
    for column in text_columns:
        data[column] = neutralise_text(xlsx_safe_text(data[column].astype("str")))
    book = Workbook(write_only=True)
    sheet = book.create_sheet("transfers")
    columns = list(data.columns)
    # Write-only sheets take their layout before the first row.
    sheet.freeze_panes = "A2"
    for i, column in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = XLSX_WIDTHS.get(column, max(12, len(column) + 2))
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{len(data) + 1}"
    bold = Font(bold=True)
    header = []
    for column in columns:
        cell = WriteOnlyCell(sheet, value=column)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    formats = {c: MONEY_FORMAT for c in DECIMAL_COLUMNS} | {"fx_rate_usd": RATE_FORMAT, "fx_rate_eur": RATE_FORMAT}
    for values in data.itertuples(index=False, name=None):
        out = []
        for v, c in zip(values, columns):
            value = _cell(v, c) if not (isinstance(v, float) and pd.isna(v)) else None
            if c in formats and value is not None:
                value = WriteOnlyCell(sheet, value=value)
                value.number_format = formats[c]
            out.append(value)
        sheet.append(out)
    info = book.create_sheet("about")
    info.column_dimensions["A"].width = 24
    info.column_dimensions["B"].width = 100
    for key, value in about:
        cells = neutralise_text(xlsx_safe_text(pd.Series([str(key), str(value)], dtype="str")))
        info.append(cells.tolist())
    if len(frame) > XLSX_MAX_ROWS:
        info.append(["note", f"Only the first {XLSX_MAX_ROWS:,} of {len(frame):,} rows fit in Excel; use the CSV."])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
