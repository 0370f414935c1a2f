"""Pure figure builders: a filtered frame in, a plotly Figure out (no Dash, no I/O)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from etl.schema import CONFIDENCE_LEVELS

from .formatting import money, span

# Okabe–Ito: distinguishable with the common forms of colour blindness.
CONFIDENCE_COLOURS = {
    "confirmed": "#009E73", "official_record": "#0072B2", "reported": "#E69F00", "alleged": "#D55E00",
    "admitted": "#CC79A7",
}
SERIES_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
                  "#999999"]
LEVEL_LABELS = {"payer_country": "Payer country", "payer": "Payer", "intermediary": "Intermediary",
                "recipient": "Recipient", "recipient_country": "Recipient country"}
PRESETS = {"recipient": ("payer", "intermediary", "recipient"), "country": ("payer_country", "recipient_country")}
OTHER = "Other"
LINK_LABEL_PREFIX = "link-"
FONT = dict(family="Inter, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif", size=13, color="#1f2933")


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


MAX_LABEL = 38


def short_label(label: str) -> str:
    """Long names are cut on the diagram (the hover shows them whole)."""
    return label if len(label) <= MAX_LABEL else label[:MAX_LABEL - 1].rstrip() + "…"


def empty_figure(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font=dict(size=16, color="#52606d"), x=0.5, y=0.5,
                       xref="paper", yref="paper")
    fig.update_layout(xaxis_visible=False, yaxis_visible=False, plot_bgcolor="white", paper_bgcolor="white",
                      font=FONT, margin=dict(l=10, r=10, t=30, b=10), height=360)
    return fig


def node_labels(frame: pd.DataFrame, level: str) -> pd.Series:
    """The label each row shows at a level: countries by name, empty when the level does not apply."""
    if level in ("payer_country", "recipient_country"):
        names = frame[level + "_name"].astype("str")
        return names.where(frame[level].astype("str").ne(""), "Country not stated")
    return frame[level].astype("str")


def _top_values(labels: pd.Series, values: pd.Series, top_n: int) -> set[str]:
    totals = values.groupby(labels.to_numpy(), observed=True).sum().drop(labels="", errors="ignore")
    return set(totals.nlargest(top_n).index)


def _currency_totals(frame: pd.DataFrame, keys: pd.Series) -> pd.Series:
    """'USD 2.9 bn; EUR 819,500' per key, from the original-currency totals."""
    amounts = frame["total_amount_f"].where(frame["total_amount_f"].notna(), frame["amount_f"])
    table = amounts.groupby([keys.to_numpy(), frame["currency"].to_numpy()]).sum()
    text = pd.Series([money(v, c) for (_, c), v in table.items()], index=table.index)
    return text.groupby(level=0).agg("; ".join)


def sankey_data(frame: pd.DataFrame, levels: tuple[str, ...], top_n: int = 10) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Nodes and links of the flow diagram.

    Each row walks its non-empty levels in order (a transfer without an intermediary goes straight from payer to
    recipient); beyond the top N per level (by USD) values are gathered in an "Other" node. Links are split by
    confidence so their colour can say how well documented they are.
    """
    if frame.empty or not levels:
        return pd.DataFrame(), pd.DataFrame()
    value = frame["value_usd"].fillna(0.0)
    labels = {}
    for level in levels:
        raw = node_labels(frame, level)
        keep = _top_values(raw, value, top_n)
        labels[level] = raw.where(raw.isin(keep) | raw.eq(""), OTHER)
    keys = {level: (level + "\x1f" + labels[level]).where(labels[level].ne(""), "") for level in levels}
    links = []
    for i, source_level in enumerate(levels):
        for j in range(i + 1, len(levels)):
            target_level = levels[j]
            between_empty = np.ones(len(frame), dtype=bool)
            for k in range(i + 1, j):
                between_empty &= keys[levels[k]].eq("").to_numpy()
            rows = keys[source_level].ne("").to_numpy() & keys[target_level].ne("").to_numpy() & between_empty
            if rows.any():
                links.append(pd.DataFrame({"source": keys[source_level][rows].to_numpy(),
                                           "target": keys[target_level][rows].to_numpy(),
                                           "row": np.flatnonzero(rows)}))
    if not links:
        return pd.DataFrame(), pd.DataFrame()
    pairs = pd.concat(links, ignore_index=True)
    rows = frame.iloc[pairs["row"].to_numpy()]
    pairs["confidence"] = rows["confidence"].astype("str").to_numpy()
    pairs["value"] = rows["value_usd"].fillna(0.0).to_numpy()
    pairs["first"] = rows["date_start"].to_numpy()
    pairs["last"] = rows["date_last"].to_numpy()
    grouped = pairs.groupby(["source", "target", "confidence"], sort=False)
    link_table = grouped.agg(value=("value", "sum"), count=("row", "size"), first=("first", "min"),
                             last=("last", "max")).reset_index()
    link_keys = pairs["source"] + "\x1e" + pairs["target"] + "\x1e" + pairs["confidence"]
    link_currency = _currency_totals(rows.reset_index(drop=True), link_keys)
    link_table["currencies"] = (link_table["source"] + "\x1e" + link_table["target"] + "\x1e"
                                + link_table["confidence"]).map(link_currency).fillna("")

    node_rows = pd.concat([pd.DataFrame({"key": keys[level], "row": np.arange(len(frame))}) for level in levels])
    node_rows = node_rows[node_rows["key"].ne("")]
    node_frame = frame.iloc[node_rows["row"].to_numpy()]
    node_rows = node_rows.assign(value=node_frame["value_usd"].fillna(0.0).to_numpy(),
                                 first=node_frame["date_start"].to_numpy(), last=node_frame["date_last"].to_numpy())
    nodes = node_rows.groupby("key", sort=False).agg(value=("value", "sum"), count=("row", "size"),
                                                     first=("first", "min"), last=("last", "max")).reset_index()
    nodes["currencies"] = nodes["key"].map(_currency_totals(node_frame.reset_index(drop=True),
                                                            node_rows["key"].reset_index(drop=True))).fillna("")
    nodes["level"] = nodes["key"].str.split("\x1f").str[0]
    nodes["label"] = nodes["key"].str.split("\x1f").str[1]
    order = {level: i for i, level in enumerate(levels)}
    nodes = nodes.assign(order=nodes["level"].map(order)).sort_values(["order", "value"], ascending=[True, False])
    return nodes.reset_index(drop=True), link_table


