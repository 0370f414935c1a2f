"""Home: the Sankey of who paid whom (or which country paid which), drill-down table and downloads."""
from __future__ import annotations

from dataclasses import replace

import dash
from dash import Input, Output, State, callback, ctx, dcc, html, no_update

from dashboard import figures, views
from dashboard.filters import DEFAULT_LEVELS, MAX_TOP_N, SANKEY_LEVELS, from_query
from dashboard.formatting import money
from dashboard.graph_config import graph_config, standalone_html
from dashboard.table import download, table_page, table_section

dash.register_page(__name__, path="/", name="Flows", title="Flows · Influence Ledger", order=0)

PRESETS = {"recipient": list(figures.PRESETS["recipient"]), "country": list(figures.PRESETS["country"])}


def preset_of(levels: tuple[str, ...]) -> str:
    for name, preset in PRESETS.items():
        if list(levels) == preset:
            return name
    return "custom"


def layout(**query):
    state = from_query("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
    return html.Div(className="page", children=[
        html.Div(className="controls", children=[
            html.Div([html.Label("View"), dcc.RadioItems(
                id="flow-preset", value=preset_of(state.levels), className="radio", inline=True, options=[
                    {"label": "by recipient", "value": "recipient"}, {"label": "by country", "value": "country"},
                    {"label": "custom levels", "value": "custom"}])]),
            html.Div([html.Label("Levels, in order"), dcc.Dropdown(
                id="flow-levels", multi=True, value=list(state.levels),
                options=[{"label": figures.LEVEL_LABELS[l], "value": l} for l in SANKEY_LEVELS])]),
            html.Div([html.Label("Top nodes per level", htmlFor="flow-top"),
                      dcc.Input(id="flow-top", type="number", min=1, max=MAX_TOP_N, step=1, value=state.top_n,
                                debounce=True, className="text")]),
        ]),
        html.P(id="flow-left-out", className="note"),
        html.Div(className="focus", children=[
            html.Span(id="flow-focus"),
            html.Button("Clear drill-down", id="focus-clear", className="link")]),
        dcc.Loading(dcc.Graph(id="sankey", config=graph_config("influence-ledger-flows"), className="chart")),
        html.Div(className="chart-actions", children=[
            html.Button("Download chart as HTML", id="sankey-html-button", className="secondary"),
            html.Span("PNG: use the camera icon above the chart.", className="hint"),
            dcc.Download(id="sankey-html-download")]),
        html.H2("Transfers behind the figures"),
        *table_section("flows"),
    ])


def flows_outputs(search: str | None):
    """Everything the flows page shows for a URL (called by the callback and by tests)."""
    rows, state, left = views.rows_with_left_out(search)
    fig = figures.sankey_figure(rows, state.levels, state.top_n)
    if state.view == "counted":
        note = [f"Sums count each transfer once: {money(views.total_usd(rows))} across {len(rows):,} transfers. "
                f"{left['total']} report(s) matching these filters are left out of the sums "
                f"({left['nested']} included in a larger transfer, {left['restated']} restating another report, "
                f"{left['rates']} rates without a closed period). ",
                dcc.Link("Show the left-out reports", href="/" + views.with_view(search, "excluded"))]
    elif state.view == "excluded":
        note = ["Showing reports left out of the sums (nested, restated or rates); their figures overlap others. ",
                dcc.Link("Back to the counted transfers", href="/" + views.with_view(search, "counted"))]
    else:
        note = ["Showing every report, including nested and restated ones: these figures overlap and must not be "
                "added up. ", dcc.Link("Count each transfer once", href="/" + views.with_view(search, "counted"))]
    return fig, note, views.focus_text(state) or "Click a node or a link to see the transfers behind it."


@callback(Output("sankey", "figure"), Output("flow-left-out", "children"), Output("flow-focus", "children"),
          Input("url", "search"))
def update_flows(search):
    return flows_outputs(search)


def table_outputs(search: str | None, sort_by: str = "value_usd"):
    return table_page(search, sort_by)


@callback(Output("flows-grid", "rowData"), Output("flows-pager-text", "children"),
          Input("url", "search"), Input("flows-sort", "value"))
def update_table(search, sort_by):
    return table_outputs(search, sort_by)


@callback(Output("url", "search", allow_duplicate=True),
          Input("flow-preset", "value"), Input("flow-levels", "value"), Input("flow-top", "value"),
          Input("sankey", "clickData"), Input("focus-clear", "n_clicks"), Input("flows-prev", "n_clicks"),
          Input("flows-next", "n_clicks"), State("url", "search"), prevent_initial_call=True)
def flow_controls(preset, levels, top, click, _clear, _prev, _next, search):
    """Controls of this page that change the URL: levels, top N, drill-down clicks, paging."""
    state = from_query(search)
    trigger = ctx.triggered_id
    if trigger == "flow-preset" and preset in PRESETS:
        state = replace(state, levels=tuple(PRESETS[preset]), page=1)
    elif trigger == "flow-levels":
        chosen = tuple(l for l in (levels or []) if l in SANKEY_LEVELS)
        state = replace(state, levels=chosen if len(chosen) >= 2 else DEFAULT_LEVELS, page=1)
    elif trigger == "flow-top":
        state = replace(state, top_n=min(max(int(top or 1), 1), MAX_TOP_N))
    elif trigger == "sankey":
        state = focus_from_click(state, click)
    elif trigger == "focus-clear":
        state = replace(state, focus=(), page=1)
    elif trigger in ("flows-prev", "flows-next"):
        state = replace(state, page=max(state.page + (1 if trigger == "flows-next" else -1), 1))
    query = state.to_query()
    return query if query != (search or "") else no_update


def focus_from_click(state, click):
    """A clicked node focuses its level; a clicked link focuses both ends. 'Other' nodes are not a filter.

    Click events carry only the element's index, so the diagram's nodes and links are recomputed for the same
    URL (the same filters give the same diagram) and the index is looked up in them.
    """
    points = (click or {}).get("points") or []
    if not points or "pointNumber" not in points[0]:
        return state
    point = points[0]
    rows, _ = views.rows_for(state.to_query())
    nodes, links = figures.sankey_data(rows, state.levels, state.top_n)
    number = int(point["pointNumber"])
    if str(point.get("label", "")).startswith(figures.LINK_LABEL_PREFIX):
        if number >= len(links):
            return state
        keys = [links["source"].iloc[number], links["target"].iloc[number]]
    else:
        if number >= len(nodes):
            return state
        keys = [nodes["key"].iloc[number]]
    for key in keys:
        level, _, label = str(key).partition("\x1f")
        if label != figures.OTHER and level in SANKEY_LEVELS:
            value = country_code_for(label, level) if level in ("payer_country", "recipient_country") else label
            if value:
                state = state.with_focus(level, value)
    return replace(state, page=1)


def country_code_for(name: str, level: str) -> str:
    from dashboard import data
    frame = data.load().chart
    match = frame.loc[(frame[level + "_name"] == name).to_numpy(), level]
    return str(match.iloc[0]) if len(match) else ""


@callback(Output("flows-download", "data"), Input("flows-csv-button", "n_clicks"),
          Input("flows-xlsx-button", "n_clicks"), State("url", "search"), prevent_initial_call=True)
def download_rows(_csv, _xlsx, search):
    return download(search, excel=ctx.triggered_id == "flows-xlsx-button")


@callback(Output("sankey-html-download", "data"), Input("sankey-html-button", "n_clicks"), State("url", "search"),
          prevent_initial_call=True)
def download_sankey_html(_clicks, search):
    fig, _, _ = flows_outputs(search)
    return dcc.send_string(standalone_html(fig, "influence-ledger-flows"), "influence-ledger-flows.html")
