"""Pure figure builders: a filtered frame in, a plotly Figure out (no Dash, no I/O)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from etl.schema import CONFIDENCE_LEVELS

from .filters import NAT_US, UNTRACED_LABEL, dates_us
from .formatting import date_as_written, figure, money, span, sum_figure

# Okabe–Ito: distinguishable with the common forms of colour blindness.
CONFIDENCE_COLOURS = {
    "confirmed": "#009E73", "official_record": "#0072B2", "reported": "#E69F00", "alleged": "#D55E00",
    "admitted": "#CC79A7",
}
SERIES_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
                  "#999999"]
LEVEL_LABELS = {"tree": "Larger transfer", "payer_country": "Payer country", "payer": "Payer", "intermediary": "Intermediary",
                "recipient": "Recipient", "recipient_country": "Recipient country"}
PRESETS = {"recipient": ("tree", "payer", "recipient"), "country": ("payer_country", "recipient_country")}
OTHER = "Other"
TREE_COLOUR = "#8c6d1f"  # the larger transfers that group their parts, and the outline of money inside them
LINK_LABEL_PREFIX = "link-"
FONT = dict(family="Inter, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif", size=13, color="#1f2933")


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def empty_figure(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font=dict(size=16, color="#52606d"), x=0.5, y=0.5,
                       xref="paper", yref="paper")
    fig.update_layout(xaxis_visible=False, yaxis_visible=False, plot_bgcolor="white", paper_bgcolor="white",
                      font=FONT, margin=dict(l=10, r=10, t=30, b=10), height=360)
    return fig


def node_labels(frame: pd.DataFrame, level: str) -> pd.Series:
    """The label each row shows at a level ("" when the level does not apply), as a categorical."""
    return frame[level + "_label"]


def _shifted_codes(labels: pd.Series) -> np.ndarray:
    """A categorical's codes shifted by one: a row without a category falls in 0, so counting every row per
    category is one unmasked pass (see _per_code)."""
    return np.add(labels.cat.codes.to_numpy(), 1, dtype=np.intp)


def _per_code(shifted: np.ndarray, size: int, chosen: np.ndarray | None = None,
              weights: np.ndarray | None = None) -> np.ndarray:
    """Per category (of `size`), how many rows of shifted codes (where `chosen` holds) it has, or their weights'
    sum; rows without a category left out."""
    return np.bincount(shifted if chosen is None else shifted[chosen], weights=weights,
                       minlength=size + 1)[1:]


def _level_nodes(labels: pd.Series, value: np.ndarray, top_n: int, offset: int = 0) -> tuple[np.ndarray, list[str]]:
    """Per row, the number of its node at this level (offset plus its rank, -1 when the level is empty); the top N
    labels by USD keep their own node, the rest share an "Other" node."""
    categories = labels.cat.categories.astype("str")
    shifted = _shifted_codes(labels)
    totals, counts = _per_code(shifted, len(categories), weights=value), _per_code(shifted, len(categories))
    candidates = np.flatnonzero((counts > 0) & (categories != ""))
    top = candidates[np.argsort(-totals[candidates], kind="stable")][:top_n]
    node_of_code = np.full(len(categories) + 1, -1, dtype="int64")
    node_of_code[top + 1] = offset + np.arange(len(top))
    names = [str(categories[i]) for i in top]
    is_top = np.zeros(len(categories), dtype=bool)
    is_top[top] = True
    others = candidates[~is_top[candidates]]
    if len(others):
        node_of_code[others + 1] = offset + len(top)
        names.append(OTHER)
    return node_of_code[shifted], names


def category_code(values: pd.Series, category: str) -> int:
    """The code of one category of a categorical (-2, matching no row, when it has none): comparing codes costs a
    fraction of comparing a million strings."""
    categories = values.cat.categories
    return int(categories.get_loc(category)) if category in categories else -2


NEVER_US = np.iinfo("int64").max  # an undated row's first day, so it never wins a minimum


@dataclass(frozen=True)
class _Items:
    """What _group and _currency_text read of the things they group, one entry each: the frame's rows (`count`
    None, one row each) or bundles of rows that agree on everything the flow diagram tells apart (see _bundles)."""

    frame: pd.DataFrame  # for the names behind the codes
    value: np.ndarray  # USD, 0 where unknown
    first_us: np.ndarray  # earliest date_start, NEVER_US when undated
    last_us: np.ndarray  # latest date_last, NAT_US when undated
    kind: np.ndarray  # amount_kind code
    converted: np.ndarray  # bool: not in USD as sourced
    currency: np.ndarray  # currency code
    row: np.ndarray  # the (first) row's position in frame
    tree_low: np.ndarray  # lowest and highest tree_label code among the rows (-1: in no tree)
    tree_high: np.ndarray
    count: np.ndarray | None = None  # rows per entry
    sourced: np.ndarray | None = None  # original-currency sum, 0 where unknown (None: read from frame's rows)

    def weights(self, positions: np.ndarray | None) -> np.ndarray | None:
        """Rows per entry at positions (None: every entry in order); None when each entry is one row."""
        return self.count if self.count is None or positions is None else self.count[positions]

    def sourced_at(self, positions: np.ndarray) -> np.ndarray:
        if self.sourced is not None:
            return self.sourced[positions]
        return _sourced_amount(self.frame, self.row[positions])


def _usd(frame: pd.DataFrame) -> np.ndarray:
    value = frame["value_usd"].to_numpy(dtype="float64", na_value=np.nan)
    return np.where(np.isnan(value), 0.0, value)


def _sourced_amount(frame: pd.DataFrame, rows: np.ndarray | None = None) -> np.ndarray:
    """Each row's figure in its own currency (its total, else its amount), 0 where it has neither."""
    amounts = frame["total_amount_f"].to_numpy()
    amounts = amounts if rows is None else amounts[rows]
    unknown = np.isnan(amounts)
    if unknown.any():
        fallback = frame["amount_f"].to_numpy()
        amounts = np.where(unknown, fallback if rows is None else fallback[rows], amounts)
    # np.where rather than np.nan_to_num, which also looks for infinities: twice the passes over the rows.
    return np.where(np.isnan(amounts), 0.0, amounts)


