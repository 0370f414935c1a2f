"""Filter state shared by every page: parsed from and written to the URL query, applied as one boolean mask."""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field, fields, replace
from urllib.parse import parse_qs, urlencode

import numpy as np
import pandas as pd

from etl.schema import AMOUNT_KINDS, CONFIDENCE_LEVELS

UNTRACED_LABEL = "Not yet traced to a recipient"

VIEWS = ("counted", "excluded", "all")
# Rows that draw money when each dollar is counted once (etl/allocation.py); the others are listed as left out.
DRAWING_ROLES = ("own", "rest", "untraced")
FOCUS_LEVELS = ("tree", "payer", "intermediary", "recipient", "payer_country", "recipient_country", "year", "month")
LIST_FIELDS = ("payer_country", "recipient_country", "confidence", "amount_kind", "ledger")
MAX_TEXT = 200
SANKEY_LEVELS = ("tree", "payer_country", "payer", "intermediary", "recipient", "recipient_country")
# "tree" groups the parts of a larger transfer under it, so a reader sees that they are inside it.
DEFAULT_LEVELS = ("tree", "payer", "recipient")
DEFAULT_TOP_N = 20
MAX_TOP_N = 50
MAX_COLUMNS = 30
# Timeline & map settings kept in the URL: name -> allowed values, the default first.
EXPLORE_CHOICES = {"period": ("year", "month"), "scale": ("linear", "log"),
                   "map_side": ("recipient_country", "payer_country")}


@dataclass(frozen=True)
class FilterState:
    """What the reader asked to see. Empty means "no restriction"."""

    date_from: str = ""  # YYYY or YYYY-MM-DD
    date_to: str = ""
    payer_country: tuple[str, ...] = ()
    recipient_country: tuple[str, ...] = ()
    entity: str = ""
    confidence: tuple[str, ...] = ()
    amount_kind: tuple[str, ...] = ()
    min_usd: float = 0.0
    ledger: tuple[str, ...] = ()
    view: str = "counted"
    # Hide the rest of a transfer that is not yet traced to a recipient, so the documented parts fill the chart.
    traced_only: bool = True
    focus: tuple[tuple[str, str], ...] = field(default=())  # drill-down: (level, value) pairs
    levels: tuple[str, ...] = DEFAULT_LEVELS  # Sankey levels, in order
    top_n: int = DEFAULT_TOP_N
    page: int = 1
    # Table columns in the reader's order (empty: the default columns); dashboard/table.py knows the names.
    columns: tuple[str, ...] = ()
    # Timeline & map: the timeline's period and scale, and whose countries the map shows.
    period: str = "year"
    scale: str = "linear"
    map_side: str = "recipient_country"

    def to_query(self) -> str:
        """A URL query string holding every non-default value (so a view can be bookmarked and sent)."""
        pairs: list[tuple[str, str]] = []
        # getattr per field: asdict() deep-copies every value, and a page builds dozens of these links.
        for key, value in ((f.name, getattr(self, f.name)) for f in fields(self)):
            if key == "focus":
                pairs += [("focus", f"{level}:{val}") for level, val in self.focus]
            elif isinstance(value, (list, tuple)) and key not in ("levels", "columns"):
                pairs += [(key, v) for v in value]
            elif key == "min_usd":
                if value:
                    pairs.append((key, f"{value:g}"))
            elif key == "view":
                if value != "counted":
                    pairs.append((key, value))
            elif key == "traced_only":
                if not value:
                    pairs.append(("traced", "0"))
            elif key == "levels":
                if value != DEFAULT_LEVELS:
                    pairs.append((key, ",".join(value)))
            elif key == "top_n":
                if value != DEFAULT_TOP_N:
                    pairs.append((key, str(value)))
            elif key == "page":
                if value != 1:
                    pairs.append((key, str(value)))
            elif key == "columns":
                if value:
                    pairs.append(("cols", ",".join(value)))
            elif key in EXPLORE_CHOICES:
                if value != EXPLORE_CHOICES[key][0]:
                    pairs.append((key, value))
            elif value:
                pairs.append((key, str(value)))
        return "?" + urlencode(pairs) if pairs else ""

    def with_focus(self, level: str, value: str) -> "FilterState":
        kept = tuple(f for f in self.focus if f[0] != level)
        return replace(self, focus=kept + ((level, value),))


def _date_text(value: str) -> str:
    value = value.strip()[:10]
    try:
        pd.Timestamp(value if len(value) > 4 else value + "-01-01")
    except (ValueError, TypeError):
        return ""
    return value if value[:4].isdigit() else ""


