"""The one server-side check every Dash callback request passes through, before any callback code runs.

Each page declares who may use it when it registers (`dash.register_page(..., access=INTERNAL)`); a callback
belongs to the page whose module defines it. A callback of an internal page answers 403 to anyone who may not see
internal rows (data.may_see_internal: public mode, not signed in, or a non-local request without a login), and a
request for a callback the app does not know is refused too. Callbacks of public pages and of the shell serve data
only through data.load()/visible_rows(), the same rule applied to rows. The table downloads (dashboard/downloads.py)
are routes of their own and apply the same rule with the access of the page showing the table.
"""
from __future__ import annotations

import threading

import dash
import flask

from . import data

INTERNAL = "internal"
PUBLIC = "public"
UPDATE_PATH = "/_dash-update-component"


def callback_access(app: dash.Dash, output: str) -> str | None:
    """INTERNAL or PUBLIC for a callback (by its output key), or None when the app has no such callback."""
    entry = app.callback_map.get(output)
    if entry is None or entry.get("callback") is None:
        # Unknown, or run in the browser only (a clientside callback): nothing on the server to call.
        return None
    module = getattr(entry["callback"], "__module__", "") or ""
    page = dash.page_registry.get(module)
    return page.get("access", PUBLIC) if page else PUBLIC


def page_access(module: str) -> str:
    page = dash.page_registry.get(module) or {}
    return page.get("access", PUBLIC)


def may_use(access: str) -> bool:
    return access == PUBLIC or data.may_see_internal()


def refusal() -> flask.Response:
    """The answer to a request for something of an internal page from someone who may not use it."""
    return flask.Response("This needs a signed-in user (or, without a login, this machine).", status=403,
                          mimetype="text/plain")


def install(app: dash.Dash) -> None:
    """Register the gate on the app's server, after Dash's set-up has completed its callback map."""
    setup_lock = threading.Lock()
    ready = threading.Event()

    def finish_dash_setup():
        # Dash marks its one-time set-up done before it runs it (layout check, callback map), so requests arriving
        # together on a fresh worker would find no callbacks; the first one finishes it while the others wait.
        if not ready.is_set():
            with setup_lock:
                app._setup_server()
                ready.set()

    app.server.before_request_funcs.setdefault(None, []).insert(0, finish_dash_setup)

    @app.server.before_request
    def gate_callbacks():
        request = flask.request
        if request.method != "POST" or not request.path.endswith(UPDATE_PATH):
            return None
        body = request.get_json(silent=True)
        output = body.get("output") if isinstance(body, dict) else None
        access = callback_access(app, output) if isinstance(output, str) else None
        if access is None:
            return flask.Response("Unknown callback.", status=403, mimetype="text/plain")
        if not may_use(access):
            return refusal()
        return None