def _row_items(frame: pd.DataFrame, value: np.ndarray | None = None) -> _Items:
    """The frame's rows as _Items: views of its columns, nothing gathered."""
    first = dates_us(frame, "date_start")
    # int64 like the arrays ufunc.at folds them into: mixed integer types take its slow path (twenty times slower).
    tree = frame["tree_label"].cat.codes.to_numpy().astype("int64")
    return _Items(frame, _usd(frame) if value is None else value, np.where(first == NAT_US, NEVER_US, first),
                  dates_us(frame, "date_last"), frame["amount_kind"].cat.codes.to_numpy(),
                  frame["converted"].to_numpy(dtype=bool), frame["currency"].cat.codes.to_numpy(),
                  np.arange(len(frame)), tree, tree)


# Up to this many possible keys (and a few per entry), numbering the keys that occur is a count per possible key
# rather than a hash pass: 32 MB of counts at most, and none worth making for a few rows.
DENSE_KEYS = 1 << 22


def _dense_numbers(key: np.ndarray, span: int) -> tuple[np.ndarray, int]:
    """Each entry's number among the distinct values of key (all in 0..span-1), and how many there are; numbered
    in the order of the values when span is small, else by a hash pass in order of first appearance."""
    if span <= min(DENSE_KEYS, 4 * len(key) + 4096):
        occurs = np.bincount(key, minlength=span) > 0
        return (np.cumsum(occurs) - 1)[key], int(occurs.sum())
    numbers, uniques = pd.factorize(key)
    return numbers.astype("int64"), len(uniques)


def _combined_key(parts: list[tuple[np.ndarray, int]]) -> tuple[np.ndarray, int]:
    """One int64 per row from integer columns (each with the number of values it takes, -1 among them), and how
    many keys are possible; numbered densely whenever the next column would overflow the mixed-radix number."""
    key = np.zeros(len(parts[0][0]) if parts else 0, dtype="int64")
    span = 1
    for values, size in parts:
        if span * (size + 1) >= 2 ** 62:
            key, span = _dense_numbers(key, span)
        # In place: a temporary int64 column per part costs as much as the sums themselves.
        key *= size + 1
        key += values
        key += 1
        span *= size + 1
    return key, span


def _bundles(frame: pd.DataFrame, value: np.ndarray, parts: list[tuple[np.ndarray, int]]
             ) -> tuple[_Items, np.ndarray]:
    """The frame's rows gathered into bundles that agree on the given integer columns (each with its number of
    values; -1 allowed) and on currency and kind: every sum a diagram or list shows is then a sum of whole bundles,
    worked out once per bundle rather than once per row and level (the landing view of a SYNTHETIC 10M-row build,
    7.7M rows, makes 24,217 bundles). Returns the bundles as _Items, and each row's bundle."""
    currency = frame["currency"].cat.codes.to_numpy()
    kind = frame["amount_kind"].cat.codes.to_numpy()
    bundle, size = _dense_numbers(*_combined_key(
        [*parts, (currency, len(frame["currency"].cat.categories)),
         (kind, len(frame["amount_kind"].cat.categories))]))
    rows = _row_items(frame, value)
    first, last, first_row, tree_low, tree_high = _spans(bundle, rows, None, size)
    items = _Items(frame, np.bincount(bundle, weights=value, minlength=size), first, last, kind[first_row],
                   rows.converted[first_row], currency[first_row], first_row, tree_low, tree_high,
                   count=np.bincount(bundle, minlength=size),
                   sourced=np.bincount(bundle, weights=_sourced_amount(frame), minlength=size))
    return items, bundle


def _spans(keys: np.ndarray, items: _Items, positions: np.ndarray | None, size: int, trees: bool = True):
    """Per key (0..size-1) of entries of items at positions (None: every entry in order): the earliest first day
    (NEVER_US when none is dated), the latest last day, the first row, and the lowest and highest tree code
    (None, None when `trees` is False)."""
    def fold(ufunc, start: int, values: np.ndarray) -> np.ndarray:
        out = np.full(size, start, dtype="int64")
        ufunc.at(out, keys, values if positions is None else values[positions])
        return out

    spans = [fold(np.minimum, NEVER_US, items.first_us), fold(np.maximum, NAT_US, items.last_us),
             fold(np.minimum, NEVER_US, items.row)]
    if not trees:
        return (*spans, None, None)
    return (*spans, fold(np.minimum, NEVER_US, items.tree_low), fold(np.maximum, -2, items.tree_high))


def _counts(keys: np.ndarray, chosen: np.ndarray | None, weights: np.ndarray | None, size: int) -> np.ndarray:
    """Per key, how many rows of the entries where `chosen` holds (every entry when None; entries weighted by
    their rows)."""
    if chosen is not None:
        keys, weights = keys[chosen], None if weights is None else weights[chosen]
    counted = np.bincount(keys, weights=weights, minlength=size)
    return counted.round().astype("int64") if weights is not None else counted


