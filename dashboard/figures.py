"""Pure figure builders: a filtered frame in, a plotly Figure out (no Dash, no I/O)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from etl.schema import CONFIDENCE_LEVELS

from .filters import UNTRACED_LABEL, dates_us
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


def _level_nodes(labels: pd.Series, value: np.ndarray, top_n: int) -> tuple[np.ndarray, list[str]]:
    """Per row, the index of its node at this level (-1 when empty); the top N labels by USD keep their own node,
    the rest share an "Other" node."""
    codes = labels.cat.codes.to_numpy()
    categories = labels.cat.categories.astype("str")
    present = codes >= 0
    totals = np.bincount(codes[present], weights=value[present], minlength=len(categories))
    counts = np.bincount(codes[present], minlength=len(categories))
    candidates = np.flatnonzero((counts > 0) & (categories != ""))
    top = candidates[np.argsort(-totals[candidates], kind="stable")][:top_n]
    local = np.full(len(categories) + 1, -1, dtype="int64")
    local[top] = np.arange(len(top))
    names = [str(categories[i]) for i in top]
    others = np.setdiff1d(candidates, top)
    if len(others):
        local[others] = len(top)
        names.append(OTHER)
    node = np.where(present, local[np.where(present, codes, len(categories))], -1)
    return node, names


def category_code(values: pd.Series, category: str) -> int:
    """The code of one category of a categorical (-2, matching no row, when it has none): comparing codes costs a
    fraction of comparing a million strings."""
    categories = values.cat.categories
    return int(categories.get_loc(category)) if category in categories else -2


def _group(keys: np.ndarray, frame: pd.DataFrame, rows: np.ndarray, value: np.ndarray) -> pd.DataFrame:
    """Per small non-negative integer key (rows = positions in frame): sum of USD, count, date span, how many of its
    figures are lower bounds, estimates or converted from another currency, its first row and its tree (or -1 when
    its rows lie in several trees or none).

    Keys are dense codes, so bincount and ufunc.at do in one pass what a hash groupby would do in several.
    """
    size = int(keys.max()) + 1 if len(keys) else 0
    total = np.bincount(keys, weights=value, minlength=size)
    count = np.bincount(keys, minlength=size)
    never = np.iinfo("int64").max
    first_days = dates_us(frame, "date_start")[rows]
    last_days = dates_us(frame, "date_last")[rows]
    missing = np.iinfo("int64").min  # NaT
    first = np.full(size, never, dtype="int64")
    np.minimum.at(first, keys, np.where(first_days == missing, never, first_days))
    last = np.full(size, missing, dtype="int64")
    np.maximum.at(last, keys, last_days)
    kind = frame["amount_kind"].cat.codes.to_numpy()[rows]
    at_least = np.bincount(keys, weights=kind == category_code(frame["amount_kind"], "at_least"), minlength=size)
    estimate = np.bincount(keys, weights=kind == category_code(frame["amount_kind"], "estimate"), minlength=size)
    converted = np.bincount(keys, weights=frame["converted"].to_numpy()[rows], minlength=size)
    first_row = np.full(size, never, dtype="int64")
    np.minimum.at(first_row, keys, rows)
    tree = frame["tree_label"].cat.codes.to_numpy()[rows].astype("int64")
    tree_low = np.full(size, never, dtype="int64")
    np.minimum.at(tree_low, keys, tree)
    tree_high = np.full(size, -2, dtype="int64")
    np.maximum.at(tree_high, keys, tree)
    present = np.flatnonzero(count)
    first_p = first[present]
    one_tree = tree_low[present] == tree_high[present]
    return pd.DataFrame({"value": total[present], "count": count[present],
                         "first": np.where(first_p == never, missing, first_p).astype("datetime64[us]"),
                         "last": last[present].astype("datetime64[us]"),
                         "at_least": at_least[present].astype("int64"), "estimate": estimate[present].astype("int64"),
                         "converted": converted[present].astype("int64"), "row": first_row[present],
                         "tree": np.where(one_tree, tree_low[present], -1)}, index=present)


def _currency_text(keys: np.ndarray, frame: pd.DataFrame, rows: np.ndarray) -> pd.Series:
    """'$2.9 bn; €819,500' per key, from the original-currency totals."""
    amounts = frame["total_amount_f"].to_numpy()[rows]
    amounts = np.where(np.isnan(amounts), frame["amount_f"].to_numpy()[rows], amounts)
    currency = frame["currency"]
    names = currency.cat.categories.astype("str")
    codes = currency.cat.codes.to_numpy()[rows].astype("int64")
    combined = keys * (len(names) + 1) + codes
    sums = np.bincount(combined, weights=np.nan_to_num(amounts), minlength=0)
    counts = np.bincount(combined)
    present = np.flatnonzero(counts)
    # The kind travels with the figure as sourced too: "more than $1.36 m", "at least …" for a sum holding one.
    kind = frame["amount_kind"]
    kinds = kind.cat.codes.to_numpy()[rows]
    at_least = np.bincount(combined, weights=kinds == category_code(kind, "at_least"), minlength=len(counts))
    estimate = np.bincount(combined, weights=kinds == category_code(kind, "estimate"), minlength=len(counts))
    single_kind = np.zeros(len(counts), dtype="int64")
    single_kind[combined] = kinds
    kind_names = list(kind.cat.categories.astype("str"))
    key_of, code_of = present // (len(names) + 1), present % (len(names) + 1)
    text = pd.Series([figure(v, str(names[c]), kind_names[single_kind[p]] if single_kind[p] >= 0 else "")
                      if counts[p] == 1 else sum_figure(v, str(names[c]), int(at_least[p]), int(estimate[p]))
                      for v, c, p in zip(sums[present], code_of, present)], index=key_of)
    return text.groupby(level=0).agg("; ".join)


def _flow_keys(frame: pd.DataFrame, levels: tuple[str, ...], top_n: int):
    """What sankey_data aggregates: each row's USD, its node per level, the node keys, and per link row a dense
    key (source node, target node, confidence) beside its row position."""
    value = frame["value_usd"].fillna(0.0).to_numpy()
    node_of, node_keys, offset = {}, [], 0
    for level in levels:
        local, names = _level_nodes(node_labels(frame, level), value, top_n)
        node_of[level] = np.where(local >= 0, local + offset, -1)
        node_keys += [f"{level}\x1f{name}" for name in names]
        offset += len(names)
    node_count = max(offset, 1)
    confidence = frame["confidence"].cat.codes.to_numpy().astype("int64")
    confidence_names = list(frame["confidence"].cat.categories.astype("str"))
    link_keys, link_rows = [], []
    for i, source_level in enumerate(levels):
        for j in range(i + 1, len(levels)):
            source, target = node_of[source_level], node_of[levels[j]]
            usable = (source >= 0) & (target >= 0)
            for k in range(i + 1, j):
                usable &= node_of[levels[k]] < 0
            rows = np.flatnonzero(usable)
            link_keys.append((source[rows] * node_count + target[rows]) * (len(confidence_names) + 1)
                             + confidence[rows])
            link_rows.append(rows)
    keys = np.concatenate(link_keys)
    rows_idx = np.concatenate(link_rows)
    return value, node_of, node_keys, node_count, confidence_names, keys, rows_idx


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
    value, node_of, node_keys, _, _, keys, rows_idx = _flow_keys(frame, levels, top_n)
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
    documented they are.
    """
    if frame.empty or len(levels) < 2:
        return pd.DataFrame(), pd.DataFrame()
    value, node_of, node_keys, node_count, confidence_names, keys, rows_idx = _flow_keys(frame, levels, top_n)
    if not len(keys):
        return pd.DataFrame(), pd.DataFrame()
    links = _group(keys, frame, rows_idx, value[rows_idx])
    links["currencies"] = _currency_text(keys, frame, rows_idx).reindex(links.index).fillna("")
    conf_index = links.index.to_numpy() % (len(confidence_names) + 1)
    pair = links.index.to_numpy() // (len(confidence_names) + 1)
    links = links.reset_index(drop=True).assign(
        source=[node_keys[p // node_count] for p in pair], target=[node_keys[p % node_count] for p in pair],
        confidence=[confidence_names[c] for c in conf_index])

    node_ids = np.concatenate([node_of[level] for level in levels])
    node_rows = np.tile(np.arange(len(frame)), len(levels))
    keep = node_ids >= 0
    node_ids, node_rows = node_ids[keep], node_rows[keep]
    nodes = _group(node_ids, frame, node_rows, value[node_rows])
    nodes["currencies"] = _currency_text(node_ids, frame, node_rows).reindex(nodes.index).fillna("")
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
    width = len(recipient.cat.categories) + 1
    keys = payer.cat.codes.to_numpy().astype("int64") * width + recipient.cat.codes.to_numpy().astype("int64")
    present = (payer.cat.codes.to_numpy() >= 0) & (recipient.cat.codes.to_numpy() >= 0)
    rows = np.flatnonzero(present)
    dense, _ = pd.factorize(keys[rows])  # a hash pass: the key space is too large for bincount
    groups = _group(dense, frame, rows, frame["value_usd"].fillna(0.0).to_numpy()[rows])
    groups = groups.sort_values("value", ascending=False, kind="stable")
    top = groups.head(limit)
    # Original-currency sums only for the flows listed.
    chosen = np.isin(dense, top.index.to_numpy())
    top = top.assign(currencies=_currency_text(dense[chosen], frame, rows[chosen]).reindex(top.index).fillna(""))
    first_key = keys[top["row"].to_numpy()]
    top = top.assign(payer=np.asarray(payer.cat.categories.astype("str"))[first_key // width],
                     recipient=np.asarray(recipient.cat.categories.astype("str"))[first_key % width])
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


def timeline_data(frame: pd.DataFrame, period: str = "year", top_n: int = 8) -> pd.DataFrame:
    """USD per period stacked by recipient country; a dated range is spread evenly over the periods it covers.
    `period` is the period's label (2012, 2012-07) and `start` its first day, for a real date axis."""
    keep = (frame["date_start"].notna() & frame["value_usd"].notna()).to_numpy()
    if not keep.any():
        return pd.DataFrame(columns=["period", "start", "country", "value"])
    # Only the columns the timeline reads: copying every chart column of a million rows costs more than the sums.
    dated = frame.loc[keep, ["date_start", "date_last", "value_usd", "recipient_country_label"]]
    freq = "Y" if period == "year" else "M"
    first = dated["date_start"].dt.to_period(freq).array.asi8
    last = dated["date_last"].dt.to_period(freq).array.asi8
    spans = (last - first + 1).clip(min=1)
    repeat = np.repeat(np.arange(len(dated)), spans)
    offsets = np.arange(len(repeat)) - np.repeat(np.cumsum(spans) - spans, spans)
    ordinals = first[repeat] + offsets
    value = (dated["value_usd"].to_numpy() / spans)[repeat]
    # Countries as category codes until the few groups are made: a text per spread row would cost most of the time.
    labels = node_labels(dated, "recipient_country")
    codes = labels.cat.codes.to_numpy()[repeat]
    names = labels.cat.categories.astype("str")
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
    fig = go.Figure()
    order = table.groupby("country")["value"].sum().sort_values(ascending=False).index
    width = (365 if period == "year" else 28) * 24 * 3600 * 1000 * 0.8  # bar width in ms on a date axis
    for i, country in enumerate(order):
        part = table[table["country"] == country]
        fig.add_trace(go.Bar(x=part["start"], y=part["value"], name=country, width=width,
                             marker_color=SERIES_COLOURS[i % len(SERIES_COLOURS)],
                             customdata=np.column_stack([part["period"], [money(v, approx=True)
                                                                          for v in part["value"]]]),
                             hovertemplate=f"{country}<br>%{{customdata[0]}}: %{{customdata[1]}}<extra></extra>"))
    fig.update_layout(barmode="stack", font=FONT, paper_bgcolor="white", plot_bgcolor="white", height=420,
                      margin=dict(l=10, r=10, t=30, b=10),
                      # The heading above the chart names the unit ("USD per period"); the axis says only
                      # when its scale is not linear, leaving a phone's width to the bars.
                      yaxis=dict(title="log scale" if scale == "log" else None,
                                 gridcolor="#e4e7eb", type="log" if scale == "log" else "linear", tickprefix="$"),
                      xaxis=dict(type="date", title=None, tickformat="%Y" if period == "year" else "%b %Y"),
                      # The legend's title above its entries, so they wrap in rows on a phone rather than
                      # stacking into a column as tall as the chart.
                      legend=dict(title=dict(text="Recipient country", side="top"), orientation="h", y=-0.12, x=0))
    return fig


def map_figure(frame: pd.DataFrame, side: str = "recipient_country") -> go.Figure:
    data = frame[(frame[side + "_iso3"] != "").to_numpy()]
    if data.empty:
        return empty_figure("No transfers with a known country match these filters")
    table = data.groupby(side + "_iso3", observed=True).agg(value=("value_usd", "sum"), count=("row_key", "size"),
                                                            name=(side + "_name", "first")).reset_index()
    table = table[table[side + "_iso3"].astype("str").ne("")]
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
    kind = frame["amount_kind"]
    table = pd.DataFrame({"name": frame[column], "value": frame["value_usd"], "at_least": kind == "at_least",
                          "estimate": kind == "estimate", "converted": frame["converted"]})
    totals = table.groupby("name", observed=True).agg(value=("value", "sum"), count=("value", "size"),
                                                      at_least=("at_least", "sum"), estimate=("estimate", "sum"),
                                                      converted=("converted", "sum"))
    totals = totals.drop(index="", errors="ignore")
    if totals.empty:
        return empty_figure("No transfers match these filters")
    totals = totals.nlargest(top_n, "value").sort_values("value")
    text = [group_figure(g.value, max(g.count, 2) if g.count > 1 else 1, g.at_least, g.estimate, g.converted,
                         "at_least" if g.at_least else "estimate" if g.estimate else "")
            for g in totals.itertuples()]
    fig = go.Figure(go.Bar(x=totals["value"].to_numpy(), y=totals.index.astype("str"), orientation="h",
                           marker_color="#0072B2", customdata=text,
                           hovertemplate="%{y}: %{customdata}<extra></extra>", text=text, textposition="auto"))
    fig.update_layout(font=FONT, paper_bgcolor="white", plot_bgcolor="white", height=max(260, 28 * len(totals) + 60),
                      margin=dict(l=10, r=10, t=10, b=10), xaxis=dict(title="USD at historical rates",
                                                                      gridcolor="#e4e7eb"))
    return fig