def sankey_figure(frame: pd.DataFrame, levels: tuple[str, ...], top_n: int = 10, title: str = "") -> go.Figure:
    nodes, links = sankey_data(frame, levels, top_n)
    if nodes.empty:
        return empty_figure("No transfers match these filters")
    index = {key: i for i, key in enumerate(nodes["key"])}
    node_hover = [f"<b>{label}</b> ({LEVEL_LABELS.get(level, level)})<br>{money(v)} at historical rates<br>"
                  f"{cur}<br>{n} transfer{'s' if n != 1 else ''}<br>{span(a, b)}"
                  for label, level, v, cur, n, a, b in zip(nodes["label"], nodes["level"], nodes["value"],
                                                           nodes["currencies"], nodes["count"], nodes["first"],
                                                           nodes["last"])]
    link_hover = [f"{money(v)} at historical rates<br>{cur}<br>{n} transfer{'s' if n != 1 else ''}<br>"
                  f"{span(a, b)}<br>confidence: {c.replace('_', ' ')}"
                  for v, cur, n, a, b, c in zip(links["value"], links["currencies"], links["count"], links["first"],
                                                links["last"], links["confidence"])]
    level_count = max(len(levels) - 1, 1)
    fig = go.Figure(go.Sankey(
        arrangement="snap",
        node=dict(label=[short_label(label) for label in nodes["label"]], pad=14, thickness=16, line=dict(color="#52606d", width=0.4),
                  color=["#9aa5b1" if label == OTHER else "#3e4c59" for label in nodes["label"]],
                  x=[0.001 + 0.998 * o / level_count for o in nodes["order"]],
                  customdata=np.column_stack([nodes["level"], nodes["label"], node_hover]).tolist(),
                  hovertemplate="%{customdata[2]}<extra></extra>", hoverlabel=dict(font=FONT)),
        # Dash passes only scalar click fields back, so a link is recognised by its label ("link-<row>").
        link=dict(label=[f"{LINK_LABEL_PREFIX}{i}" for i in range(len(links))],
                  source=links["source"].map(index).tolist(), target=links["target"].map(index).tolist(),
                  value=links["value"].clip(lower=0).tolist(),
                  color=[_rgba(CONFIDENCE_COLOURS.get(c, "#999999"), 0.45) for c in links["confidence"]],
                  customdata=np.column_stack([links["source"], links["target"], link_hover]).tolist(),
                  hovertemplate="%{customdata[2]}<extra></extra>"),
    ))
    for confidence in CONFIDENCE_LEVELS:  # a legend for link colours
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=confidence.replace("_", " "),
                                 marker=dict(size=12, color=CONFIDENCE_COLOURS[confidence], symbol="square"),
                                 showlegend=True, hoverinfo="skip"))
    fig.update_layout(title=dict(text=title, x=0.01), font=FONT, paper_bgcolor="white", plot_bgcolor="white",
                      margin=dict(l=10, r=10, t=40 if title else 10, b=10), height=560,
                      xaxis=dict(visible=False), yaxis=dict(visible=False),
                      legend=dict(title="Link colour: confidence", orientation="h", y=-0.02, x=0))
    return fig