def _group(keys: np.ndarray, items: _Items, positions: np.ndarray | None, trees: bool = True) -> pd.DataFrame:
    """Per small non-negative integer key (positions: the entries of items it groups, None for every entry in
    order): sum of USD, count of rows, date span, how many of its figures are lower bounds, estimates or converted
    from another currency, its first row and its tree (or -1 when its rows lie in several trees or none, or when
    `trees` is False: the flow list names no tree).

    Keys are dense codes, so bincount and ufunc.at do in one pass what a hash groupby would do in several.
    """
    def at(values: np.ndarray) -> np.ndarray:
        return values if positions is None else values[positions]

    size = int(keys.max()) + 1 if len(keys) else 0
    weights = items.weights(positions)
    total = np.bincount(keys, weights=at(items.value), minlength=size)
    count = _counts(keys, None, weights, size)
    kind = at(items.kind)
    at_least = _counts(keys, kind == category_code(items.frame["amount_kind"], "at_least"), weights, size)
    estimate = _counts(keys, kind == category_code(items.frame["amount_kind"], "estimate"), weights, size)
    converted = _counts(keys, at(items.converted), weights, size)
    first, last, first_row, tree_low, tree_high = _spans(keys, items, positions, size, trees)
    present = np.flatnonzero(count)
    tree = np.full(len(present), -1, dtype="int64")
    if trees:
        tree = np.where(tree_low[present] == tree_high[present], tree_low[present], -1)
    first_p = first[present]
    return pd.DataFrame({"value": total[present], "count": count[present],
                         "first": np.where(first_p == NEVER_US, NAT_US, first_p).astype("datetime64[us]"),
                         "last": last[present].astype("datetime64[us]"),
                         "at_least": at_least[present], "estimate": estimate[present],
                         "converted": converted[present], "row": first_row[present], "tree": tree}, index=present)


def _currency_text(keys: np.ndarray, items: _Items, positions: np.ndarray) -> pd.Series:
    """'$2.9 bn; €819,500' per key, from the original-currency totals."""
    amounts = items.sourced_at(positions)
    names = items.frame["currency"].cat.categories.astype("str")
    codes = items.currency[positions].astype("int64")
    combined = keys * (len(names) + 1) + codes
    sums = np.bincount(combined, weights=amounts, minlength=0)
    weights = items.weights(positions)
    counts = _counts(combined, None, weights, len(sums))
    present = np.flatnonzero(counts)
    # The kind travels with the figure as sourced too: "more than $1.36 m", "at least …" for a sum holding one.
    kind = items.frame["amount_kind"]
    kinds = items.kind[positions]
    at_least = _counts(combined, kinds == category_code(kind, "at_least"), weights, len(counts))
    estimate = _counts(combined, kinds == category_code(kind, "estimate"), weights, len(counts))
    single_kind = np.zeros(len(counts), dtype="int64")
    single_kind[combined] = kinds
    kind_names = list(kind.cat.categories.astype("str"))
    key_of, code_of = present // (len(names) + 1), present % (len(names) + 1)
    text = pd.Series([figure(v, str(names[c]), kind_names[single_kind[p]] if single_kind[p] >= 0 else "")
                      if counts[p] == 1 else sum_figure(v, str(names[c]), int(at_least[p]), int(estimate[p]))
                      for v, c, p in zip(sums[present], code_of, present)], index=key_of)
    return text.groupby(level=0).agg("; ".join)


def _flow_nodes(frame: pd.DataFrame, levels: tuple[str, ...], top_n: int):
    """Each row's USD and its node per level, the node keys ("level\\x1flabel") and how many nodes there are."""
    value = _usd(frame)
    node_of, node_keys = {}, []
    for level in levels:
        node_of[level], names = _level_nodes(node_labels(frame, level), value, top_n, len(node_keys))
        node_keys += [f"{level}\x1f{name}" for name in names]
    return value, node_of, node_keys, max(len(node_keys), 1)


def _link_keys(node_of: dict[str, np.ndarray], levels: tuple[str, ...], node_count: int, confidence: np.ndarray,
               confidence_count: int) -> tuple[np.ndarray, np.ndarray]:
    """Per link an entry makes, a dense key (source node, target node, confidence) beside the entry's position: an
    entry walks its non-empty levels in order."""
    link_keys, link_positions = [], []
    for i, source_level in enumerate(levels):
        for j in range(i + 1, len(levels)):
            source, target = node_of[source_level], node_of[levels[j]]
            usable = (source >= 0) & (target >= 0)
            for k in range(i + 1, j):
                usable &= node_of[levels[k]] < 0
            positions = np.flatnonzero(usable)
            link_keys.append((source[positions] * node_count + target[positions]) * (confidence_count + 1)
                             + confidence[positions])
            link_positions.append(positions)
    return np.concatenate(link_keys), np.concatenate(link_positions)


