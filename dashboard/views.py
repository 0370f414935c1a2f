"""What a page shows for a URL: the filtered rows and the small summaries pages print. Pure functions."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from . import data
from .filters import FilterState, from_query, mask

LEVEL_NAMES = {"payer_country": "payer country", "payer": "payer", "intermediary": "intermediary",
               "recipient": "recipient", "recipient_country": "recipient country", "year": "year",
               "month": "month"}


def rows_for(search: str | None, include_focus: bool = True) -> tuple[pd.DataFrame, FilterState]:
    """The rows this request may see that match the URL's filters (and drill-down focus)."""
    state = from_query(search)
    dataset = data.load()
    frame = data.visible_rows(dataset)
    keep = mask(frame, state, data.alias_index(dataset), include_focus=include_focus)
    return frame[keep], state


def rows_with_left_out(search: str | None) -> tuple[pd.DataFrame, FilterState, dict]:
    """rows_for plus the left-out summary, from one pass of the filters."""
    state = from_query(search)
    dataset = data.load()
    frame = data.visible_rows(dataset)
    every = frame[mask(frame, replace(state, view="all"), data.alias_index(dataset))]
    counted = every["counts_in_totals"].to_numpy()
    rows = every[counted] if state.view == "counted" else every[~counted] if state.view == "excluded" else every
    return rows, state, left_out_of(every[~counted])


def left_out_summary(search: str | None) -> dict:
    """How many reports matching the filters are left out of the sums, and why."""
    return rows_with_left_out(search)[2]


def full(rows: pd.DataFrame) -> pd.DataFrame:
    """The complete rows (exact amounts, sources, notes) behind filtered chart rows."""
    return data.full_rows(rows)


def left_out_of(out: pd.DataFrame) -> dict:
    return {"nested": int(out["is_nested"].sum()), "restated": int(out["is_restated"].sum()),
            "rates": int(out["is_open_rate"].sum()), "total": int(len(out))}


def focus_text(state: FilterState) -> str:
    if not state.focus:
        return ""
    return "Showing the transfers behind: " + "; ".join(f"{LEVEL_NAMES.get(l, l)} = {v}" for l, v in state.focus)


def with_view(search: str | None, view: str) -> str:
    return replace(from_query(search), view=view, page=1).to_query()


def about_rows(state: FilterState, rows: int) -> list[tuple[str, str]]:
    """The XLSX 'about' sheet: filters, build time, ledgers and what the numbers mean."""
    report = data.load().report
    pairs = [("filters (URL query)", state.to_query() or "(none)"), ("rows", str(rows)),
             ("rows shown", {"counted": "counted in totals", "excluded": "left out of totals",
                             "all": "all"}[state.view]),
             ("dataset built at", report.get("built_at", "")),
             ("ledgers", "; ".join(f"{l['file']} ({l['rows']} rows)" for l in report.get("ledgers", []))),
             ("conversion", "USD/EUR at ECB reference rates for each row's date; period means for ranges"),
             ("visibility", "public rows only" if not data.may_see_internal() else "public and internal rows")]
    for level, value in state.focus:
        pairs.append((f"drill-down {LEVEL_NAMES.get(level, level)}", value))
    return pairs


def total_usd(rows: pd.DataFrame) -> float:
    return float(np.nansum(rows["value_usd"].to_numpy(dtype="float64", na_value=np.nan)))
