"""Login hardening: a configured login never fails open; sign-in is rate-limited, CSRF-protected and equally slow for
unknown users; cookies are HttpOnly/SameSite (Secure over https); signing out ends the session in every worker."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from werkzeug.security import generate_password_hash

from dashboard import auth, data
from dashboard.__main__ import main as dashboard_main
from dashboard.app import app, serve_layout
from etl.pipeline import run_build
from ledger_factory import row, write_csv, write_lookups

PROJECT = Path(__file__).resolve().parent.parent
SECRET_KEY = "s" * 48
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def users_hashes() -> dict[str, str]:
    return {"editor": generate_password_hash(PASSWORD), "second": generate_password_hash("another one")}


@pytest.fixture
def small_build(tmp_path, monkeypatch):
    root = tmp_path / "ledgers"
    write_lookups(root)
    write_csv(root / "l.csv", [row(id="public-row"), row(id="internal-row", amount="5", visibility="internal")])
    run_build(root, tmp_path / "build")
    monkeypatch.setenv(data.BUILD_DIR_ENV, str(tmp_path / "build"))
    monkeypatch.delenv(data.PUBLIC_MODE_ENV, raising=False)
    return tmp_path / "build"


@pytest.fixture
def login(tmp_path, monkeypatch, small_build, users_hashes):
    users = tmp_path / "secrets" / "users.json"
    users.parent.mkdir()
    users.write_text(json.dumps(users_hashes), encoding="utf-8")
    monkeypatch.setenv(auth.USERS_ENV, str(users))
    monkeypatch.setenv(auth.SECRET_ENV, SECRET_KEY)
    monkeypatch.setattr(app.server, "secret_key", SECRET_KEY)
    # Failed attempts are counted per process; each test starts from none.
    app.server.extensions["influence_ledger_limiter"].reset()
    return users


def form_token(client, path: str = "/login", **kwargs) -> str:
    page = client.get(path, **kwargs).get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def sign_in(client, name: str, password: str, remote: str = "127.0.0.1", **kwargs):
    environ = {"REMOTE_ADDR": remote}
    token = form_token(client, environ_base=environ, **kwargs)
    return client.post("/login", data={"username": name, "password": password, "csrf_token": token},
                       environ_base=environ, **kwargs)


def signed_in_as(client, **kwargs) -> str:
    """Who the server thinks this client is (the sign-out page names the user; anonymous is redirected)."""
    response = client.get("/logout", **kwargs)
    found = re.search(r"Signed in as ([^.<]+)", response.get_data(as_text=True))
    return found.group(1) if found else ""


# --- a configured login that cannot be used stops the start ------------------------------------------------------

BROKEN_USERS = {
    "missing": None,
    "malformed": "{not json",
    "empty object": "{}",
    "empty file": "",
    "a list": '["editor"]',
    "plain password": '{"editor": "hunter2"}',
}


@pytest.mark.parametrize("case", list(BROKEN_USERS))
def test_a_broken_users_file_is_a_start_up_error_never_a_weaker_mode(tmp_path, monkeypatch, capsys, case):
    users = tmp_path / "users.json"
    if BROKEN_USERS[case] is not None:
        users.write_text(BROKEN_USERS[case], encoding="utf-8")
    monkeypatch.setenv(auth.USERS_ENV, str(users))
    monkeypatch.setenv(auth.SECRET_ENV, SECRET_KEY)
    with pytest.raises(auth.LoginConfigError, match=re.escape(str(users))):
        auth.check_configuration()
    assert dashboard_main(["--port", "1"]) == 1
    out = capsys.readouterr().out
    assert "error: the login is configured but cannot be used" in out and str(users) in out
    assert "Traceback" not in out
    # Should the file break while the app runs, nobody is signed in and local mode does not come back.
    with app.server.test_request_context("/", environ_base={"REMOTE_ADDR": "127.0.0.1"}):
        assert auth.login_configured()
        assert not data.may_see_internal()


def test_a_login_without_secret_key_is_a_start_up_error(login, monkeypatch):
    monkeypatch.delenv(auth.SECRET_ENV)
    with pytest.raises(auth.LoginConfigError, match=auth.SECRET_ENV):
        auth.check_configuration()
    monkeypatch.setenv(auth.SECRET_ENV, "short")
    with pytest.raises(auth.LoginConfigError, match="too short"):
        auth.check_configuration()
    monkeypatch.setenv(auth.SECRET_ENV, SECRET_KEY)
    auth.check_configuration()


def import_app(env: dict) -> subprocess.CompletedProcess:
    """Import dashboard.app in a fresh process, as each gunicorn worker does."""
    return subprocess.run([sys.executable, "-c", "import dashboard.app"], cwd=PROJECT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, **env})


def test_importing_the_app_under_gunicorn_refuses_a_broken_login(tmp_path, small_build):
    users = tmp_path / "users.json"
    users.write_text("{not json", encoding="utf-8")
    broken = import_app({auth.USERS_ENV: str(users), auth.SECRET_ENV: SECRET_KEY})
    assert broken.returncode != 0
    assert "error: the login is configured but cannot be used" in broken.stderr and "not valid JSON" in broken.stderr
    users.write_text(json.dumps({"editor": generate_password_hash("x")}), encoding="utf-8")
    no_key = import_app({auth.USERS_ENV: str(users), auth.SECRET_ENV: ""})
    assert no_key.returncode != 0 and auth.SECRET_ENV in no_key.stderr
    # Without a login the start-up says who sees what and how to configure a login.
    local = import_app({auth.USERS_ENV: "", auth.SECRET_ENV: ""})
    assert local.returncode == 0, local.stderr
    assert "No login configured" in local.stderr and auth.USERS_ENV in local.stderr


# --- sign-in ---------------------------------------------------------------------------------------------------


def test_sign_in_needs_the_session_form_token(login):
    client = app.server.test_client()
    no_token = client.post("/login", data={"username": "editor", "password": PASSWORD})
    assert no_token.status_code == 400 and signed_in_as(client) == ""
    other = app.server.test_client()
    foreign = form_token(other)
    form_token(client)
    wrong = client.post("/login", data={"username": "editor", "password": PASSWORD, "csrf_token": foreign})
    assert wrong.status_code == 400 and signed_in_as(client) == ""
    assert sign_in(client, "editor", PASSWORD).status_code == 302
    assert signed_in_as(client) == "editor"


def test_unknown_users_cost_the_same_password_check_as_known_ones(login, monkeypatch, users_hashes):
    checked = []
    real = auth.check_password_hash

    def recording(stored, password):
        checked.append(stored)
        return real(stored, password)

    monkeypatch.setattr(auth, "check_password_hash", recording)
    client = app.server.test_client()
    assert sign_in(client, "nobody-such", "guess", remote="10.9.0.1").status_code == 401
    assert sign_in(client, "second", "guess", remote="10.9.0.2").status_code == 401
    assert len(checked) == 2
    dummy, known = checked
    assert known == users_hashes["second"]
    # The dummy is a real hash of the same method and cost, not a shortcut.
    assert dummy != known and dummy.split("$")[0] == known.split("$")[0]


def test_failed_sign_ins_are_limited_per_user_and_per_client(login):
    client = app.server.test_client()
    # Per user: from five different clients, then even the right password waits.
    for attempt in range(5):
        assert sign_in(client, "second", "wrong", remote=f"10.1.0.{attempt}").status_code == 401
    blocked = sign_in(client, "second", "another one", remote="10.1.0.99")
    assert blocked.status_code == 429 and "Too many failed sign-ins" in blocked.get_data(as_text=True)
    # Per client: ten failures for different names from one address block that address, not others.
    for attempt in range(10):
        assert sign_in(client, f"guess-{attempt}", "wrong", remote="10.2.0.1").status_code == 401
    assert sign_in(client, "editor", PASSWORD, remote="10.2.0.1").status_code == 429
    assert sign_in(app.server.test_client(), "editor", PASSWORD, remote="10.2.0.2").status_code == 302


def session_cookie_header(response) -> str:
    cookies = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("session=")]
    assert cookies, response.headers
    return cookies[-1]


def test_session_cookies_are_http_only_same_site_and_secure_over_https(login):
    plain = session_cookie_header(sign_in(app.server.test_client(), "editor", PASSWORD, remote="10.3.0.1"))
    assert "HttpOnly" in plain and "SameSite=Lax" in plain and "Secure" not in plain
    https = session_cookie_header(sign_in(app.server.test_client(), "editor", PASSWORD, remote="10.3.0.2",
                                          base_url="https://localhost"))
    assert "Secure" in https and "HttpOnly" in https
    proxied = session_cookie_header(sign_in(app.server.test_client(), "editor", PASSWORD, remote="10.3.0.3",
                                            headers={"X-Forwarded-Proto": "https"}))
    assert "Secure" in proxied


REPLAY = """
import sys
from dashboard.app import app
client = app.server.test_client()
client.set_cookie("session", sys.argv[1], domain="localhost")
page = client.get("/logout").get_data(as_text=True)
print("SIGNED-IN" if "Signed in as editor" in page else "ANONYMOUS")
"""


def replay_in_another_process(cookie: str, users: Path, build: Path) -> str:
    """The cookie sent to a fresh process with the same configuration: another gunicorn worker."""
    env = {**os.environ, auth.USERS_ENV: str(users), auth.SECRET_ENV: SECRET_KEY, data.BUILD_DIR_ENV: str(build)}
    done = subprocess.run([sys.executable, "-c", REPLAY, cookie], cwd=PROJECT, capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_a_replayed_cookie_stops_working_after_sign_out_in_every_worker(login, small_build):
    client = app.server.test_client()
    assert sign_in(client, "editor", PASSWORD, remote="10.4.0.1").status_code == 302
    cookie = client.get_cookie("session").value
    assert replay_in_another_process(cookie, login, small_build) == "SIGNED-IN"
    token = form_token(client, "/logout")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert signed_in_as(client) == ""
    replayed = app.server.test_client()
    replayed.set_cookie("session", cookie, domain="localhost")
    assert signed_in_as(replayed) == ""
    assert replay_in_another_process(cookie, login, small_build) == "ANONYMOUS"


def test_sign_out_needs_the_form_token(login):
    client = app.server.test_client()
    sign_in(client, "editor", PASSWORD, remote="10.5.0.1")
    assert client.post("/logout", data={}).status_code == 400
    assert signed_in_as(client) == "editor"


# --- pages -----------------------------------------------------------------------------------------------------


def test_login_page_is_styled_and_shows_no_form_without_a_login(small_build, monkeypatch):
    monkeypatch.delenv(auth.USERS_ENV, raising=False)
    page = app.server.test_client().get("/login").get_data(as_text=True)
    assert '<link rel="stylesheet" href="/assets/style.css">' in page
    assert "<form" not in page and "Login is not configured" in page and auth.USERS_ENV in page


def test_login_page_with_a_login_has_a_styled_form(login):
    page = app.server.test_client().get("/login").get_data(as_text=True)
    assert '<link rel="stylesheet" href="/assets/style.css">' in page
    assert '<form method="post" action="/login"' in page and 'name="csrf_token"' in page


def test_header_shows_sign_in_or_the_signed_in_user_and_sign_out(login, monkeypatch):
    from flask_login import login_user

    with app.server.test_request_context("/"):
        anonymous = str(serve_layout().children[1])
    with app.server.test_request_context("/"):
        login_user(auth.User("editor"))
        signed = str(serve_layout().children[1])
    assert "Sign in" in anonymous and "Signed in as" not in anonymous
    assert "Signed in as editor" in signed and "Sign out" in signed and "action='/logout'" in signed
    monkeypatch.delenv(auth.USERS_ENV)
    with app.server.test_request_context("/"):
        assert "Sign in" not in str(serve_layout().children[1])
