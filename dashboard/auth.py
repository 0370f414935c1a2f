"""Optional login (Flask-Login): who may see internal rows and use the import page.

Users and password hashes live in a JSON file outside the repository, named by INFLUENCE_LEDGER_USERS
({"alice": "<werkzeug password hash>"}); INFLUENCE_LEDGER_SECRET_KEY signs the session cookie and must be the same
for every worker. A configured login that cannot be used (file missing, unreadable, malformed or empty, no secret
key) is a start-up error: the app never falls back to a weaker mode.

Without a login ("local mode") internal rows and the import page are served only to requests made directly on this
machine: from 127.0.0.1/::1 and carrying no proxy header, since behind a reverse proxy on the same host every
visitor arrives from 127.0.0.1.

Sessions are kept server-side in a small SQLite file beside the users file (<users file>.sessions.sqlite, or the
file INFLUENCE_LEDGER_SESSIONS names): signing
in stores a random token (hashed) there and in the signed cookie; a request is signed in only while its token is
in the file. Signing out deletes the token, so a replayed cookie stops working at once in every worker (all workers
open the same file; SQLite serialises the few writes). Failed sign-ins are rate-limited per user name and per client
by Flask-Limiter with in-memory storage: each worker counts on its own, so with W workers an attacker gets at most
W times the stated limits.
"""
from __future__ import annotations

import hashlib
import hmac
import html
import json
import logging
import os
import secrets
import sqlite3
import time
from functools import lru_cache
from pathlib import Path

import flask
from flask.sessions import SecureCookieSessionInterface
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from werkzeug.security import check_password_hash, generate_password_hash

USERS_ENV = "INFLUENCE_LEDGER_USERS"
SECRET_ENV = "INFLUENCE_LEDGER_SECRET_KEY"
SESSIONS_ENV = "INFLUENCE_LEDGER_SESSIONS"
MIN_SECRET_CHARS = 32
SESSION_HOURS = 12
SESSION_TOKEN_KEY = "il_session"
CSRF_KEY = "il_csrf"
FAILED_PER_USER = "5 per minute;20 per hour"
FAILED_PER_CLIENT = "10 per minute;60 per hour"
LOOPBACK = ("127.0.0.1", "::1")
# A request carrying any of these came through a proxy: its remote address says nothing about the visitor.
PROXY_HEADERS = ("Forwarded", "X-Real-IP", "X-Client-IP", "True-Client-IP", "CF-Connecting-IP", "Client-IP",
                 "X-Cluster-Client-IP", "Via")
PASSWORD_METHODS = ("scrypt", "pbkdf2")
HOW_TO_CONFIGURE = (f"To sign in, the person running the server creates a users file outside the repository, "
                    f'{{"name": "<hash>"}} with hashes from werkzeug.security.generate_password_hash, and starts '
                    f"the app with {USERS_ENV}=/path/to/users.json and {SECRET_ENV} set to a random string of at "
                    f"least {MIN_SECRET_CHARS} characters (the same for every worker).")

log = logging.getLogger(__name__)


class LoginConfigError(RuntimeError):
    """A login is configured but cannot be used; the app must not start."""


class User(UserMixin):
    def __init__(self, name: str):
        self.id = name


def users_file() -> Path | None:
    value = os.environ.get(USERS_ENV, "").strip()
    return Path(value) if value else None


def login_configured() -> bool:
    """A login is configured as soon as a users file is named: a broken one shuts the door, never opens it."""
    return users_file() is not None


