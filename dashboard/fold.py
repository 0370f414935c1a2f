"""A panel that folds into one line on a phone (its label and a summary) and is always open on a wide screen.

The browser opens and closes it without a round trip; the CSS in assets/style.css decides where it folds.
"""
from __future__ import annotations

import dash
from dash import Input, Output, State, html

# Clicks 1, 3, 5 … open the panel; 0, 2, 4 … close it. The class keeps any other class the panel was given.
_TOGGLE = """function (clicks, className) {
    const open = (clicks || 0) % 2 === 1;
    const others = (className || "").split(" ").filter(c => c && c !== "open");
    return [(open ? others.concat(["open"]) : others).join(" "), open ? "true" : "false"];
}"""


def register(panel_id: str) -> None:
    """The toggle's callback; call once per panel id at import time (a page's layout runs per visit)."""
    dash.clientside_callback(_TOGGLE, Output(panel_id, "className"), Output(panel_id + "-toggle", "aria-expanded"),
                             Input(panel_id + "-toggle", "n_clicks"), State(panel_id, "className"))


def foldable(panel_id: str, label: str, body: html.Div, summary: html.Span | None = None,
             class_name: str = "") -> html.Div:
    """body under a toggle button reading `label` (and a one-line summary); give body its own id for aria."""
    body.className = " ".join(filter(None, (getattr(body, "className", ""), "fold-body")))
    toggle = html.Button(id=panel_id + "-toggle", className="fold-toggle", n_clicks=0,
                         children=[html.Span(label, className="fold-label"), summary],
                         **{"aria-expanded": "false", "aria-controls": getattr(body, "id", None) or ""})
    return html.Div(id=panel_id, className=" ".join(filter(None, ("foldable", class_name))), children=[toggle, body])
