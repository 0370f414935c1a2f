"""Home: the Sankey of who paid whom (or which country paid which), drill-down table and downloads."""
from __future__ import annotations

from dataclasses import replace

import dash
from dash import Input, Output, State, callback, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from dashboard import figures, fold, publish, table, views
from dashboard.filters import DEFAULT_LEVELS, MAX_TOP_N, SANKEY_LEVELS, from_query
from dashboard.formatting import money
from dashboard.graph_config import graph_config, standalone_html
from dashboard.table import register_callbacks, table_page, table_section

dash.register_page(__name__, path="/", name="Flows", title="Flows · Influence Ledger", order=0)

DEFAULT_WIDTH = 1246  # px the chart has on a wide screen (see the viewport callback)
PRESETS = {"recipient": list(figures.PRESETS["recipient"]), "country": list(figures.PRESETS["country"])}


def preset_of(levels: tuple[str, ...]) -> str:
    for name, preset in PRESETS.items():
        if list(levels) == preset:
            return name
    return "custom"


fold.register("flow-options")


def layout(**query):
    state = from_query("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
    return html.Div(className="page", children=[
        fold.foldable("flow-options", "Chart options", html.Div(className="controls", id="flow-options-body", children=[
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
            html.Div([html.Label("Money shown"), dcc.Checklist(
                id="flow-traced", className="radio", value=["traced"] if state.traced_only else [],
                options=[{"label": "traced money only (hide what is not yet traced to a recipient)",
                          "value": "traced"}])]),
        ])),
        html.P(id="flow-left-out", className="note"),
        html.Div(className="focus", children=[
            html.Span(id="flow-focus"),
            html.Button("Clear drill-down", id="focus-clear", className="link")]),
        dcc.Store(id="viewport"),
        dcc.Loading(dcc.Graph(id="sankey", config=graph_config("influence-ledger-flows"), className="chart")),
        html.Div(className="chart-actions", children=[
            html.Button("Download chart as HTML", id="sankey-html-button", className="secondary"),
            html.Span("PNG: use the camera icon above the chart.", className="hint"),
            dcc.Download(id="sankey-html-download"),
            # A story package of this view for readers (public rows only): see dashboard/publish.py.
            html.Button("Publish", id="publish-button", className="secondary",
                        title="A zip for the graphics desk: interactive chart page, embed, data and sources"),
            dcc.Download(id="publish-download"),
            html.P(id="publish-status", className="hint", role="status")]),
        html.H2("Flows drawn, largest first"),
        html.P("Each line is one payer → recipient flow of the chart; open it to see the transfers behind it.",
               className="hint"),
        html.Div(id="flow-list", className="flow-list"),
        html.H2("Transfers behind the figures"),
        *table_section("flows"),
    ])


# The chart's width is the page's: the shell is at most 1280 px wide with 1 rem of padding on each side.
dash.clientside_callback("function(_) { return Math.min(window.innerWidth, 1280) - 34; }",
                         Output("viewport", "data"), Input("url", "pathname"))


def note_for(search: str | None, rows, state, left: dict) -> list:
    """What the chart counts and leaves out, in words a reader knows."""
    if state.view == "counted":
        parts = int((rows["tree_label"].cat.codes.to_numpy() >= 0).sum())
        note = [f"Each dollar is counted once: {views.sum_text(rows)} in {len(rows):,} transfers"
                + (f", {parts:,} of them documented parts of a larger transfer" if parts else "") + ". "]
        if left["untraced"]:
            of = f" (the rest of {left['untraced_of'][0]})" if len(left["untraced_of"]) == 1 else \
                f" (the rest of {left['untraced']:,} larger transfers)"
            if state.traced_only:
                note += [f"Not drawn: {money(left['untraced_usd'])} not yet traced to a recipient{of}. ",
                         dcc.Link("Show untraced money too", href="/" + views.with_view(search, "counted", False))]
            else:
                note += [f"Included: {money(left['untraced_usd'])} not yet traced to a recipient{of}. ",
                         dcc.Link("Traced money only", href="/" + views.with_view(search, "counted", True))]
        if left["total"]:
            why = [f"{left['restated']} restate another report" if left["restated"] else "",
                   f"{left['covered']} are larger transfers whose documented parts add up to as much or more, so "
                   "the parts count instead" if left["covered"] else "",
                   f"{left['no_total']} are rates or amounts without a total" if left["no_total"] else ""]
            note += [f" {left['total']} report(s) draw nothing because another report carries the same money or "
                     f"no total is known ({', '.join(w for w in why if w)}). ",
                     dcc.Link("List them", href="/" + views.with_view(search, "excluded"))]
        return note
    if state.view == "excluded":
        return ["Showing the reports that draw nothing: another report of the same transfer draws instead, their "
                "parts cover them, or no total is known (a rate without a closed period). Their figures overlap "
                "others and are not added up. ",
                dcc.Link("Back to the money counted once", href="/" + views.with_view(search, "counted"))]
    return ["Showing every report at its full value, larger transfers and their parts alike: these figures overlap "
            "and must not be added up. ", dcc.Link("Count each dollar once", href="/" + views.with_view(search, "counted"))]


def flow_rows(search: str | None, rows, state, details: figures.RowDetails | None = None) -> list:
    """The ranked list of payer → recipient flows; each line drills down exactly like a click on the link."""
    flows, total = figures.flow_list(rows)
    if flows.empty:
        return [html.P("No transfers match these filters.", className="empty")]
    biggest = max(float(flows["value"].max()), 1.0)
    details = details or figures.RowDetails(rows)
    items = []
    for g in flows.itertuples():
        focused = state.with_focus("payer", g.payer).with_focus("recipient", g.recipient)
        share = max(100 * float(g.value) / biggest, 0.5)
        items.append(html.Li(dcc.Link(href="/" + replace(focused, page=1).to_query(), className="flow-row",
                                      children=[
            html.Span(f"{g.payer} → {g.recipient}", className="flow-names"),
            html.Span(figures._figure_text(g, rows, details), className="flow-value"),
            html.Span(className="flow-bar", children=html.Span(style={"width": f"{share:.1f}%"})),
            html.Span(f"{figures._transfers(int(g.count))} · {figures._dates_text(g, rows, details)}"
                      + (f" · as sourced: {g.currencies}" if g.currencies else ""), className="flow-meta"),
        ])))
    more = [html.P(f"… and {total - len(flows):,} smaller flows (all of them are in the table below).",
                   className="hint")] if total > len(flows) else []
    return [html.Ol(items, className="flows"), *more]


def flows_outputs(search: str | None, width: int | None = None, filtered=None, parts: dict | None = None):
    """Everything the flows page shows for a URL (called by the callback and by tests); `filtered` is the
    (rows, state, left) of views.rows_with_left_out when the caller has them; `parts` keeps what does not depend
    on the width (see table.page_answer)."""
    rows, state, left = filtered or views.rows_with_left_out(search)
    parts = {} if parts is None else parts
    width = int(width or DEFAULT_WIDTH)
    # One reading of the rows' columns serves the chart and the flow list.
    details = figures.RowDetails(rows)
    layout = figures.levels_for_width(state.levels, state.top_n, width)
    if ("sankey", layout) not in parts:
        parts[("sankey", layout)] = figures.sankey_data(rows, *layout)
    fig = figures.sankey_figure(rows, state.levels, state.top_n, width=width, details=details,
                                parts=parts[("sankey", layout)])
    if "flow_rows" not in parts:
        parts["flow_rows"] = flow_rows(search, rows, state, details)
    return (fig, note_for(search, rows, state, left),
            views.focus_text(state) or "Click a node or a link, or a flow below, to see the transfers behind it.",
            parts["flow_rows"])


@callback(Output("sankey", "figure"), Output("flow-left-out", "children"), Output("flow-focus", "children"),
          Output("flow-list", "children"), *table.outputs("flows"),
          Input("url", "search"), Input("viewport", "data"), Input("flows-sort", "value"))
def update_flows(search, width, sort_by):
    """The chart, its notes, the flow list and the table from one filtering of the rows per change (a callback per
    part would filter the same rows once each)."""
    # The page's width arrives from the browser a moment after the URL: drawing before it would draw the chart
    # twice, the first time for the wrong width.
    if width is None:
        raise PreventUpdate
    return table.page_answer("flows", search, sort_by,
                             lambda filtered, parts: flows_outputs(search, width, filtered, parts),
                             landing_key=(width,))


def table_outputs(search: str | None, sort_by: str = "value_usd"):
    """The table's rows and pager text for a URL (tests call it; the callbacks are in dashboard.table)."""
    return table_page(search, sort_by)[:2]


register_callbacks("flows", page=__name__)
publish.register_callbacks()


@callback(Output("url", "search", allow_duplicate=True),
          Input("flow-preset", "value"), Input("flow-levels", "value"), Input("flow-top", "value"),
          Input("sankey", "clickData"), Input("focus-clear", "n_clicks"), Input("flows-prev", "n_clicks"),
          Input("flows-next", "n_clicks"), Input("flow-traced", "value"), State("url", "search"),
          State("viewport", "data"), prevent_initial_call=True)
def flow_controls(preset, levels, top, click, _clear, _prev, _next, traced, search, width=None):
    """Controls of this page that change the URL: levels, top N, drill-down clicks, paging."""
    if views.page_just_mounted(ctx.triggered):
        return no_update
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
        state = focus_from_click(state, click, width)
    elif trigger == "focus-clear":
        state = replace(state, focus=(), page=1)
    elif trigger == "flow-traced":
        state = replace(state, traced_only="traced" in (traced or []), page=1)
    elif trigger in ("flows-prev", "flows-next"):
        state = replace(state, page=max(state.page + (1 if trigger == "flows-next" else -1), 1))
    query = state.to_query()
    return query if query != (search or "") else no_update


def focus_from_click(state, click, width: int | None = None):
    """A clicked node focuses its level; a clicked link focuses both ends. 'Other' nodes are not a filter.

    Click events carry only the element's index, so the diagram's nodes and links are recomputed for the same
    URL (the same filters give the same diagram) and the index is looked up in them.
    """
    points = (click or {}).get("points") or []
    if not points or "pointNumber" not in points[0]:
        return state
    point = points[0]
    rows, _ = views.rows_for(state.to_query())
    # The same levels and nodes the chart drew at this width.
    levels, top_n = figures.levels_for_width(state.levels, state.top_n, int(width or DEFAULT_WIDTH))
    nodes, links = figures.sankey_data(rows, levels, top_n)
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


@callback(Output("sankey-html-download", "data"), Input("sankey-html-button", "n_clicks"), State("url", "search"),
          prevent_initial_call=True)
def download_sankey_html(_clicks, search):
    fig = flows_outputs(search)[0]
    return dcc.send_string(standalone_html(fig, "influence-ledger-flows"), "influence-ledger-flows.html")