def timeline_data(frame: pd.DataFrame, period: str = "year", top_n: int = 8) -> pd.DataFrame:
    """USD per period stacked by recipient country; a dated range is spread evenly over the periods it covers."""
    dated = frame[frame["date_start"].notna() & frame["value_usd"].notna()]
    if dated.empty:
        return pd.DataFrame(columns=["period", "country", "value"])
    freq = "Y" if period == "year" else "M"
    first = dated["date_start"].dt.to_period(freq)
    last = dated["date_last"].dt.to_period(freq)
    spans = (last.array.asi8 - first.array.asi8 + 1).clip(min=1)
    repeat = np.repeat(np.arange(len(dated)), spans)
    offsets = np.arange(len(repeat)) - np.repeat(np.cumsum(spans) - spans, spans)
    periods = pd.PeriodIndex.from_ordinals(first.array.asi8[repeat] + offsets, freq=freq)
    country = node_labels(dated, "recipient_country").to_numpy()[repeat]
    value = (dated["value_usd"].to_numpy() / spans)[repeat]
    table = pd.DataFrame({"period": periods.astype("str"), "country": country, "value": value})
    top = set(table.groupby("country")["value"].sum().nlargest(top_n).index)
    table["country"] = table["country"].where(table["country"].isin(top), OTHER)
    return table.groupby(["period", "country"], as_index=False)["value"].sum()


def timeline_figure(frame: pd.DataFrame, period: str = "year") -> go.Figure:
    table = timeline_data(frame, period)
    if table.empty:
        return empty_figure("No dated transfers match these filters")
    fig = go.Figure()
    order = table.groupby("country")["value"].sum().sort_values(ascending=False).index
    for i, country in enumerate(order):
        part = table[table["country"] == country]
        fig.add_trace(go.Bar(x=part["period"], y=part["value"], name=country,
                             marker_color=SERIES_COLOURS[i % len(SERIES_COLOURS)],
                             customdata=[money(v) for v in part["value"]],
                             hovertemplate=f"{country}<br>%{{x}}: %{{customdata}}<extra></extra>"))
    fig.update_layout(barmode="stack", font=FONT, paper_bgcolor="white", plot_bgcolor="white", height=420,
                      margin=dict(l=10, r=10, t=30, b=10), yaxis=dict(title="USD at historical rates",
                                                                      gridcolor="#e4e7eb"),
                      xaxis=dict(type="category", title=None), legend=dict(title="Recipient country"))
    return fig


def map_figure(frame: pd.DataFrame, side: str = "recipient_country") -> go.Figure:
    data = frame[frame[side + "_iso3"].ne("")]
    if data.empty:
        return empty_figure("No transfers with a known country match these filters")
    table = data.groupby(side + "_iso3").agg(value=("value_usd", "sum"), count=("row_key", "size"),
                                             name=(side + "_name", "first")).reset_index()
    fig = go.Figure(go.Choropleth(
        locations=table[side + "_iso3"], z=table["value"], locationmode="ISO-3", colorscale="Cividis",
        reversescale=True, marker_line_color="#ffffff", colorbar=dict(title="USD"),
        customdata=np.column_stack([table["name"], [money(v) for v in table["value"]], table["count"]]),
        hovertemplate="<b>%{customdata[0]}</b><br>%{customdata[1]}<br>%{customdata[2]} transfers<extra></extra>"))
    fig.update_layout(font=FONT, paper_bgcolor="white", height=460, margin=dict(l=0, r=0, t=10, b=0),
                      geo=dict(showframe=False, showcoastlines=False, projection_type="natural earth",
                               bgcolor="white", landcolor="#f5f7fa", showland=True))
    return fig


def top_bars(frame: pd.DataFrame, column: str, top_n: int = 15) -> go.Figure:
    data = frame[frame[column].astype("str").ne("")]
    if data.empty:
        return empty_figure("No transfers match these filters")
    totals = data.groupby(column, observed=True)["value_usd"].sum().nlargest(top_n).sort_values()
    fig = go.Figure(go.Bar(x=totals.to_numpy(), y=totals.index.astype("str"), orientation="h",
                           marker_color="#0072B2", customdata=[money(v) for v in totals.to_numpy()],
                           hovertemplate="%{y}: %{customdata}<extra></extra>",
                           text=[money(v) for v in totals.to_numpy()], textposition="auto"))
    fig.update_layout(font=FONT, paper_bgcolor="white", plot_bgcolor="white", height=max(260, 28 * len(totals) + 60),
                      margin=dict(l=10, r=10, t=10, b=10), xaxis=dict(title="USD at historical rates",
                                                                      gridcolor="#e4e7eb"))
    return fig
