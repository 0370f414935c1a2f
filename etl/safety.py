"""Make exported spreadsheets inert: text that a spreadsheet would run as a formula gets a leading quote."""
from __future__ import annotations

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


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Neutralise every text column; numbers, decimals, dates and booleans stay what they are."""
    out = frame.copy()
    for column in out.columns:
        dtype = out[column].dtype
        if dtype == object or str(dtype) in ("str", "string"):
            out[column] = neutralise_text(out[column])
    return out