def read_users(path: Path | None = None) -> dict[str, str]:
    """The users file as {name: password hash}; LoginConfigError naming the file and the problem otherwise."""
    path = path or users_file()
    if path is None:
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LoginConfigError(f"{USERS_ENV} names {path}, which does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LoginConfigError(f"the users file {path} cannot be read: {exc}") from None
    try:
        table = json.loads(text)
    except ValueError as exc:
        raise LoginConfigError(f"the users file {path} is not valid JSON ({exc})") from None
    if not isinstance(table, dict) or not table:
        raise LoginConfigError(f'the users file {path} must be a JSON object with at least one user: '
                               '{"name": "<password hash>"}')
    for name, stored in table.items():
        if not name.strip() or not isinstance(stored, str) or stored.split(":", 1)[0] not in PASSWORD_METHODS:
            raise LoginConfigError(f"the users file {path}: user {name!r} needs a werkzeug password hash "
                                   f"(scrypt:… or pbkdf2:…), not {type(stored).__name__} {str(stored)[:12]!r}…")
    return dict(table)


_users_cache: dict[tuple[str, int], dict[str, str]] = {}


def users() -> dict[str, str]:
    """The configured users, re-read when the file changes. At request time a broken file lets nobody in."""
    path = users_file()
    if path is None:
        return {}
    try:
        key = (str(path), path.stat().st_mtime_ns)
    except OSError:
        log.error("the users file %s is gone: nobody can sign in", path)
        return {}
    if key not in _users_cache:
        try:
            table = read_users(path)
        except LoginConfigError as exc:
            log.error("%s: nobody can sign in until it is fixed", exc)
            return {}
        _users_cache.clear()
        _users_cache[key] = table
    return _users_cache[key]


def secret_key() -> str:
    return os.environ.get(SECRET_ENV, "")


def check_configuration() -> None:
    """Raise LoginConfigError when a login is configured but unusable (called at start-up)."""
    if not login_configured():
        return
    read_users()
    if len(secret_key()) < MIN_SECRET_CHARS:
        raise LoginConfigError(f"a login is configured ({USERS_ENV}) but {SECRET_ENV} is "
                               f"{'missing' if not secret_key() else 'too short'}: set it to a random string of at "
                               f"least {MIN_SECRET_CHARS} characters, the same for every worker (otherwise each "
                               "worker signs cookies with its own key and sessions come and go)")
    SessionStore(sessions_file()).check()


def startup_note(public: bool) -> str:
    """What the server prints at start-up about who sees what."""
    if public:
        return "Public mode: only public rows are served, to everyone; the import page is off."
    if login_configured():
        return f"Login configured ({users_file()}): internal rows and the import page need a signed-in user."
    return ("No login configured: internal rows and the import page are served only to requests made directly on "
            "this machine (127.0.0.1, no proxy headers). Do not put this server behind a reverse proxy or open it "
            "to other machines without a login. " + HOW_TO_CONFIGURE)


def request_is_local() -> bool:
    """True outside a request (the process itself) or for a request made on this machine, not through a proxy."""
    if not flask.has_request_context():
        return True
    request = flask.request
    if (request.remote_addr or "") not in LOOPBACK:
        return False
    headers = {name.lower() for name in request.headers.keys()}
    if any(name.startswith("x-forwarded-") for name in headers):
        return False
    return not any(name.lower() in headers for name in PROXY_HEADERS)


def current_user_is_authenticated() -> bool:
    if not flask.has_request_context() or not login_configured():
        return False
    return bool(getattr(current_user, "is_authenticated", False))


def signed_in_name() -> str:
    return str(current_user.id) if current_user_is_authenticated() else ""


# --- server-side sessions --------------------------------------------------------------------------------------


def sessions_file() -> Path:
    """Where sessions are kept: INFLUENCE_LEDGER_SESSIONS, or beside the users file (for a read-only users folder,
    name a writable place every worker shares)."""
    chosen = os.environ.get(SESSIONS_ENV, "").strip()
    if chosen:
        return Path(chosen)
    path = users_file()
    if path is None:
        raise LoginConfigError("no login is configured")
    return path.with_name(path.name + ".sessions.sqlite")


class SessionStore:
    """Signed-in sessions, one row per sign-in, in a SQLite file every worker shares."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        connection.execute("CREATE TABLE IF NOT EXISTS sessions (token_sha256 TEXT PRIMARY KEY, user TEXT NOT NULL, "
                           "expires REAL NOT NULL)")
        return connection

    def check(self) -> None:
        try:
            with self._connect() as connection:
                connection.execute("SELECT COUNT(*) FROM sessions").fetchone()
        except sqlite3.Error as exc:
            raise LoginConfigError(f"the session file {self.path} cannot be opened or created ({exc}); make its "
                                   f"folder writable or name another place with {SESSIONS_ENV}") from None

    @staticmethod
    def _digest(token: str) -> str:
        # Only a hash is stored: the file alone does not give anyone a session.
        return hashlib.sha256(token.encode("utf-8")).hexdigest()

    def create(self, user: str) -> str:
        token = secrets.token_urlsafe(32)
        now = time.time()
        with self._connect() as connection:
            connection.execute("DELETE FROM sessions WHERE expires < ?", (now,))
            connection.execute("INSERT INTO sessions VALUES (?, ?, ?)",
                               (self._digest(token), user, now + SESSION_HOURS * 3600))
        return token

    def is_valid(self, token: str, user: str) -> bool:
        with self._connect() as connection:
            found = connection.execute("SELECT 1 FROM sessions WHERE token_sha256 = ? AND user = ? AND expires > ?",
                                       (self._digest(token), user, time.time())).fetchone()
        return found is not None

    def revoke(self, token: str) -> None:
        with self._connect() as connection:
            connection.execute("DELETE FROM sessions WHERE token_sha256 = ?", (self._digest(token),))


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed cookie, marked Secure whenever the visitor came over https (directly or via a proxy)."""

    def get_cookie_secure(self, app: flask.Flask) -> bool:
        if not flask.has_request_context():
            return bool(app.config.get("SESSION_COOKIE_SECURE"))
        request = flask.request
        forwarded_https = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower() == "https"
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure or forwarded_https


# --- pages -------------------------------------------------------------------------------------------------------


def csrf_token() -> str:
    """This session's form token (made on first use); every state-changing form posts it back."""
    token = flask.session.get(CSRF_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        flask.session[CSRF_KEY] = token
    return token


def csrf_ok() -> bool:
    sent = flask.request.form.get("csrf_token", "")
    expected = flask.session.get(CSRF_KEY, "")
    return bool(sent and expected) and hmac.compare_digest(sent, expected)


def page(title: str, body: str, status: int = 200) -> flask.Response:
    """A small server page styled like the app (the Dash stylesheet), for sign-in and sign-out."""
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)} · Influence Ledger</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="stylesheet" href="/assets/style.css"></head><body><div class="shell">'
        '<header class="top"><div><h1><a href="/" class="home-link">Influence Ledger</a></h1>'
        '<p class="tagline">Documented influence and lobbying money, every figure with its source.</p></div></header>'
        f'<main class="page auth-page"><h2>{html.escape(title)}</h2>{body}</main></div></body></html>')
    return flask.Response(document, status=status, mimetype="text/html")


