"""One entity: its aliases, everything it paid, received or passed on, and the sources behind them."""
from __future__ import annotations

import re
from dataclasses import replace

import dash
import pandas as pd
from dash import Input, Output, callback, dcc, html

from dashboard import data, views
from dashboard.filters import from_query
from dashboard.formatting import money
from dashboard.table import grid, rows_for_grid

dash.register_page(__name__, path="/entity", name="Entities", title="Entity · Influence Ledger", order=2)

SAFE_URL = re.compile(r"^https?://[^\s]+$", re.IGNORECASE)


def entity_options() -> list[dict]:
    frame = data.visible_rows()
    names = sorted((set(frame["payer"].unique()) | set(frame["recipient"].unique()) |
                    {n.strip() for cell in frame["intermediary"].unique() for n in str(cell).split(";")}) - {""})
    return [{"label": n, "value": n} for n in names]


def layout(name: str = "", **_query):
    return html.Div(className="page", children=[
        html.Div(className="controls", children=[html.Div([
            html.Label("Entity"),
            dcc.Dropdown(id="entity-name", options=entity_options(), value=name or None,
                         placeholder="Pick a payer, recipient or intermediary")])]),
        html.Div(id="entity-card"),
        grid("entity-grid"),
    ])


def source_links(urls: list[str]) -> list:
    """Sources as links only when they are http(s); anything else stays inert text."""
    items = []
    for url in urls:
        node = html.A(url, href=url, target="_blank", rel="noopener noreferrer") if SAFE_URL.match(url) else \
            html.Span(url, className="unsafe-source")
        items.append(html.Li(node))
    return items


def entity_outputs(name: str | None, search: str | None):
    if not name:
        return html.P("Pick an entity to see everything it paid and received.", className="empty"), []
    state = replace(from_query(search), focus=(), entity="", view="all")
    chart_rows, _ = views.rows_for(state.to_query())
    rows = views.full(chart_rows)
    involved = rows[(rows["payer"] == name).to_numpy() | (rows["recipient"] == name).to_numpy()
                    | rows["intermediary"].str.contains(name, regex=False).to_numpy()]
    involved = involved.assign(value_usd=chart_rows["value_usd"].to_numpy()[
        (rows["payer"] == name).to_numpy() | (rows["recipient"] == name).to_numpy()
        | rows["intermediary"].str.contains(name, regex=False).to_numpy()])
    register = data.load().entities
    entry = register[register["name"] == name]
    aliases = entry["aliases"].iloc[0].split("|") if len(entry) and entry["aliases"].iloc[0] else []
    counted = involved[involved["counts_in_totals"].to_numpy()]
    paid = counted.loc[counted["payer"] == name, "value_usd"].sum()
    received = counted.loc[counted["recipient"] == name, "value_usd"].sum()
    sources = list(dict.fromkeys(s.strip() for cell in involved["sources"] for s in cell.split("|") if s.strip()))
    card = html.Div(className="card", children=[
        html.H2(name),
        html.P(f"{entry['kind'].iloc[0].replace('_', ' ')} · {entry['country'].iloc[0] or 'country not stated'}"
               if len(entry) else "Not in the entity register.", className="meta"),
        html.P("Also written as: " + ", ".join(aliases)) if aliases else None,
        html.P(entry["notes"].iloc[0]) if len(entry) and entry["notes"].iloc[0] else None,
        html.P(f"Paid {money(paid)} and received {money(received)} in transfers counted once "
               f"({len(involved)} reports in all, including nested and restated ones).") if len(involved) else
        html.P("No transfers match these filters.", className="empty"),
        html.H3("Sources"), html.Ul(source_links(sources)),
    ])
    return card, rows_for_grid(involved.sort_values("value_usd", ascending=False, na_position="last"))


@callback(Output("entity-card", "children"), Output("entity-grid", "rowData"),
          Input("entity-name", "value"), Input("url", "search"))
def update_entity(name, search):
    return entity_outputs(name, search)