def from_query(query: str | None) -> FilterState:
    """Parse a URL query defensively: anything malformed falls back to the default, never an exception."""
    params = parse_qs((query or "").lstrip("?"), keep_blank_values=False)

    def first(key: str) -> str:
        return params.get(key, [""])[0][:MAX_TEXT]

    def many(key: str, allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
        values = [v[:MAX_TEXT] for v in params.get(key, [])]
        return tuple(dict.fromkeys(v for v in values if allowed is None or v in allowed))

    try:
        min_usd = max(float(first("min_usd") or 0), 0.0)
        if not np.isfinite(min_usd):
            min_usd = 0.0
    except ValueError:
        min_usd = 0.0
    focus = []
    for item in params.get("focus", []):
        level, _, value = item.partition(":")
        if level in FOCUS_LEVELS and value:
            focus.append((level, value[:MAX_TEXT]))
    view = first("view")
    levels = tuple(dict.fromkeys(v for v in first("levels").split(",") if v in SANKEY_LEVELS))
    try:
        top_n = min(max(int(first("top_n") or DEFAULT_TOP_N), 1), MAX_TOP_N)
    except ValueError:
        top_n = DEFAULT_TOP_N
    try:
        page = max(int(first("page") or 1), 1)
    except ValueError:
        page = 1
    return FilterState(
        date_from=_date_text(first("date_from")), date_to=_date_text(first("date_to")),
        payer_country=many("payer_country"), recipient_country=many("recipient_country"),
        entity=first("entity").strip(), confidence=many("confidence", CONFIDENCE_LEVELS),
        amount_kind=many("amount_kind", AMOUNT_KINDS), min_usd=min_usd, ledger=many("ledger"),
        view=view if view in VIEWS else "counted", traced_only=first("traced") != "0", focus=tuple(focus),
        levels=levels if len(levels) >= 2 else DEFAULT_LEVELS, top_n=top_n, page=page,
        columns=tuple(dict.fromkeys(c for c in first("cols").split(",") if c.isidentifier()))[:MAX_COLUMNS],
        **{key: first(key) if first(key) in allowed else allowed[0] for key, allowed in EXPLORE_CHOICES.items()})


def _period_bound(text: str, end: bool) -> pd.Timestamp | None:
    if not text:
        return None
    if len(text) == 4:
        return pd.Timestamp(f"{text}-12-31") if end else pd.Timestamp(f"{text}-01-01")
    return pd.Timestamp(text)


COMBINING_MARKS = r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]"


def fold(text: str) -> str:
    """Text as search compares it: without accents, case or repeated spaces (Volonté = volonte)."""
    decomposed = unicodedata.normalize("NFKD", str(text))
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).casefold().split())


def fold_all(values: pd.Index | pd.Series) -> pd.Series:
    """fold() for many values at once through pandas' string methods (a Python call per value is far slower)."""
    text = pd.Series(np.asarray(values, dtype=object), dtype="str")
    return (text.str.normalize("NFKD").str.replace(COMBINING_MARKS, "", regex=True).str.casefold()
            .str.replace(r"\s+", " ", regex=True).str.strip())


def entity_names(search: str, aliases: pd.DataFrame) -> set[str]:
    """Canonical names whose name or any alias contains the search text (no regard to case or accents)."""
    needle = fold(search)
    if not needle:
        return set()
    spellings = aliases["folded"] if "folded" in aliases else fold_all(aliases["spelling"])
    hits = aliases[spellings.str.contains(needle, regex=False).to_numpy()]
    return set(hits["name"])


def in_categories(values: pd.Series, wanted) -> np.ndarray:
    """values.isin(wanted) for a categorical, by a lookup of its codes: one pass over small integers instead of a
    hash of every row's value (the filter's hot path at ten million rows)."""
    categories = values.cat.categories
    hit = categories.isin(list(wanted))
    codes = values.cat.codes.to_numpy()
    wanted_codes = np.flatnonzero(hit)
    if len(wanted_codes) <= 4:
        # A few comparisons of small integers cost less than a lookup per row.
        found = np.zeros(len(codes), dtype=bool)
        for code in wanted_codes:
            found |= codes == int(code)  # a Python int keeps the comparison in the codes' own small dtype
        return found
    return np.append(hit, False)[codes]  # the last slot: a missing value (code -1)


