"""Decide what each row adds to totals, so every transfer is counted once and rates never pose as totals.

A row counts when it is not part of a larger row (part_of), does not restate another row (same_as), and has a
total: its amount, or for a monthly/yearly rate the rate times the whole months/years of a closed period.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .schema import AMOUNT_SCALE, MAX_AMOUNT


def rate_periods(kind: pd.Series, start: pd.Series, end: pd.Series) -> pd.Series:
    """Number of whole months (monthly) or years (yearly) the closed period covers; 0 when it has none."""
    closed = start.notna() & end.notna()
    sy, sm, sd = start.dt.year, start.dt.month, start.dt.day
    ey, em = end.dt.year, end.dt.month
    month_aligned = closed & sd.eq(1) & end.dt.is_month_end
    months = ((ey - sy) * 12 + (em - sm) + 1).where(month_aligned, 0)
    year_aligned = month_aligned & sm.eq(1) & em.eq(12)
    years = (ey - sy + 1).where(year_aligned, 0)
    periods = pd.Series(0, index=kind.index, dtype="int64")
    periods[kind.eq("monthly")] = months[kind.eq("monthly")].fillna(0).astype("int64")
    periods[kind.eq("yearly")] = years[kind.eq("yearly")].fillna(0).astype("int64")
    return periods


def totals(scaled: pd.Series, kind: pd.Series, start: pd.Series, end: pd.Series, part_of: pd.Series,
           same_as: pd.Series) -> pd.DataFrame:
    """total_scaled (Int64, exact), counts_in_totals (bool) and totals_note per row."""
    is_rate = kind.isin(["monthly", "yearly"])
    periods = rate_periods(kind, start, end)
    unit = np.where(kind.eq("monthly"), "month", "year")
    total = scaled.copy()
    computable = is_rate & periods.gt(0) & scaled.notna()
    too_big = computable & (scaled.fillna(0) > (MAX_AMOUNT * 10**AMOUNT_SCALE) // periods.clip(lower=1))
    total[is_rate] = pd.NA
    ok = computable & ~too_big
    total[ok] = scaled[ok] * periods[ok]

    # Notes are assembled in numpy object arrays: setting slices of an Arrow string Series row-group by
    # row-group costs far more than the text itself.
    note = np.full(len(scaled), "counted", dtype=object)
    unit_s = pd.Series(unit, index=kind.index)
    ok_np = ok.to_numpy(bool)
    if ok_np.any():
        note[ok_np] = ("counted as rate × " + periods[ok].astype("str") + " " + unit_s[ok]
                       + "s of the dated period").to_numpy(object)
    no_period = (is_rate & ~ok).to_numpy(bool)
    if no_period.any():
        note[no_period] = ("not counted: a " + kind[no_period] + " rate without a closed period of whole "
                           + unit_s[no_period] + "s, so no total can be computed").to_numpy(object)
    note[(scaled.isna() & ~is_rate).to_numpy(bool)] = "not counted: no valid amount"
    nested = part_of.ne("")
    if nested.any():
        note[nested.to_numpy(bool)] = ("not counted: included in " + part_of[nested]
                                       + ", which is counted instead").to_numpy(object)
    restated = same_as.ne("")
    if restated.any():
        note[restated.to_numpy(bool)] = ("not counted: the same transfer as " + same_as[restated]
                                         + ", which is counted instead").to_numpy(object)
    note = pd.Series(note, index=scaled.index, dtype="str")
    counts = total.notna() & ~nested & ~restated
    return pd.DataFrame({"total_scaled": total, "counts_in_totals": counts.astype(bool), "totals_note": note})
