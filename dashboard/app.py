"""The Dash app: page shell, shared filters kept in the URL, and `server` for gunicorn."""
from __future__ import annotations

import gc
import sys
from dataclasses import replace
from pathlib import Path

import dash
from dash import Input, Output, ctx, dcc, html, no_update

from etl.schema import AMOUNT_KINDS, CONFIDENCE_LEVELS

from . import access, auth, compression, data, downloads, fold, views
from .filters import FilterState, from_query

HERE = Path(__file__).resolve().parent
FILTER_IDS = ("f-date-from", "f-date-to", "f-payer-country", "f-recipient-country", "f-entity", "f-confidence",
              "f-amount-kind", "f-min-usd", "f-ledger", "f-view")

app = dash.Dash(__name__, use_pages=True, pages_folder=str(HERE / "pages"), assets_folder=str(HERE / "assets"),
                title="Influence Ledger", suppress_callback_exceptions=True,
                meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}])
server = app.server
try:
    auth.install(server)
except auth.LoginConfigError as exc:
    # Under gunicorn this stops the worker before it serves anything; never a fallback to a weaker mode.
    print(f"error: the login is configured but cannot be used: {exc}", file=sys.stderr)
    raise
access.install(app)
downloads.install(app)
compression.install(server)
print(auth.startup_note(data.public_mode()), file=sys.stderr)


def access_note() -> str:
    if data.public_mode():
        return "Public mode: only rows marked public are shown and downloadable."
    if auth.login_configured():
        return ("Signed in: internal rows are shown." if auth.current_user_is_authenticated()
                else "Internal rows are hidden: sign in to see them.")
    if auth.request_is_local():
        return ("Local mode: no login is configured, so this server listens on 127.0.0.1 only and shows every row "
                "to this machine.")
    return ("Internal rows and the import page are hidden: no login is configured, so they are shown only to "
            "requests made directly on the server's machine, never through a proxy. " + auth.HOW_TO_CONFIGURE)


def account_links():
    """Sign in, or the signed-in user and a sign-out button (a POST with the session's form token)."""
    if data.public_mode() or not auth.login_configured():
        return None
    if auth.current_user_is_authenticated():
        return html.Form(className="account", method="post", action="/logout", children=[
            html.Span(f"Signed in as {auth.signed_in_name()}", className="account-name"),
            dcc.Input(type="hidden", name="csrf_token", value=auth.csrf_token(), id="account-csrf"),
            html.Button("Sign out", type="submit", className="link", id="account-sign-out")])
    return html.Div(html.A("Sign in", href="/login", className="nav-link", id="account-sign-in"),
                    className="account")


def data_as_of() -> str:
    report = data.load().report
    ledgers = ", ".join(f"{l['file']} ({l['rows']} rows)" for l in report.get("ledgers", []))
    built = report.get("built_at", "unknown time").replace("T", " ").replace("+00:00", " UTC")
    return f"Data as of {built} · ledgers: {ledgers}"


def _field(filter_id: str, *children) -> html.Div:
    """One filter with its label; its wrapper's id lets a page hide the filters it does not use."""
    return html.Div(list(children), id="fw-" + filter_id, className="filter-field")


def filter_panel() -> html.Div:
    """The shared filters, behind a one-line summary of what is applied (collapsed on a phone, so charts come first)."""
    options = data.control_options()
    controls = html.Div(className="filters", id="filter-controls", children=[
        _field("f-date-from", html.Label("From (year or date)", htmlFor="f-date-from"),
               dcc.Input(id="f-date-from", type="text", placeholder="any date", debounce=True, className="text")),
        _field("f-date-to", html.Label("To", htmlFor="f-date-to"),
               dcc.Input(id="f-date-to", type="text", placeholder="any date", debounce=True, className="text")),
        _field("f-payer-country", html.Label("Payer country"),
               dcc.Dropdown(id="f-payer-country", options=options["payer_country"], multi=True,
                            placeholder="Any")),
        _field("f-recipient-country", html.Label("Recipient country"),
               dcc.Dropdown(id="f-recipient-country", options=options["recipient_country"],
                            multi=True, placeholder="Any")),
        _field("f-entity", html.Label("Entity (names and aliases)", htmlFor="f-entity"),
               dcc.Input(id="f-entity", type="text", placeholder="e.g. Volonte, USAN", debounce=True,
                         className="text")),
        _field("f-confidence", html.Label("Confidence"),
               dcc.Dropdown(id="f-confidence", multi=True, placeholder="Any",
                            options=[{"label": c.replace("_", " "), "value": c} for c in CONFIDENCE_LEVELS])),
        _field("f-amount-kind", html.Label("Amount kind"),
               dcc.Dropdown(id="f-amount-kind", multi=True, placeholder="Any",
                            options=[{"label": k.replace("_", " "), "value": k} for k in AMOUNT_KINDS])),
        _field("f-min-usd", html.Label("Minimum (USD)", htmlFor="f-min-usd"),
               dcc.Input(id="f-min-usd", type="number", min=0, debounce=True, placeholder="0", className="text")),
        _field("f-ledger", html.Label("Ledger file"),
               dcc.Dropdown(id="f-ledger", multi=True, placeholder="All",
                            options=[{"label": l, "value": l} for l in options["ledger"]])),
        _field("f-view", html.Label("Rows"),
               dcc.RadioItems(id="f-view", value="counted", className="radio", inline=True, options=[
                   {"label": "each dollar once", "value": "counted"},
                   {"label": "reports that add nothing", "value": "excluded"},
                   {"label": "every report (overlapping)", "value": "all"}]),
               html.Span("Parts of a larger transfer are drawn on their own and the larger one only for the rest, "
                         "so sums never count a dollar twice.", className="hint")),
    ])
    return fold.foldable("filter-panel", "Filters", controls, class_name="filter-panel",
                         summary=html.Span(id="filter-summary", className="fold-summary"))


