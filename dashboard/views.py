"""What a page shows for a URL: the filtered rows and the small summaries pages print. Pure functions."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from . import data
from .figures import category_code
from .filters import DRAWING_ROLES, FilterState, from_query, mask, view_mask

LEVEL_NAMES = {"payer_country": "payer country", "payer": "payer", "intermediary": "intermediary",
               "recipient": "recipient", "recipient_country": "recipient country", "year": "year",
               "month": "month"}


def as_viewed(rows: pd.DataFrame, state: FilterState) -> pd.DataFrame:
    """Counted once, a row's chart value is what it draws (a part its own value, a larger transfer only the rest its
    parts leave); listing left-out or every report, a row shows what it reported."""
    if state.view != "counted":
        return rows
    return rows.assign(value_usd=rows["drawn_usd"], total_amount_f=rows["drawn_amount_f"])


def rows_for(search: str | None, include_focus: bool = True, dataset: data.Dataset | None = None
             ) -> tuple[pd.DataFrame, FilterState]:
    """The rows this request may see that match the URL's filters (and drill-down focus); `dataset` is one snapshot
    already chosen for an audience (a published package takes the public one, whoever publishes)."""
    state = from_query(search)
    dataset = dataset or data.load()
    frame = data.visible_rows(dataset)
    keep = mask(frame, state, data.alias_index(dataset), include_focus=include_focus)
    return as_viewed(_rows_kept(frame, keep), state), state


def _rows_kept(frame: pd.DataFrame, keep: np.ndarray) -> pd.DataFrame:
    """frame[keep], or the frame itself when every row is kept: copying ten million rows costs seconds."""
    return frame if keep.all() else frame[keep]


def rows_with_left_out(search: str | None, dataset: data.Dataset | None = None
                       ) -> tuple[pd.DataFrame, FilterState, dict]:
    """rows_for plus what the view leaves out, from one pass of the filters; the rows shown are copied once (what
    the view leaves out is counted on the whole frame under the filters' mask, without a copy of its own)."""
    state = from_query(search)
    dataset = dataset or data.load()
    frame = data.visible_rows(dataset)
    keep = mask(frame, replace(state, view="all"), data.alias_index(dataset))
    # Unfiltered (the landing view), the frame is used as it is rather than copied.
    return (as_viewed(_rows_kept(frame, keep & view_mask(frame, state)), state), state,
            left_out_of(frame, dataset, keep))


def full(rows: pd.DataFrame) -> pd.DataFrame:
    """The complete rows (exact amounts, sources, notes) behind filtered chart rows."""
    return data.full_rows(rows)


def left_out_of(frame: pd.DataFrame, dataset: data.Dataset | None = None, keep: np.ndarray | None = None) -> dict:
    """What the counted view does not draw among rows matching the filters (`keep`, every row when None) of frame:
    untraced rests (with the transfers they belong to), and reports that draw nothing because another row carries
    their money or they have no total. Worked out on the kept rows' positions, so a narrow filter costs little
    and a broad one copies no row."""
    kept = np.arange(len(frame)) if keep is None else np.flatnonzero(keep)
    role = frame["drawn_role"]
    codes = role.cat.codes.to_numpy()[kept]
    # Every role counted in one pass (codes shifted by one: a row without a role is code -1).
    counted = np.bincount(codes.astype("int64") + 1, minlength=len(role.cat.categories) + 1)
    count_of = {str(name): int(n) for name, n in zip(role.cat.categories, counted[1:])}

    def rows(name: str) -> int:
        return count_of.get(name, 0)

    untraced = kept[codes == category_code(role, "untraced")]
    dataset = dataset or data.load()
    parents = dataset.parents
    of = []
    if len(untraced) <= 20:
        of = [parents[r][1] for r in data.full_rows(frame.iloc[untraced], dataset)["id"].tolist() if r in parents]
    drawn = frame["drawn_usd"].to_numpy(dtype="float64", na_value=np.nan)[untraced]
    return {"untraced_usd": float(np.nansum(drawn)), "untraced": int(len(untraced)), "untraced_of": of,
            "restated": rows("restated"), "rates": int(frame["is_open_rate"].to_numpy(dtype=bool)[kept].sum()),
            "no_total": rows("no_total"), "covered": rows("covered"),
            "total": int(len(kept)) - sum(rows(r) for r in DRAWING_ROLES)}


def page_just_mounted(triggered: list) -> bool:
    """Dash fires a page's callbacks once with every input at once when the page's layout is put in place; a reader
    changes one control at a time. Acting on that first call would rewrite the URL the page was opened with."""
    return len(triggered or []) > 1


def focus_text(state: FilterState) -> str:
    if not state.focus:
        return ""
    return "Showing the transfers behind: " + "; ".join(f"{LEVEL_NAMES.get(l, l)} = {v}" for l, v in state.focus)


def with_view(search: str | None, view: str, traced_only: bool | None = None) -> str:
    state = from_query(search)
    return replace(state, view=view, page=1,
                   traced_only=state.traced_only if traced_only is None else traced_only).to_query()


def filters_in_words(state: FilterState) -> str:
    """The view's filters as a sentence a reader of a spreadsheet understands."""
    words = []
    if state.date_from or state.date_to:
        words.append(f"dated {('from ' + state.date_from) if state.date_from else ''}"
                     f"{' ' if state.date_from and state.date_to else ''}"
                     f"{('to ' + state.date_to) if state.date_to else ''}".replace("dated from", "dated from"))
    for label, values in (("payer country", state.payer_country), ("recipient country", state.recipient_country),
                          ("confidence", state.confidence), ("amount kind", state.amount_kind),
                          ("ledger", state.ledger)):
        if values:
            words.append(f"{label} {' or '.join(v.replace('_', ' ') for v in values)}")
    if state.entity:
        words.append(f"naming '{state.entity}' (names and aliases)")
    if state.min_usd:
        words.append(f"at least {state.min_usd:,.0f} USD")
    for level, value in state.focus:
        words.append(f"{LEVEL_NAMES.get(level, level)} {value}")
    which = {"counted": "Transfers counted once" + (", without money not yet traced to a recipient"
                                                    if state.traced_only else ""),
             "excluded": "Reports that add nothing to sums", "all": "Every report"}[state.view]
    return which + (": " + "; ".join(words) if words else ", no filter") + "."


# Which FilterState field each control of the filter panel sets (dashboard/app.py FILTER_IDS).
FIELD_OF_CONTROL = {"f-date-from": "date_from", "f-date-to": "date_to", "f-payer-country": "payer_country",
                    "f-recipient-country": "recipient_country", "f-entity": "entity", "f-confidence": "confidence",
                    "f-amount-kind": "amount_kind", "f-min-usd": "min_usd", "f-ledger": "ledger", "f-view": "view"}


def filters_summary(state: FilterState, ignored: tuple[str, ...] = ()) -> str:
    """The applied filters on one line ("2012 to 2014 · recipient US · at least $10,000"), leaving out the controls
    a page ignores; "none applied" when nothing narrows the view."""
    skip = {FIELD_OF_CONTROL[i] for i in ignored}
    parts = []
    if state.date_from and state.date_to and not skip & {"date_from", "date_to"}:
        parts.append(f"{state.date_from} to {state.date_to}")
    elif state.date_from and "date_from" not in skip:
        parts.append(f"from {state.date_from}")
    elif state.date_to and "date_to" not in skip:
        parts.append(f"to {state.date_to}")
    for name, label in (("payer_country", "payer"), ("recipient_country", "recipient"), ("confidence", ""),
                        ("amount_kind", ""), ("ledger", "ledger")):
        values = getattr(state, name)
        if values and name not in skip:
            parts.append(" ".join(filter(None, (label, " or ".join(v.replace("_", " ") for v in values)))))
    if state.entity and "entity" not in skip:
        parts.append(f"naming \u2018{state.entity}\u2019")
    if state.min_usd and "min_usd" not in skip:
        parts.append(f"at least ${state.min_usd:,.0f}")
    if state.view != "counted" and "view" not in skip:
        parts.append({"excluded": "reports that add nothing", "all": "every report"}[state.view])
    return " \u00b7 ".join(parts) if parts else "none applied"


def about_rows(state: FilterState, rows: int, sort_by: str = "value_usd") -> list[tuple[str, str]]:
    """The XLSX 'about' sheet: the filters in words and as a URL, build time, ledgers and what the numbers mean."""
    report = data.load().report
    pairs = [("what this file holds", filters_in_words(state)),
             ("filters (URL query)", state.to_query() or "(none)"), ("rows", str(rows)),
             ("sorted by", {"value_usd": "USD, largest first", "date_start": "date, latest first",
                            "amount_f": "original amount, largest first", "payer": "payer, Z to A",
                            "recipient": "recipient, Z to A"}.get(sort_by, "USD, largest first")),
             ("rows shown", {"counted": "each transfer counted once (parts drawn on their own, larger transfers "
                                         "only the rest their parts leave"
                                         + (", untraced rests left out)" if state.traced_only else ")"),
                             "excluded": "reports that draw nothing (restated, covered by parts, or without a total)",
                             "all": "every report (figures overlap)"}[state.view]),
             ("dataset built at", report.get("built_at", "")),
             ("ledgers", "; ".join(f"{l['file']} ({l['rows']} rows)" for l in report.get("ledgers", []))),
             ("conversion", "USD/EUR at ECB reference rates for each row's date; period means for ranges"),
             ("visibility", "public rows only" if not data.may_see_internal() else "public and internal rows")]
    for level, value in state.focus:
        pairs.append((f"drill-down {LEVEL_NAMES.get(level, level)}", value))
    return pairs


def sum_text(rows: pd.DataFrame) -> str:
    """The view's counted-once sum as the sources allow: 'at least $15.9 m', 'about $4.2 m'."""
    from .figures import category_code, group_figure

    kinds = rows["amount_kind"].cat.codes.to_numpy()
    return group_figure(total_usd(rows), max(len(rows), 2),
                        int((kinds == category_code(rows["amount_kind"], "at_least")).sum()),
                        int((kinds == category_code(rows["amount_kind"], "estimate")).sum()),
                        int(rows["converted"].sum()))


def total_usd(rows: pd.DataFrame) -> float:
    return float(np.nansum(rows["value_usd"].to_numpy(dtype="float64", na_value=np.nan)))