def login_form(error: str = "") -> str:
    message = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    return (f'<p class="hint">Sign in to see internal rows and to import articles.</p>{message}'
            '<form method="post" action="/login" class="auth-form card">'
            f'<input type="hidden" name="csrf_token" value="{html.escape(csrf_token())}">'
            '<label for="username">User</label>'
            '<input id="username" name="username" class="text" autocomplete="username" required>'
            '<label for="password">Password</label>'
            '<input id="password" name="password" type="password" class="text" autocomplete="current-password" '
            'required><button type="submit">Sign in</button></form>')


def not_configured_text() -> str:
    return ('<p>Login is not configured on this server, so there is nothing to sign in to.</p>'
            f'<p class="hint">{html.escape(HOW_TO_CONFIGURE)}</p><p><a href="/">Back to the dashboard</a></p>')


@lru_cache(maxsize=4)
def _dummy_hash_for(method: str) -> str:
    return generate_password_hash(secrets.token_hex(16), method=method)


def dummy_hash(known: dict[str, str]) -> str:
    """A hash of a random password made with the configured users' method and cost."""
    method = next(iter(known.values())).split("$", 1)[0] if known else "scrypt"
    return _dummy_hash_for(method)


def _failed_login_key() -> str:
    return "user:" + flask.request.form.get("username", "").strip().casefold()


def _failed(response: flask.Response) -> bool:
    return response.status_code == 401


def install(server: flask.Flask) -> None:
    """Check the login configuration (raising LoginConfigError) and attach sessions, /login and /logout."""
    check_configuration()
    # Without a login nothing depends on the cookie, so a per-process key is enough.
    server.secret_key = secret_key() if login_configured() else (server.secret_key or secrets.token_hex(32))
    server.session_interface = SessionCookies()
    server.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                         REMEMBER_COOKIE_HTTPONLY=True, REMEMBER_COOKIE_SAMESITE="Lax")
    manager = LoginManager()
    manager.init_app(server)
    limiter = Limiter(get_remote_address, app=server, storage_uri="memory://", default_limits=[])
    server.extensions["influence_ledger_limiter"] = limiter

    @manager.user_loader
    def load_user(user_id: str):
        token = flask.session.get(SESSION_TOKEN_KEY)
        if not login_configured() or not token or user_id not in users():
            return None
        return User(user_id) if SessionStore(sessions_file()).is_valid(token, user_id) else None

    @server.errorhandler(429)
    def too_many(_error):
        return page("Sign in", '<p class="error" role="alert">Too many failed sign-ins. Wait a minute and try '
                    'again.</p>', status=429)

    @server.route("/login", methods=["GET", "POST"])
    @limiter.limit(FAILED_PER_CLIENT, methods=["POST"], deduct_when=_failed)
    @limiter.limit(FAILED_PER_USER, key_func=_failed_login_key, methods=["POST"], deduct_when=_failed)
    def login():
        if not login_configured():
            return page("Sign in", not_configured_text(), status=404 if flask.request.method == "POST" else 200)
        if flask.request.method == "GET":
            return page("Sign in", login_form())
        if not csrf_ok():
            return page("Sign in", login_form("The form had expired; sign in again."), status=400)
        name = flask.request.form.get("username", "").strip()
        password = flask.request.form.get("password", "")
        known = users()
        stored = known.get(name)
        # An unknown name is checked against a dummy hash of the same method: it costs the same time.
        matches = check_password_hash(stored or dummy_hash(known), password)
        if not (stored and matches):
            return page("Sign in", login_form("Wrong user name or password."), status=401)
        flask.session.clear()
        login_user(User(name))
        flask.session[SESSION_TOKEN_KEY] = SessionStore(sessions_file()).create(name)
        return flask.redirect("/")

    @server.route("/logout", methods=["GET", "POST"])
    def logout():
        if flask.request.method == "GET":
            if not current_user_is_authenticated():
                return flask.redirect("/")
            return page("Sign out", '<form method="post" action="/logout" class="auth-form card">'
                        f'<input type="hidden" name="csrf_token" value="{html.escape(csrf_token())}">'
                        f'<p>Signed in as {html.escape(signed_in_name())}.</p>'
                        '<button type="submit">Sign out</button></form>')
        if not csrf_ok():
            return page("Sign out", '<p class="error">The form had expired; <a href="/logout">try again</a>.</p>',
                        status=400)
        token = flask.session.get(SESSION_TOKEN_KEY)
        if login_configured() and token:
            SessionStore(sessions_file()).revoke(token)
        logout_user()
        flask.session.clear()
        return flask.redirect("/")