def dates_us(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A date column as int64 microseconds, NaT as int64's minimum (precomputed by dashboard.data when present)."""
    if column + "_us" in frame:
        return frame[column + "_us"].to_numpy()
    return frame[column].to_numpy(dtype="datetime64[us]").astype("int64")


NAT_US = np.iinfo("int64").min


def _as_us(moment: pd.Timestamp) -> int:
    """A timestamp as the int64 microseconds of the chart's integer dates (Timestamp.value is nanoseconds)."""
    return int(np.datetime64(moment.to_datetime64(), "us").astype("int64"))


def view_mask(frame: pd.DataFrame, state: FilterState) -> np.ndarray:
    """The rows the view shows whatever the filters: counted once (the rows that draw, without the untraced rests
    unless asked for), the reports that draw nothing, or every report."""
    if state.view == "all":
        return np.ones(len(frame), dtype=bool)
    drawing = in_categories(frame["drawn_role"], DRAWING_ROLES)
    if state.view == "excluded":
        return ~drawing
    return drawing & ~in_categories(frame["drawn_role"], ("untraced",)) if state.traced_only else drawing


def mask(frame: pd.DataFrame, state: FilterState, aliases: pd.DataFrame | None = None,
         include_focus: bool = True) -> np.ndarray:
    """Rows matching every filter, as a numpy boolean array (vectorised on category codes and integer dates; no
    per-row Python)."""
    keep = view_mask(frame, state)
    start = _period_bound(state.date_from, end=False)
    stop = _period_bound(state.date_to, end=True)
    # A missing date matches no bound (NaT compares false).
    if start is not None:
        last = dates_us(frame, "date_last")
        keep &= (last >= _as_us(start)) & (last != NAT_US)
    if stop is not None:
        first = dates_us(frame, "date_start")
        keep &= (first <= _as_us(stop)) & (first != NAT_US)
    for column, values in (("payer_country", state.payer_country), ("recipient_country", state.recipient_country),
                           ("confidence", state.confidence), ("amount_kind", state.amount_kind),
                           ("ledger_file", state.ledger)):
        if values:
            keep &= in_categories(frame[column], values)
    if state.min_usd:
        keep &= frame["value_usd"].to_numpy(dtype="float64", na_value=np.nan) >= state.min_usd
    if state.entity:
        keep &= _naming(frame, state.entity, aliases)
    if include_focus:
        for level, value in state.focus:
            keep &= focus_mask(frame, level, value)
    return keep


def _naming(frame: pd.DataFrame, search: str, aliases: pd.DataFrame | None) -> np.ndarray:
    """Rows whose payer, recipient or intermediary is named by the search (by name or alias), and the rows they
    restate."""
    names = entity_names(search, aliases) if aliases is not None else set()
    needle = fold(search)
    by_name = np.zeros(len(frame), dtype=bool)
    for column in ("payer", "recipient", "intermediary"):
        categories = frame[column].cat.categories
        hit = fold_all(categories).str.contains(needle, regex=False).to_numpy() | categories.isin(names)
        if column == "intermediary" and names:
            hit |= np.array([any(n in c for n in names) for c in categories], dtype=bool)
        by_name |= in_categories(frame[column], categories[hit])
    # A report that restates another is the same transfer: finding one finds the row that draws it.
    restates = frame["preferred_key"].to_numpy()[by_name]
    restates = restates[restates >= 0]
    if len(restates):
        row_keys = frame["row_key"].to_numpy()
        # A lookup table over row keys rather than np.isin, which sorts every row's key per search.
        restated = np.zeros(int(max(row_keys.max(initial=0), restates.max())) + 1, dtype=bool)
        restated[restates] = True
        by_name |= restated[row_keys]
    return by_name


def focus_mask(frame: pd.DataFrame, level: str, value: str) -> np.ndarray:
    """Rows behind one clicked chart element (a Sankey node, a country, a bar, a timeline period)."""
    if level in ("year", "month"):
        # The period's bounds compared with integer dates: formatting every row's date as text costs seconds at
        # ten million rows.
        try:
            start = pd.Period(value, freq="Y" if level == "year" else "M")
        except (ValueError, TypeError):
            return np.zeros(len(frame), dtype=bool)
        if str(start) != value:
            return np.zeros(len(frame), dtype=bool)
        plot = frame["date_plot"].to_numpy(dtype="datetime64[us]").astype("int64")
        low = _as_us(start.start_time)
        high = _as_us((start + 1).start_time)
        return (plot >= low) & (plot < high)
    if level in ("payer_country", "recipient_country") and len(value) == 3:
        return (frame[level + "_iso3"] == value).to_numpy()
    if level == "tree":
        return (frame["tree_label"] == value).to_numpy(dtype=bool)
    if level == "recipient" and value == UNTRACED_LABEL:
        return (frame["recipient_label"] == value).to_numpy(dtype=bool)
    if level == "intermediary":
        categories = frame["intermediary"].cat.categories
        return in_categories(frame["intermediary"], [c for c in categories if value in c])
    return (frame[level] == value).to_numpy(dtype=bool)
