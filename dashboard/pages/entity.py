"""One entity: its aliases, everything it paid, received or passed on, and the sources behind them."""
from __future__ import annotations

import re
from dataclasses import replace

import dash
import numpy as np
import pandas as pd
from dash import Input, Output, callback, dcc, html

from dashboard import data, figures, views
from dashboard.filters import DRAWING_ROLES, fold, from_query
from dashboard.formatting import date_as_written, figure
from dashboard.table import grid, rows_for_grid

dash.register_page(__name__, path="/entity", name="Entities", title="Entity · Influence Ledger", order=2)

ENTITY_COLUMNS = ("date", "flow", "amount", "counted", "confidence", "sources")
SAFE_URL = re.compile(r"^https?://[^\s]+$", re.IGNORECASE)


def entity_options() -> list[dict]:
    """Every name a visible row uses plus every registered name, searchable by its aliases without regard to case or
    accents (the dropdown searches the `search` text)."""
    dataset = data.load()
    frame = data.visible_rows(dataset)
    names = (set(frame["payer"].unique()) | set(frame["recipient"].unique())
             | {n.strip() for cell in frame["intermediary"].unique() for n in str(cell).split(";")}
             | set(dataset.entities["name"])) - {""}
    spellings = dataset.aliases.groupby("name")["spelling"].agg(" ".join).to_dict()
    return [{"label": n, "value": n, "search": f"{n} {fold(n)} {spellings.get(n, '')} {fold(spellings.get(n, ''))}"}
            for n in sorted(names, key=fold)]


def layout(name: str = "", **_query):
    return html.Div(className="page", children=[
        html.Div(className="controls", children=[html.Div([
            html.Label("Entity"),
            dcc.Dropdown(id="entity-name", options=entity_options(), value=name or None,
                         placeholder="Pick a payer, recipient or intermediary")])]),
        html.Div(id="entity-card"),
        # An entity's reports overlap (a prosecution's figure and the court's, a fund and its parts): the column
        # that says what each row counts replaces the plain USD figure.
        grid("entity-grid", ENTITY_COLUMNS),
    ])


def source_links(urls: list[str]) -> list:
    """Sources as links only when they are http(s); anything else stays inert text."""
    items = []
    for url in urls:
        node = html.A(url, href=url, target="_blank", rel="noopener noreferrer") if SAFE_URL.match(url) else \
            html.Span(url, className="unsafe-source")
        items.append(html.Li(node))
    return items


def involved_mask(rows: pd.DataFrame, name: str) -> np.ndarray:
    return ((rows["payer"] == name).to_numpy() | (rows["recipient"] == name).to_numpy()
            | rows["intermediary"].astype("str").str.contains(name, regex=False).to_numpy())


def side_text(rows: pd.DataFrame, verb: str) -> str:
    """'received $253,150 (part of $2.9 bn from … 2012/2014 (id))' for one transfer, a counted-once sum for more."""
    if not len(rows):
        return ""
    kinds = rows["amount_kind"].astype("str")
    if len(rows) == 1:
        text = figure(float(rows["drawn_usd"].iloc[0]), "USD", kinds.iloc[0], approx=bool(rows["converted"].iloc[0]))
        parent = rows["parent_label"].iloc[0]
        where = f", {date_as_written(str(rows['date_raw'].iloc[0]))}"
        return f"{verb} {text}{where}" + (f"; part of {parent}" if not pd.isna(parent) else "")
    total = figures.group_figure(float(np.nansum(rows["drawn_usd"].to_numpy(dtype="float64", na_value=np.nan))),
                                 len(rows), int(kinds.eq("at_least").sum()), int(kinds.eq("estimate").sum()),
                                 int(rows["converted"].sum()))
    parts = int((~rows["parent_label"].isna()).sum())
    return f"{verb} {total} in {len(rows)} transfers" + (f", {parts} of them parts of larger transfers" if parts else "")


def entity_outputs(name: str | None, search: str | None):
    if not name:
        return html.P("Pick an entity to see everything it paid and received.", className="empty"), []
    state = replace(from_query(search), focus=(), entity="", view="all")
    chart_rows, _ = views.rows_for(state.to_query())
    involved_chart = chart_rows[involved_mask(chart_rows, name)]
    involved = views.full(involved_chart).assign(value_usd=involved_chart["value_usd"].to_numpy())
    dataset = data.load()
    register = dataset.entities
    entry = register[register["name"] == name]
    aliases = entry["aliases"].iloc[0].split("|") if len(entry) and entry["aliases"].iloc[0] else []
    drawing = involved_chart["drawn_role"].isin(DRAWING_ROLES).to_numpy()
    counted = involved_chart[drawing]
    paid = counted[(counted["payer"] == name).to_numpy()]
    received = counted[(counted["recipient"] == name).to_numpy()]
    lines = [side_text(paid, "Paid"), side_text(received, "Received")]
    lines = [line for line in lines if line]
    if len(involved):
        summary = [html.P(line) for line in lines] or [html.P(
            f"Named in {len(involved)} report(s) that draw no money of their own: another report of the same transfer "
            "carries it, or the name appears only as an intermediary or in a rate without a total. They are listed "
            "below.")]
        summary.append(html.P(f"Each dollar counted once; {len(involved)} report(s) in all, including restated "
                              "ones and larger transfers with their parts, are listed below.", className="hint"))
    else:
        anywhere = involved_mask(data.visible_rows(dataset), name).any()
        summary = [html.P(f"{name}: registered, no transfers in the ledgers." if not anywhere and len(entry) else
                          "No transfers match these filters.", className="empty")]
    sources = list(dict.fromkeys(s.strip() for cell in involved["sources"] for s in cell.split("|") if s.strip()))
    card = html.Div(className="card", children=[
        html.H2(name),
        html.P(f"{entry['kind'].iloc[0].replace('_', ' ')} · {entry['country'].iloc[0] or 'country not stated'}"
               if len(entry) else "Not in the entity register.", className="meta"),
        html.P("Also written as: " + ", ".join(aliases)) if aliases else None,
        html.P(entry["notes"].iloc[0]) if len(entry) and entry["notes"].iloc[0] else None,
        *summary,
        html.H3("Sources"), html.Ul(source_links(sources)),
    ])
    return card, rows_for_grid(involved.sort_values("value_usd", ascending=False, na_position="last"))


@callback(Output("entity-card", "children"), Output("entity-grid", "rowData"),
          Input("entity-name", "value"), Input("url", "search"))
def update_entity(name, search):
    return entity_outputs(name, search)
