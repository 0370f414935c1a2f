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
                   "total_usd_real")


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


def to_xlsx_bytes(frame: pd.DataFrame, about: list[tuple[str, str]]) -> bytes:
    """Sheet 'transfers' (numbers as numbers, text neutralised) and sheet 'about' (filters, build, ledgers)."""
    data = export_frame(frame.iloc[:XLSX_MAX_ROWS])
    text_columns = [c for c in data.columns if c not in DECIMAL_COLUMNS and data[c].dtype != bool
                    and c not in ("ledger_row", "cpi_base_year", "fx_rate_usd", "fx_rate_eur")]
    for column in text_columns:
        data[column] = neutralise_text(xlsx_safe_text(data[column].astype("str")))
    book = Workbook(write_only=True)
    sheet = book.create_sheet("transfers")
    sheet.append(list(data.columns))
    columns = list(data.columns)
    for values in data.itertuples(index=False, name=None):
        sheet.append([_cell(v, c) if not (isinstance(v, float) and pd.isna(v)) else None
                      for v, c in zip(values, columns)])
    info = book.create_sheet("about")
    for key, value in about:
        cells = neutralise_text(xlsx_safe_text(pd.Series([str(key), str(value)], dtype="str")))
        info.append(cells.tolist())
    if len(frame) > XLSX_MAX_ROWS:
        info.append(["note", f"Only the first {XLSX_MAX_ROWS:,} of {len(frame):,} rows fit in Excel; use the CSV."])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
