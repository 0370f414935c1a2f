"""Decide what each row adds to totals, so every transfer is counted once and rates never pose as totals.

A row counts when it is not part of a larger row (part_of), does not restate another row (same_as), and has a
total: its amount, or for a monthly/yearly rate the rate times the whole months/years of a closed period.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from .schema import AMOUNT_SCALE, MAX_AMOUNT


def rate_periods(kind: pd.Series, start: pd.Series, end: pd.Series) -> pd.Series:
    """Number of whole months (monthly) or years (yearly) the closed period covers; 0 when it has none."""
    periods = np.zeros(len(kind), dtype=np.int64)
    monthly, yearly = kind.eq("monthly").to_numpy(dtype=bool), kind.eq("yearly").to_numpy(dtype=bool)
    rates = monthly | yearly
    # Only rate rows have periods, so the calendar arithmetic runs on them alone.
    if rates.any():
        start, end = start[rates], end[rates]
        closed = start.notna() & end.notna()
        sy, sm, sd = start.dt.year, start.dt.month, start.dt.day
        ey, em = end.dt.year, end.dt.month
        month_aligned = closed & sd.eq(1) & end.dt.is_month_end
        months = ((ey - sy) * 12 + (em - sm) + 1).where(month_aligned, 0)
        year_aligned = month_aligned & sm.eq(1) & em.eq(12)
        years = (ey - sy + 1).where(year_aligned, 0)
        periods[rates] = np.where(monthly[rates], months.fillna(0).to_numpy(dtype=np.int64),
                                  years.fillna(0).to_numpy(dtype=np.int64))
    return pd.Series(periods, index=kind.index)


class _Notes:
    """Per-row notes as indices into a table of texts, turned into one Arrow string column at the end: a million
    Python strings would cost far more than the notes themselves."""

    def __init__(self, rows: int, default: str):
        self.texts: list[pa.Array] = [pa.array([default], type=pa.large_string())]
        self.size = 1
        self.index = np.zeros(rows, dtype=np.int64)

    def set(self, mask: np.ndarray, text: str) -> None:
        self.set_each(mask, pd.Series([text], dtype="str"), np.zeros(int(mask.sum()), dtype=np.int64))

    def set_each(self, mask: np.ndarray, texts: pd.Series, codes: np.ndarray | None = None) -> None:
        """texts[codes] for the rows in mask (texts one per masked row when codes is None)."""
        if not mask.any():
            return
        codes = np.arange(len(texts)) if codes is None else codes
        self.index[mask] = self.size + codes
        self.texts.append(pa.array(texts.to_numpy(dtype=object), type=pa.large_string()))
        self.size += len(texts)

    def series(self, index: pd.Index) -> pd.Series:
        table = pa.concat_arrays(self.texts)
        return pd.Series(table.take(pa.array(self.index)), index=index, dtype="str")


def totals(scaled: pd.Series, kind: pd.Series, start: pd.Series, end: pd.Series, part_of: pd.Series,
           same_as: pd.Series) -> pd.DataFrame:
    """total_scaled (Int64, exact), counts_in_totals (bool) and totals_note per row."""
    is_rate = kind.isin(["monthly", "yearly"])
    periods = rate_periods(kind, start, end)
    computable = is_rate & periods.gt(0) & scaled.notna()
    too_big = computable & (scaled.fillna(0) > (MAX_AMOUNT * 10**AMOUNT_SCALE) // periods.clip(lower=1))
    ok = computable & ~too_big
    ok_np, rate_np = ok.to_numpy(dtype=bool), is_rate.to_numpy(dtype=bool)
    # Kept as numpy int64 so a product above 2**53 never passes through float64.
    values = scaled.to_numpy(dtype=np.int64, na_value=0)
    known = scaled.notna().to_numpy(dtype=bool) & ~rate_np
    values[ok_np] = values[ok_np] * periods.to_numpy()[ok_np]
    known |= ok_np
    total = pd.Series(pd.arrays.IntegerArray(values, ~known), index=scaled.index)

    notes = _Notes(len(scaled), "counted")
    # Notes that depend only on the period count and unit, or on the kind, are written once per distinct value.
    if ok_np.any():
        key = periods[ok].astype("str") + " " + np.where(kind[ok].eq("monthly"), "month", "year")
        codes, distinct = pd.factorize(key)
        notes.set_each(ok_np, "counted as rate × " + pd.Series(distinct, dtype="str") + "s of the dated period", codes)
    no_period = rate_np & ~ok_np
    if no_period.any():
        codes, distinct = pd.factorize(kind[no_period])
        distinct = pd.Series(distinct, dtype="str")
        unit = pd.Series(np.where(distinct.eq("monthly"), "month", "year"), dtype="str")
        notes.set_each(no_period, "not counted: a " + distinct + " rate without a closed period of whole " + unit
                       + "s, so no total can be computed", codes)
    notes.set((scaled.isna() & ~is_rate).to_numpy(dtype=bool), "not counted: no valid amount")
    nested = part_of.ne("")
    if nested.any():
        notes.set_each(nested.to_numpy(bool), "part of " + part_of[nested]
                       + ": drawn on its own, while that transfer draws only the rest its parts leave")
    restated = same_as.ne("")
    if restated.any():
        notes.set_each(restated.to_numpy(bool), "not counted: the same transfer as " + same_as[restated]
                       + ", which is counted instead")
    counts = total.notna() & ~nested & ~restated
    return pd.DataFrame({"total_scaled": total, "counts_in_totals": counts.astype(bool),
                         "totals_note": notes.series(scaled.index)})
