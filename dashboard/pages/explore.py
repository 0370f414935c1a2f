"""Timeline, world map and top payers/recipients; clicking any of them drills the table down."""
from __future__ import annotations

from dataclasses import replace

import dash
from dash import Input, Output, State, callback, ctx, dcc, html, no_update

from dashboard import figures, fold, table, views
from dashboard.filters import from_query
from dashboard.formatting import money
from dashboard.graph_config import graph_config, standalone_html
from dashboard.table import register_callbacks, table_section

dash.register_page(__name__, path="/explore", name="Timeline & map", title="Timeline & map · Influence Ledger",
                   order=1)

CHARTS = ("timeline", "map", "top-recipients", "top-payers")


fold.register("explore-options")


def layout(**query):
    state = from_query("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
    return html.Div(className="page", children=[
        fold.foldable("explore-options", "Chart options", html.Div(className="controls", id="explore-options-body", children=[
            html.Div([html.Label("Timeline by"), dcc.RadioItems(
                id="timeline-period", value=state.period, className="radio", inline=True,
                options=[{"label": "year", "value": "year"}, {"label": "month", "value": "month"}])]),
            html.Div([html.Label("Timeline scale"), dcc.RadioItems(
                id="timeline-scale", value=state.scale, className="radio", inline=True,
                options=[{"label": "linear", "value": "linear"},
                         {"label": "log (small sums beside large ones)", "value": "log"}])]),
            html.Div([html.Label("Map countries of"), dcc.RadioItems(
                id="map-side", value=state.map_side, className="radio", inline=True,
                options=[{"label": "recipients", "value": "recipient_country"},
                         {"label": "payers", "value": "payer_country"}])]),
        ])),
        html.P(id="explore-left-out", className="note"),
        html.Div(className="focus", children=[
            html.Span(id="explore-focus"),
            html.Button("Clear drill-down", id="explore-focus-clear", className="link")]),
        html.H2("USD per period, by recipient country"),
        html.P("A transfer dated by a range (2012/2014), a month or a year is spread evenly over the periods it "
               "covers: USD 2.9 bn over 2012/2014 counts USD 0.97 bn in each of the three years. Undated transfers are "
               "not on the timeline.", className="note"),
        dcc.Loading(dcc.Graph(id="timeline", config=graph_config("influence-ledger-timeline"), className="chart")),
        html.H2("Where the money went"),
        dcc.Loading(dcc.Graph(id="map", config=graph_config("influence-ledger-map"), className="chart")),
        html.Div(className="two-columns", children=[
            html.Div([html.H2("Top recipients"),
                      dcc.Graph(id="top-recipients", config=graph_config("influence-ledger-top-recipients"))]),
            html.Div([html.H2("Top payers"),
                      dcc.Graph(id="top-payers", config=graph_config("influence-ledger-top-payers"))]),
        ]),
        html.Div(className="chart-actions", children=[
            html.Button("Download timeline as HTML", id="timeline-html-button", className="secondary"),
            html.Button("Download map as HTML", id="map-html-button", className="secondary"),
            html.Span("PNG: use the camera icon above each chart.", className="hint"),
            dcc.Download(id="explore-html-download")]),
        html.H2("Transfers"),
        *table_section("explore"),
    ])


def shown_note(search, state, left: dict) -> list:
    """One line on what the charts count: each dollar once, and whether untraced rests are in."""
    if state.view != "counted":
        return ["These charts show every report at its full value: figures overlap. ",
                dcc.Link("Count each dollar once", href="/explore" + views.with_view(search, "counted"))]
    if not left["untraced"]:
        return ["Each dollar is counted once: parts of a larger transfer on their own, the larger one only for the "
                "rest."]
    if state.traced_only:
        return [f"Each dollar is counted once. Not shown: {money(left['untraced_usd'])} not yet traced to a recipient "
                "(the rest of larger transfers once their documented parts are drawn). ",
                dcc.Link("Show untraced money too", href="/explore" + views.with_view(search, "counted", False))]
    return [f"Each dollar is counted once, including {money(left['untraced_usd'])} not yet traced to a recipient. ",
            dcc.Link("Traced money only", href="/explore" + views.with_view(search, "counted", True))]


def explore_outputs(search, period=None, side=None, scale=None, filtered=None):
    rows, state, left = filtered or views.rows_with_left_out(search)
    period, side, scale = period or state.period, side or state.map_side, scale or state.scale
    return (figures.timeline_figure(rows, period, scale), figures.map_figure(rows, side),
            figures.top_bars(rows, "recipient"), figures.top_bars(rows, "payer"),
            views.focus_text(state) or "Click a period, a country or a bar to see the transfers behind it.",
            shown_note(search, state, left))


@callback(Output("timeline", "figure"), Output("map", "figure"), Output("top-recipients", "figure"),
          Output("top-payers", "figure"), Output("explore-focus", "children"),
          Output("explore-left-out", "children"), *table.outputs("explore"),
          Input("url", "search"), Input("explore-sort", "value"))
def update_explore(search, sort_by):
    """The charts, the note and the table from one filtering of the rows per change."""
    return table.page_answer("explore", search, sort_by, lambda filtered, _parts: explore_outputs(search, filtered=filtered))


@callback(Output("url", "search", allow_duplicate=True), Input("timeline-period", "value"),
          Input("timeline-scale", "value"), Input("map-side", "value"), State("url", "search"),
          prevent_initial_call=True)
def explore_settings(period, scale, side, search):
    """The timeline's period and scale and the map's side live in the URL like every other setting."""
    if views.page_just_mounted(ctx.triggered):
        return no_update
    state = replace(from_query(search), period=period or "year", scale=scale or "linear",
                    map_side=side or "recipient_country")
    query = state.to_query()
    return query if query != (search or "") else no_update


register_callbacks("explore", page=__name__)


def focus_for_click(state, chart: str, click: dict | None, period: str, side: str):
    point = ((click or {}).get("points") or [{}])[0]
    if chart == "timeline" and point.get("x"):
        # A date axis hands back the period's first day: 2012-01-01 → 2012, 2012-07-01 → 2012-07.
        return state.with_focus(period, str(point["x"])[:4 if period == "year" else 7])
    if chart == "map" and point.get("location"):
        return state.with_focus(side, str(point["location"]))
    if chart == "top-recipients" and point.get("y"):
        return state.with_focus("recipient", str(point["y"]))
    if chart == "top-payers" and point.get("y"):
        return state.with_focus("payer", str(point["y"]))
    return state


@callback(Output("url", "search", allow_duplicate=True),
          *[Input(chart, "clickData") for chart in CHARTS], Input("explore-focus-clear", "n_clicks"),
          Input("explore-prev", "n_clicks"), Input("explore-next", "n_clicks"),
          State("timeline-period", "value"), State("map-side", "value"), State("url", "search"),
          prevent_initial_call=True)
def explore_clicks(t_click, m_click, r_click, p_click, _clear, _prev, _next, period, side, search):
    if views.page_just_mounted(ctx.triggered):
        return no_update
    state = from_query(search)
    trigger = ctx.triggered_id
    clicks = dict(zip(CHARTS, (t_click, m_click, r_click, p_click)))
    if trigger in CHARTS:
        state = replace(focus_for_click(state, trigger, clicks[trigger], period, side), page=1)
    elif trigger == "explore-focus-clear":
        state = replace(state, focus=(), page=1)
    elif trigger in ("explore-prev", "explore-next"):
        state = replace(state, page=max(state.page + (1 if trigger == "explore-next" else -1), 1))
    query = state.to_query()
    return query if query != (search or "") else no_update


@callback(Output("explore-html-download", "data"), Input("timeline-html-button", "n_clicks"),
          Input("map-html-button", "n_clicks"), State("url", "search"), State("timeline-period", "value"),
          State("map-side", "value"), prevent_initial_call=True)
def explore_html(_t, _m, search, period, side):
    timeline, world, *_ = explore_outputs(search)
    fig, name = (timeline, "timeline") if ctx.triggered_id == "timeline-html-button" else (world, "map")
    return dcc.send_string(standalone_html(fig, f"influence-ledger-{name}"), f"influence-ledger-{name}.html")
