"""Access control: an anonymous request to any callback or download never returns an internal row."""
import importlib
import io
import json

import openpyxl

import pytest
from flask_login import login_user
from werkzeug.security import generate_password_hash

from dashboard import auth, data, views
from dashboard.app import app
from etl.pipeline import run_build
from ledger_factory import row, write_csv, write_lookups
from dash_requests import fetch_download, flows_page_payload

SECRET = "internal-secret-row"


@pytest.fixture
def mixed_build(tmp_path, monkeypatch):
    root = tmp_path / "ledgers"
    write_lookups(root)
    write_csv(root / "public.csv", [row(id="public-row", amount="1000"),
                                    row(id=SECRET, amount="2000", visibility="internal",
                                        notes="unpublished investigation")])
    run_build(root, tmp_path / "build")
    monkeypatch.setenv(data.BUILD_DIR_ENV, str(tmp_path / "build"))
    monkeypatch.delenv(data.PUBLIC_MODE_ENV, raising=False)
    return tmp_path


@pytest.fixture
def login_configured(tmp_path, monkeypatch):
    users = tmp_path / "users.json"  # outside the repository, as in production
    users.write_text(json.dumps({"editor": generate_password_hash("correct horse")}))
    monkeypatch.setenv(auth.USERS_ENV, str(users))
    return users


def page(name):
    return importlib.import_module(f"pages.{name}")


def everything_a_request_returns() -> str:
    """Run every data callback and download as the current request would, and collect what it sends."""
    flows, explore, entity = page("flows"), page("explore"), page("entity")
    outputs = [flows.flows_outputs("?view=all"), flows.table_outputs("?view=all"),
               explore.explore_outputs("?view=all"), entity.entity_outputs("Luca Volontè", "?view=all"),
               entity.entity_options()]
    text = json.dumps(outputs, default=str)
    rows = views.full(views.rows_for("?view=all")[0])
    return text + " ".join(rows["id"])


def test_anonymous_requests_never_see_internal_rows_when_login_is_configured(mixed_build, login_configured):
    with app.server.test_request_context("/", environ_base={"REMOTE_ADDR": "127.0.0.1"}):
        assert SECRET not in everything_a_request_returns()
        assert "public-row" in everything_a_request_returns()


def test_a_signed_in_user_sees_internal_rows(mixed_build, login_configured):
    with app.server.test_request_context("/"):
        login_user(auth.User("editor"))
        assert SECRET in everything_a_request_returns()


def test_public_mode_hides_internal_rows_even_when_signed_in(mixed_build, login_configured, monkeypatch):
    monkeypatch.setenv(data.PUBLIC_MODE_ENV, "1")
    with app.server.test_request_context("/"):
        login_user(auth.User("editor"))
        assert SECRET not in everything_a_request_returns()


def test_without_login_only_this_machine_sees_internal_rows(mixed_build):
    with app.server.test_request_context("/", environ_base={"REMOTE_ADDR": "203.0.113.9"}):
        assert SECRET not in everything_a_request_returns()
    with app.server.test_request_context("/", environ_base={"REMOTE_ADDR": "127.0.0.1"}):
        assert SECRET in everything_a_request_returns()


def dash_post(client, output, outputs, inputs, changed, state=()):
    payload = {"output": output, "outputs": outputs, "inputs": list(inputs), "changedPropIds": [changed],
               "state": list(state)}
    response = client.post("/_dash-update-component", json=payload, environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert response.status_code in (200, 204)
    return response.get_data(as_text=True)


def test_anonymous_http_requests_to_callbacks_and_downloads(mixed_build, login_configured):
    client = app.server.test_client()
    # The flows page's one callback: chart, notes, flow list and table page.
    page_request = flows_page_payload("?view=all")
    bodies = [dash_post(client, page_request["output"], page_request["outputs"], page_request["inputs"], "url.search")]
    # The table's downloads, fetched from the server's route as the page's links do.
    for excel in (False, True):
        response = fetch_download(client, "flows", "?view=all", excel=excel,
                                  environ_base={"REMOTE_ADDR": "198.51.100.7"})
        assert response.status_code == 200
        content = response.get_data()
        if excel:
            book = openpyxl.load_workbook(io.BytesIO(content))
            bodies.append(json.dumps([[str(c) for c in r] for name in book.sheetnames
                                      for r in book[name].iter_rows(values_only=True)]))
        else:
            bodies.append(content.decode("utf-8-sig"))
    assert "flows-grid" in bodies[0] and all("public-row" in body for body in bodies)
    for body in bodies:
        assert SECRET not in body and "unpublished" not in body


def test_import_page_needs_a_login_when_one_is_configured(mixed_build, login_configured):
    import_page = page("import_article")
    with app.server.test_request_context("/"):
        assert "Sign in" in str(import_page.layout())
        login_user(auth.User("editor"))
        assert "Sign in" not in str(import_page.layout())
