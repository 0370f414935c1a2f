"""Optional login (Flask-Login): who may see internal rows and use the import page.

Users and password hashes live in a JSON file outside the repository, named by INFLUENCE_LEDGER_USERS
({"alice": "<werkzeug password hash>"}). Without it, login is not configured: the app then serves only on
127.0.0.1 and says so, and public mode (--public) serves public rows only.
"""
from __future__ import annotations

import html
import json
import os
import secrets
from pathlib import Path

import flask
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from werkzeug.security import check_password_hash

USERS_ENV = "INFLUENCE_LEDGER_USERS"
SECRET_ENV = "INFLUENCE_LEDGER_SECRET_KEY"


class User(UserMixin):
    def __init__(self, name: str):
        self.id = name


def users_file() -> Path | None:
    value = os.environ.get(USERS_ENV, "").strip()
    return Path(value) if value else None


def read_users() -> dict[str, str]:
    path = users_file()
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def login_configured() -> bool:
    return bool(read_users())


LOOPBACK = ("127.0.0.1", "::1")


def request_is_local() -> bool:
    """True outside a request (the process itself) or for a request from this machine."""
    if not flask.has_request_context():
        return True
    return (flask.request.remote_addr or "") in LOOPBACK


def current_user_is_authenticated() -> bool:
    if not flask.has_request_context():
        return False
    return bool(getattr(current_user, "is_authenticated", False))


LOGIN_FORM = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in · Influence Ledger</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:Inter,Segoe UI,Roboto,Arial,sans-serif;max-width:22rem;margin:4rem auto;color:#1f2933}}
input{{display:block;width:100%;margin:.3rem 0 1rem;padding:.5rem;font-size:1rem}}button{{padding:.5rem 1rem}}
.error{{color:#b42318}}</style></head><body><h1>Influence Ledger</h1><p>Sign in to see internal rows.</p>
<p class="error">{error}</p><form method="post" action="/login"><label>User<input name="username" autocomplete="username">
</label><label>Password<input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button></form></body></html>"""


def install(server: flask.Flask) -> None:
    """Attach Flask-Login and the /login and /logout routes to the Dash server."""
    server.secret_key = os.environ.get(SECRET_ENV) or server.secret_key or secrets.token_hex(32)
    manager = LoginManager()
    manager.init_app(server)

    @manager.user_loader
    def load_user(user_id: str):
        return User(user_id) if user_id in read_users() else None

    @server.route("/login", methods=["GET", "POST"])
    def login():
        error = ""
        if flask.request.method == "POST":
            name = flask.request.form.get("username", "")
            password = flask.request.form.get("password", "")
            stored = read_users().get(name)
            if stored and check_password_hash(stored, password):
                login_user(User(name))
                return flask.redirect("/")
            error = "Wrong user name or password."
        if not login_configured():
            error = "Login is not configured on this server."
        return LOGIN_FORM.format(error=html.escape(error))

    @server.route("/logout")
    def logout():
        logout_user()
        return flask.redirect("/")