def _confidence(frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    return (frame["confidence"].cat.codes.to_numpy().astype("int64"),
            list(frame["confidence"].cat.categories.astype("str")))


def _split(groups: np.ndarray, values: np.ndarray, count: int) -> list[np.ndarray]:
    """values grouped by their group number 0..count-1, in one sort."""
    order = np.argsort(groups, kind="stable")
    bounds = np.searchsorted(groups[order], np.arange(count + 1))
    return [values[order[a:b]] for a, b in zip(bounds[:-1], bounds[1:])]


def sankey_members(frame: pd.DataFrame, levels: tuple[str, ...], nodes: pd.DataFrame, top_n: int = 10
                   ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The row positions behind each node and each link of sankey_data(frame, levels, top_n) (whose nodes are
    given), in its order: what a published chart lists when a reader clicks one."""
    if nodes.empty:
        return [], []
    _, node_of, node_keys, node_count = _flow_nodes(frame, levels, top_n)
    confidence, confidence_names = _confidence(frame)
    keys, rows_idx = _link_keys(node_of, levels, node_count, confidence, len(confidence_names))
    # sankey_data's links are its distinct keys in ascending order.
    distinct = np.unique(keys)
    link_rows = _split(np.searchsorted(distinct, keys), rows_idx, len(distinct))
    position = {key: i for i, key in enumerate(nodes["key"])}
    node_position = np.array([position.get(key, -1) for key in node_keys] + [-1], dtype="int64")
    node_ids = np.concatenate([node_of[level] for level in levels])
    node_rows = np.tile(np.arange(len(frame)), len(levels))
    keep = node_ids >= 0
    return _split(node_position[node_ids[keep]], node_rows[keep], len(nodes)), link_rows


def sankey_data(frame: pd.DataFrame, levels: tuple[str, ...], top_n: int = 10) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Nodes and links of the flow diagram, aggregated on integer codes (the hot path at a million rows).

    Each row walks its non-empty levels in order (a transfer without an intermediary goes straight from payer to
    recipient; one that is part of no larger transfer starts at its payer); beyond the top N per level (by USD)
    values are gathered in an "Other" node. Links are split by confidence so their colour can say how well
    documented they are. Rows are first gathered into bundles (_bundles), so the sums cost one pass over the rows.
    """
    if frame.empty or len(levels) < 2:
        return pd.DataFrame(), pd.DataFrame()
    value, node_of, node_keys, node_count = _flow_nodes(frame, levels, top_n)
    confidence, confidence_names = _confidence(frame)
    items, _ = _bundles(frame, value, [(node_of[level], node_count) for level in levels]
                        + [(confidence, len(confidence_names))])
    bundle_node_of = {level: node_of[level][items.row] for level in levels}
    keys, positions = _link_keys(bundle_node_of, levels, node_count, confidence[items.row], len(confidence_names))
    if not len(keys):
        return pd.DataFrame(), pd.DataFrame()
    links = _group(keys, items, positions)
    links["currencies"] = _currency_text(keys, items, positions).reindex(links.index).fillna("")
    conf_index = links.index.to_numpy() % (len(confidence_names) + 1)
    pair = links.index.to_numpy() // (len(confidence_names) + 1)
    links = links.reset_index(drop=True).assign(
        source=[node_keys[p // node_count] for p in pair], target=[node_keys[p % node_count] for p in pair],
        confidence=[confidence_names[c] for c in conf_index])

    node_ids = np.concatenate([bundle_node_of[level] for level in levels])
    node_positions = np.tile(np.arange(len(items.row)), len(levels))
    keep = node_ids >= 0
    node_ids, node_positions = node_ids[keep], node_positions[keep]
    nodes = _group(node_ids, items, node_positions)
    nodes["currencies"] = _currency_text(node_ids, items, node_positions).reindex(nodes.index).fillna("")
    nodes["key"] = [node_keys[i] for i in nodes.index]
    nodes["level"] = nodes["key"].str.split("\x1f").str[0]
    nodes["label"] = nodes["key"].str.split("\x1f").str[1]
    order = {level: i for i, level in enumerate(levels)}
    nodes = nodes.assign(order=nodes["level"].map(order)).sort_values(["order", "value"], ascending=[True, False])
    return nodes.reset_index(drop=True), links


def flow_list(frame: pd.DataFrame, limit: int = 30) -> tuple[pd.DataFrame, int]:
    """The payer → recipient flows of the view, largest first (at most limit), and how many there are in all."""
    if frame.empty:
        return pd.DataFrame(), 0
    payer, recipient = frame["payer_label"], frame["recipient_label"]
    payers, recipients = payer.cat.codes.to_numpy(), recipient.cat.codes.to_numpy()
    width = len(recipient.cat.categories)
    rows = np.flatnonzero((payers >= 0) & (recipients >= 0))
    # Row by row: a flow list has about as many flows as bundles of rows (see _bundles) would have.
    flow, _ = _dense_numbers(payers[rows].astype("int64") * width + recipients[rows],
                             len(payer.cat.categories) * max(width, 1))
    items = _row_items(frame)
    groups = _group(flow, items, None if len(rows) == len(frame) else rows, trees=False).drop(columns="tree")
    # Largest first; equal ones in the order of their first row.
    groups = groups.sort_values(["value", "row"], ascending=[False, True], kind="stable")
    top = groups.head(limit)
    # Original-currency sums only for the flows listed.
    chosen = np.isin(flow, top.index.to_numpy())
    top = top.assign(currencies=_currency_text(flow[chosen], items, rows[chosen]).reindex(top.index).fillna(""))
    first_row = top["row"].to_numpy()
    top = top.assign(payer=np.asarray(payer.cat.categories.astype("str"))[payers[first_row]],
                     recipient=np.asarray(recipient.cat.categories.astype("str"))[recipients[first_row]])
    return top.reset_index(drop=True), len(groups)


def group_figure(value: float, count: int, at_least: int, estimate: int, converted: int, kind: str = "") -> str:
    """The figure of a node, link or flow as the sources allow: 'more than $7.6 m' for one lower bound, 'at least
    $8.2 m' for a sum containing one, 'about …' for estimates; converted figures to three significant figures."""
    if count == 1:
        return figure(value, "USD", kind, approx=bool(converted))
    return sum_figure(value, "USD", at_least, estimate, approx=bool(converted))


NODE_PAD = 22  # px between nodes of a column: at least a label's height, so labels never overlap
ROW_HEIGHT = 30  # px per node of the fullest column, on top of the padding
MIN_HEIGHT = 420
CHAR_WIDTH = 6.6  # px of an average character of the diagram's 12 px font


def chart_height(nodes: pd.DataFrame) -> int:
    """Tall enough that the fullest column gives every node its padding and a readable share."""
    fullest = int(nodes.groupby("level").size().max()) if len(nodes) else 1
    return max(MIN_HEIGHT, fullest * (NODE_PAD + ROW_HEIGHT) + 40)


def node_positions(nodes: pd.DataFrame, height: int, margin: int) -> tuple[list[float], list[float]]:
    """Node centres (x, y in 0..1), each level in its own column and its nodes stacked largest first.

    Plotly places a node whose level has no incoming link in the first column; fixing every node's position keeps
    a payer that is part of no larger transfer in the payers' column, and stacking with the diagram's own scale and
    padding keeps every label clear of its neighbours."""
    plot = height - margin
    columns = nodes.groupby("order")
    scale = min((plot - NODE_PAD * (len(g) - 1)) / max(float(g["value"].clip(lower=0).sum()), 1e-9)
                for _, g in columns)
    level_count = max(int(nodes["order"].max()), 1)
    xs, ys = [0.0] * len(nodes), [0.0] * len(nodes)
    for order, group in columns:
        top = 0.0
        for i, value in zip(group.index, group["value"].clip(lower=0)):
            size = float(value) * scale
            xs[i] = 0.001 + 0.998 * int(order) / level_count
            ys[i] = min(max((top + size / 2) / plot, 0.001), 0.999)
            top += size + NODE_PAD
    return xs, ys


class RowDetails:
    """One row's figure as sourced, its date as written and the transfer it is a direct part of, read from the
    chart frame's columns as arrays once per figure (row-by-row pandas access costs a millisecond a row)."""

    COLUMNS = ("currency", "amount_kind", "date_raw", "parent_label", "drawn_role")

    def __init__(self, frame: pd.DataFrame):
        self.amount = frame["amount_f"].to_numpy()
        self.codes = {c: frame[c].cat.codes.to_numpy() for c in self.COLUMNS}
        # Categories are looked up per row asked for: a build's date texts and parent labels number in the
        # millions, and a figure names a few dozen rows.
        self.categories = {c: frame[c].cat.categories for c in self.COLUMNS}

    def text(self, column: str, position: int) -> str:
        code = int(self.codes[column][position])
        return str(self.categories[column][code]) if code >= 0 else ""

    def __call__(self, position: int) -> dict:
        kind = self.text("amount_kind", position)
        return {"sourced": figure(float(self.amount[position]), self.text("currency", position), kind),
                "kind": kind, "date": date_as_written(self.text("date_raw", position)),
                "parent": self.text("parent_label", position), "role": self.text("drawn_role", position)}


def _row_detail(frame: pd.DataFrame, position: int, details: RowDetails | None = None) -> dict:
    return (details or RowDetails(frame))(position)


def _figure_text(g, frame: pd.DataFrame, details: RowDetails | None = None) -> str:
    """A node's or link's figure in USD with its kind, e.g. 'more than $7.6 m', 'about $4.6 m'."""
    if g.count == 1:
        detail = _row_detail(frame, int(g.row), details)
        if detail["kind"] in ("monthly", "yearly"):
            return f"{money(g.value, approx=bool(g.converted))} ({detail['sourced']})"
        if detail["role"] in ("rest", "untraced"):
            # The rest of a larger transfer: its own kind qualifies the whole, and so the rest too.
            return group_figure(g.value, 2, g.at_least, g.estimate, g.converted)
        return group_figure(g.value, 1, g.at_least, g.estimate, g.converted, detail["kind"])
    return group_figure(g.value, g.count, g.at_least, g.estimate, g.converted)


def _dates_text(g, frame: pd.DataFrame, details: RowDetails | None = None) -> str:
    return _row_detail(frame, int(g.row), details)["date"] if g.count == 1 else span(g.first, g.last)


def _transfers(n: int) -> str:
    return f"{n:,} transfer{'s' if n != 1 else ''}"


def fit_label(text: str, room: int) -> str:
    """Cut a label to the characters that fit its room (the hover and the flow list show it whole)."""
    room = max(room, 8)
    return text if len(text) <= room else text[:room - 1].rstrip() + "…"


def label_room(levels: int, width: int, position: int) -> int:
    """Characters a node label may take: labels of a column run towards the next column, those of the last
    column back towards the one before it, so the last gap is shared by two columns of labels."""
    gap = (width - 40) / max(levels - 1, 1)
    shared = levels > 1 and position >= levels - 2
    # Less the node's own width and the label's offset from it.
    return int(((gap / 2 if shared else gap) - 24) / CHAR_WIDTH)


NARROW = 640  # px: below this the diagram keeps its first and last level and the largest nodes only
NARROW_TOP_N = 8


def levels_for_width(levels: tuple[str, ...], top_n: int, width: int) -> tuple[tuple[str, ...], int]:
    """On a phone three columns of labels cannot be read: the diagram keeps the first and last of the view's
    levels (skipping the grouping column) and its largest nodes; the flow list under it keeps every flow."""
    if width >= NARROW or len(levels) <= 2:
        return levels, min(top_n, NARROW_TOP_N) if width < NARROW else top_n
    kept = [level for level in levels if level != "tree"]
    return (kept[0], kept[-1]) if len(kept) >= 2 else levels[-2:], min(top_n, NARROW_TOP_N)


def node_text(label: str, text: str, room: int) -> str:
    """'Velasco International Inc. · more than $7.6 m', the name cut first so the figure stays whole."""
    whole = f"{label} · {text}"
    if len(whole) <= room:
        return whole
    if room - len(text) - 3 >= 8:
        return f"{fit_label(label, room - len(text) - 3)} · {text}"
    return fit_label(label, room)


def sankey_figure(frame: pd.DataFrame, levels: tuple[str, ...], top_n: int = 10, title: str = "",
                  width: int = 1300, details: RowDetails | None = None,
                  parts: tuple[pd.DataFrame, pd.DataFrame] | None = None) -> go.Figure:
    """The flow diagram: every node labelled with its figure as sourced, hovers naming both ends of a link, parts of
    a larger transfer grouped under it; width is the room the page gives the chart (labels are cut to fit it).
    `parts` is sankey_data(frame, *levels_for_width(levels, top_n, width)) when the caller has it."""
    levels, top_n = levels_for_width(levels, top_n, width)
    nodes, links = parts if parts is not None else sankey_data(frame, levels, top_n)
    if nodes.empty:
        return empty_figure("No transfers match these filters")
    index = {key: i for i, key in enumerate(nodes["key"])}
    labels = nodes["label"].tolist()
    details = details or RowDetails(frame)
    figures_text = [_figure_text(g, frame, details) for g in nodes.itertuples()]
    # A larger transfer's node holds only what this view draws of it.
    figures_text = [f"{text} shown" if level == "tree" else text for text, level in zip(figures_text, nodes["level"])]
    texts = [node_text(label, text, label_room(len(levels), width, o))
             for label, text, o in zip(labels, figures_text, nodes["order"])]
    node_hover = []
    for g, text in zip(nodes.itertuples(), figures_text):
        lines = [f"<b>{g.label}</b> ({LEVEL_LABELS.get(g.level, g.level)})", f"{text} at historical rates"]
        if g.currencies:
            lines.append(f"as sourced: {g.currencies}")
        lines.append(f"{_transfers(g.count)} · {_dates_text(g, frame, details)}")
        if g.label == UNTRACED_LABEL:
            lines.append("what is left of a larger transfer once its documented parts are drawn")
        node_hover.append("<br>".join(lines))
    link_hover = []
    for g in links.itertuples():
        source, target = g.source.partition("\x1f")[2], g.target.partition("\x1f")[2]
        lines = [f"<b>{source} → {target}</b>", f"{_figure_text(g, frame, details)} at historical rates"]
        if g.currencies:
            lines.append(f"as sourced: {g.currencies}")
        lines += [f"{_transfers(g.count)} · {_dates_text(g, frame, details)}",
                  f"confidence: {g.confidence.replace('_', ' ')}"]
        detail = details(int(g.row)) if g.count == 1 else None
        if detail and detail["parent"]:
            lines.append(f"part of: {detail['parent']}")
        elif g.tree >= 0:
            lines.append(str(frame["tree_label"].cat.categories[g.tree]))
        link_hover.append("<br>".join(lines))
    height = chart_height(nodes)
    xs, ys = node_positions(nodes, height, 20)
    in_tree = (links["tree"] >= 0).tolist()
    sankey = dict(
        type="sankey", arrangement="fixed",
        node=dict(label=texts, pad=NODE_PAD, thickness=16, line=dict(color="#52606d", width=0.4),
                  color=["#9aa5b1" if label == OTHER else TREE_COLOUR if level == "tree"
                         else "#cbd2d9" if label == UNTRACED_LABEL else "#3e4c59"
                         for label, level in zip(labels, nodes["level"])],
                  x=xs, y=ys,
                  customdata=np.column_stack([nodes["level"], nodes["label"], node_hover]).tolist(),
                  hovertemplate="%{customdata[2]}<extra></extra>", hoverlabel=dict(font=FONT)),
        # Dash passes only scalar click fields back, so a link is recognised by its label ("link-<row>").
        link=dict(label=[f"{LINK_LABEL_PREFIX}{i}" for i in range(len(links))],
                  source=links["source"].map(index).tolist(), target=links["target"].map(index).tolist(),
                  value=links["value"].clip(lower=0).tolist(),
                  color=[_rgba(CONFIDENCE_COLOURS.get(c, "#999999"), 0.55 if t else 0.4)
                         for c, t in zip(links["confidence"], in_tree)],
                  # Money inside a larger transfer is a shade darker, as if lit by that transfer's node.
                  customdata=link_hover, hovertemplate="%{customdata}<extra></extra>"),
        textfont=dict(family=FONT["family"], size=12, color="#1f2933"),
    )
    legend = [dict(type="scatter", x=[None], y=[None], mode="markers", name=c.replace("_", " "), showlegend=True,
                   hoverinfo="skip", marker=dict(size=12, color=CONFIDENCE_COLOURS[c], symbol="square"))
              for c in CONFIDENCE_LEVELS]  # a legend for link colours
    # The colour legend goes in a bottom margin of its own, under the nodes: its title above its entries, which
    # take two rows on a phone (drawn over the chart, it would hide the smallest nodes from the pointer).
    legend_room = 100 if width < 700 else 60
    layout = dict(title=dict(text=title, x=0.01), font=FONT, paper_bgcolor="white", plot_bgcolor="white",
                  margin=dict(l=10, r=10, t=40 if title else 10, b=legend_room), height=height + legend_room - 10,
                  xaxis=dict(visible=False), yaxis=dict(visible=False),
                  legend=dict(title=dict(text="Link colour: confidence", side="top"), orientation="h",
                              yref="container", y=0, yanchor="bottom", x=0))
    # Built from plain dicts of known-good properties: plotly's validation would cost more than the data work.
    return go.Figure(dict(data=[sankey, *legend], layout=layout), _validate=False)


def _period_ordinals(dates: np.ndarray, period: str) -> np.ndarray:
    """Dates as the ordinals of pandas' yearly or monthly periods (years or months since 1970), without a Period
    object per row."""
    return dates.astype("datetime64[Y]" if period == "year" else "datetime64[M]").astype("int64")


def timeline_data(frame: pd.DataFrame, period: str = "year", top_n: int = 8) -> pd.DataFrame:
    """USD per period stacked by recipient country; a dated range is spread evenly over the periods it covers.
    `period` is the period's label (2012, 2012-07) and `start` its first day, for a real date axis."""
    start_us, last_us = dates_us(frame, "date_start"), dates_us(frame, "date_last")
    usd = frame["value_usd"].to_numpy(dtype="float64", na_value=np.nan)
    keep = np.flatnonzero((start_us != NAT_US) & ~np.isnan(usd))
    if not len(keep):
        return pd.DataFrame(columns=["period", "start", "country", "value"])
    freq = "Y" if period == "year" else "M"
    first = _period_ordinals(start_us[keep].astype("datetime64[us]"), period)
    spans = (_period_ordinals(last_us[keep].astype("datetime64[us]"), period) - first + 1).clip(min=1)
    labels = node_labels(frame, "recipient_country")
    codes = labels.cat.codes.to_numpy()[keep]
    names = labels.cat.categories.astype("str")
    # Rows alike in first period, span and country are spread alike: each such bundle is spread once, its sum.
    bundle, size = _dense_numbers(*_combined_key([(first - first.min(), int(first.max() - first.min()) + 1),
                                                  (spans - 1, int(spans.max())), (codes, len(names))]))
    one_row = np.empty(size, dtype="int64")
    one_row[bundle] = np.arange(len(bundle))  # any row of a bundle stands for it: they agree on all three
    first, spans, codes = first[one_row], spans[one_row], codes[one_row]
    repeat = np.repeat(np.arange(size), spans)
    offsets = np.arange(len(repeat)) - np.repeat(np.cumsum(spans) - spans, spans)
    ordinals = first[repeat] + offsets
    value = (np.bincount(bundle, weights=usd[keep], minlength=size) / spans)[repeat]
    # Countries as category codes until the few groups are made: a text per spread row would cost most of the time.
    codes = codes[repeat]
    per_country = pd.Series(value).groupby(codes).sum()
    per_country = per_country[per_country.index >= 0]
    totals = pd.Series(per_country.to_numpy(), index=names[per_country.index.to_numpy()]).sort_index()
    top = set(totals.nlargest(top_n).index)
    shown = np.array([name if name in top else OTHER for name in names] + [""], dtype=object)
    drawn = sorted(set(shown[per_country.index.to_numpy()]))
    rank_of = {name: i for i, name in enumerate(drawn)}
    rank = np.array([rank_of.get(name, -1) for name in shown], dtype="int64")[np.where(codes >= 0, codes, -1)]
    grouped = pd.DataFrame({"ordinal": ordinals, "rank": rank, "value": value})
    grouped = grouped[grouped["rank"] >= 0].groupby(["ordinal", "rank"], as_index=False)["value"].sum()
    periods = pd.PeriodIndex.from_ordinals(grouped["ordinal"].to_numpy(), freq=freq)
    table = pd.DataFrame({"period": periods.astype("str"), "start": periods.to_timestamp(),
                          "country": np.array(drawn, dtype=object)[grouped["rank"].to_numpy()],
                          "value": grouped["value"].to_numpy()})
    return table.sort_values("start")


def timeline_figure(frame: pd.DataFrame, period: str = "year", scale: str = "linear") -> go.Figure:
    """Bars on a real, chronological date axis; a log scale lets small years show beside a fund's billions."""
    table = timeline_data(frame, period)
    if table.empty:
        return empty_figure("No dated transfers match these filters")
    order = table.groupby("country")["value"].sum().sort_values(ascending=False).index
    width = (365 if period == "year" else 28) * 24 * 3600 * 1000 * 0.8  # bar width in ms on a date axis
    bars = []
    for i, country in enumerate(order):
        part = table[table["country"] == country]
        bars.append(dict(
            type="bar", x=part["start"].to_numpy(), y=part["value"].to_numpy(), name=country, width=width,
            marker=dict(color=SERIES_COLOURS[i % len(SERIES_COLOURS)]),
            customdata=np.column_stack([part["period"], [money(v, approx=True) for v in part["value"]]]),
            hovertemplate=f"{country}<br>%{{customdata[0]}}: %{{customdata[1]}}<extra></extra>"))
    # The heading above the chart names the unit ("USD per period"); the axis says only when its scale is not
    # linear, leaving a phone's width to the bars.
    yaxis = dict(title=dict(text="log scale") if scale == "log" else {}, gridcolor="#e4e7eb",
                 type="log" if scale == "log" else "linear", tickprefix="$")
    layout = dict(barmode="stack", font=FONT, paper_bgcolor="white", plot_bgcolor="white", height=420,
                  margin=dict(l=10, r=10, t=30, b=10), yaxis=yaxis,
                  xaxis=dict(type="date", title={}, tickformat="%Y" if period == "year" else "%b %Y"),
                  # The legend's title above its entries, so they wrap in rows on a phone rather than stacking
                  # into a column as tall as the chart.
                  legend=dict(title=dict(text="Recipient country", side="top"), orientation="h", y=-0.12, x=0))
    # Built from plain dicts of known-good properties: plotly's validation would cost more than the sums.
    return go.Figure(dict(data=bars, layout=layout), _validate=False)


def _per_country(frame: pd.DataFrame, side: str) -> pd.DataFrame:
    """USD and transfers per ISO-3 country of one side (in the codes' order), with the name of its first row that
    has one; counted on category codes, without copying the rows."""
    iso = frame[side + "_iso3"]
    categories = iso.cat.categories.astype("str")
    shifted = _shifted_codes(iso)
    value, count = _per_code(shifted, len(categories), weights=_usd(frame)), _per_code(shifted, len(categories))
    named = frame[side + "_name"].cat.codes.to_numpy()
    rows = np.flatnonzero((shifted > 0) & (named >= 0))
    first = np.full(len(categories), len(frame), dtype="int64")
    np.minimum.at(first, shifted[rows] - 1, rows)
    shown = np.flatnonzero((count > 0) & (categories != ""))
    names = frame[side + "_name"].cat.categories.astype("str")
    return pd.DataFrame({side + "_iso3": categories[shown], "value": value[shown], "count": count[shown],
                         "name": [str(names[named[r]]) if r < len(frame) else None for r in first[shown]]})


def map_figure(frame: pd.DataFrame, side: str = "recipient_country") -> go.Figure:
    table = _per_country(frame, side)
    if table.empty:
        return empty_figure("No transfers with a known country match these filters")
    fig = go.Figure(go.Choropleth(
        locations=table[side + "_iso3"], z=table["value"], locationmode="ISO-3", colorscale="Cividis",
        reversescale=True, marker_line_color="#ffffff",
        # A horizontal scale under the map leaves the map the whole width, on a phone too.
        colorbar=dict(title=dict(text="USD", side="top"), tickprefix="$", orientation="h", thickness=12, len=0.6,
                      x=0.5, xanchor="center", y=0, yanchor="top"),
        customdata=np.column_stack([table["name"], [money(v, approx=True) for v in table["value"]],
                                    table["count"]]),
        hovertemplate="<b>%{customdata[0]}</b><br>%{customdata[1]}<br>%{customdata[2]} transfers<extra></extra>"))
    fig.update_layout(font=FONT, paper_bgcolor="white", height=460, margin=dict(l=0, r=0, t=10, b=60),
                      # The whole world centred on Greenwich: plotly.js would otherwise centre it on the mean
                      # longitude of the countries shown (the Pacific, for transfers to the US and New Zealand).
                      geo=dict(showframe=False, showcoastlines=False, projection_type="natural earth",
                               projection_rotation=dict(lon=0, lat=0), center=dict(lon=0, lat=0),
                               lataxis_range=[-58, 85], lonaxis_range=[-180, 180],
                               bgcolor="white", landcolor="#e4e7eb", showland=True, showcountries=True,
                               countrycolor="#ffffff"))
    return fig


def top_bars(frame: pd.DataFrame, column: str, top_n: int = 15) -> go.Figure:
    """The largest payers or recipients, each bar labelled with its figure as the sources allow."""
    # Compared on the category codes: a text per row would cost more than the sums.
    labels, kind = frame[column], frame["amount_kind"]
    categories = labels.cat.categories.astype("str")
    # Each sum one bincount over the rows' codes.
    keys = _shifted_codes(labels)
    kinds = kind.cat.codes.to_numpy()

    def per_name(chosen: np.ndarray | None = None, weights: np.ndarray | None = None) -> np.ndarray:
        return _per_code(keys, len(categories), chosen, weights)

    count = per_name()
    shown = count > 0
    totals = pd.DataFrame({
        "value": per_name(weights=_usd(frame)), "count": count,
        "at_least": per_name(kinds == category_code(kind, "at_least")),
        "estimate": per_name(kinds == category_code(kind, "estimate")),
        "converted": per_name(frame["converted"].to_numpy(dtype=bool))}).loc[shown]
    totals.index = pd.Index(categories[shown], name="name")
    totals = totals.drop(index="", errors="ignore")
    if totals.empty:
        return empty_figure("No transfers match these filters")
    totals = totals.nlargest(top_n, "value").sort_values("value")
    text = [group_figure(g.value, max(g.count, 2) if g.count > 1 else 1, g.at_least, g.estimate, g.converted,
                         "at_least" if g.at_least else "estimate" if g.estimate else "")
            for g in totals.itertuples()]
    bars = dict(type="bar", x=totals["value"].to_numpy(), y=np.asarray(totals.index.astype("str"), dtype=object),
                orientation="h", marker=dict(color="#0072B2"), customdata=text,
                hovertemplate="%{y}: %{customdata}<extra></extra>", text=text, textposition="auto")
    layout = dict(font=FONT, paper_bgcolor="white", plot_bgcolor="white", height=max(260, 28 * len(totals) + 60),
                  margin=dict(l=10, r=10, t=10, b=10),
                  xaxis=dict(title=dict(text="USD at historical rates"), gridcolor="#e4e7eb"))
    # Plain dicts of known-good properties, as in sankey_figure: validating them costs more than the sums.
    return go.Figure(dict(data=[bars], layout=layout), _validate=False)