def serve_layout() -> html.Div:
    nav = [dcc.Link(page["name"], href=page["relative_path"], className="nav-link", id=nav_id(page["relative_path"]))
           for page in dash.page_registry.values()]
    return html.Div(className="shell", children=[
        dcc.Location(id="url", refresh=False),
        html.Header(className="top", children=[
            html.Div([html.H1("Influence Ledger"),
                      html.P("Documented influence and lobbying money, every figure with its source.",
                             className="tagline")]),
            html.Nav(nav, className="nav"),
            account_links(),
        ]),
        html.P(data_as_of(), id="data-as-of", className="as-of"),
        html.P(access_note(), id="access-note", className="access"),
        filter_panel(),
        html.Main(dash.page_container),
        html.Footer("Amounts in USD and EUR use ECB reference rates for the date of each transfer (the mean over "
                    "the period for months, years and ranges); each row names its rate and source.",
                    className="footer"),
    ])


app.layout = serve_layout


def state_to_controls(state: FilterState) -> list:
    return [state.date_from, state.date_to, list(state.payer_country), list(state.recipient_country), state.entity,
            list(state.confidence), list(state.amount_kind), state.min_usd or None, list(state.ledger), state.view]


def controls_to_state(values: list, previous: FilterState) -> FilterState:
    date_from, date_to, payer_c, recipient_c, entity, confidence, kinds, min_usd, ledger, view = values
    # Only the filters change; everything else of the view (focus, levels, page, columns …) is kept.
    query = replace(
        previous, date_from=date_from or "", date_to=date_to or "", payer_country=tuple(payer_c or ()),
        recipient_country=tuple(recipient_c or ()), entity=entity or "", confidence=tuple(confidence or ()),
        amount_kind=tuple(kinds or ()), min_usd=float(min_usd or 0), ledger=tuple(ledger or ()),
        view=view or "counted").to_query()
    # Round-trip through the parser so the controls can never hold what the URL would reject.
    return from_query(query)


@dash.callback(
    Output("url", "search"), *[Output(i, "value") for i in FILTER_IDS],
    Input("url", "search"), *[Input(i, "value") for i in FILTER_IDS],
)
def sync_url(search, *values):
    """The URL query is the single source of truth: typing in a filter rewrites it, opening a URL sets filters."""
    current = from_query(search)
    if ctx.triggered_id in (None, "url"):
        return (no_update, *state_to_controls(current))
    state = controls_to_state(list(values), current)
    query = state.to_query()
    return (query if query != (search or "") else no_update, *[no_update] * len(FILTER_IDS))


def nav_id(path: str) -> str:
    return "nav" + ("-" + path.strip("/").replace("/", "-") if path.strip("/") else "-home")


# The pages are registered once the app exists, so the navigation's links are known here.
NAV_PATHS = tuple(page["relative_path"] for page in dash.page_registry.values())


@dash.callback(*[Output(nav_id(path), "href") for path in NAV_PATHS], Input("url", "search"))
def nav_hrefs(search, paths: tuple[str, ...] = NAV_PATHS):
    """The top navigation carries the view's filters to every page (a page's own drill-down and paging stay)."""
    query = replace(from_query(search), focus=(), page=1).to_query()
    return [path + query for path in paths]


# The filters each page leaves out: the import page reads an article, not the dataset; an entity page shows every
# report naming the picked entity, so the entity search and the rows choice do nothing there.
FILTERS_IGNORED = {"/import": FILTER_IDS, "/entity": ("f-entity", "f-view")}


def filter_panel_style(pathname):
    """The filter panel only where it applies."""
    return {"display": "none"} if set(FILTERS_IGNORED.get(pathname or "/", ())) == set(FILTER_IDS) else {}


@dash.callback(Output("filter-panel", "style"), Output("filter-summary", "children"),
               *[Output("fw-" + i, "style") for i in FILTER_IDS],
               Input("url", "pathname"), Input("url", "search"))
def filter_panel_state(pathname, search):
    """Show the panel and the filters a page uses, and the one-line summary of those applied."""
    ignored = FILTERS_IGNORED.get(pathname or "/", ())
    summary = views.filters_summary(from_query(search), ignored=ignored)
    return (filter_panel_style(pathname), summary,
            *[{"display": "none"} if i in ignored else {} for i in FILTER_IDS])


fold.register("filter-panel")

# Everything made while the app was put together (modules, plotly's validators, Dash's registries) lives as long as
# the process: left out of garbage collection, a full collection during a request walks only what requests made
# (at the shipped example's size such a pass took over 100 ms, most of a callback's time).
gc.freeze()
