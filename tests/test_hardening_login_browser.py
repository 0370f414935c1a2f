"""Signing in and out in real headless Chromium: the styled form, the header's user and sign-out button."""
import json
import time

import pytest
from selenium.webdriver.common.by import By
from werkzeug.security import generate_password_hash

from dashboard import auth

PASSWORD = "correct horse battery"


@pytest.fixture
def signed_out(dash_duo, example_build, tmp_path, monkeypatch):
    users = tmp_path / "users.json"
    users.write_text(json.dumps({"editor": generate_password_hash(PASSWORD)}), encoding="utf-8")
    monkeypatch.setenv(auth.USERS_ENV, str(users))
    from dashboard.app import app
    app.server.extensions["influence_ledger_limiter"].reset()
    dash_duo.start_server(app)
    return dash_duo


def wait_for_text(duo, selector: str, text: str, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if text in duo.driver.find_element(By.CSS_SELECTOR, selector).text:
                return True
        except Exception:  # not rendered yet
            pass
        time.sleep(0.2)
    return False


def test_sign_in_shows_the_user_in_the_header_and_sign_out_ends_it(signed_out):
    duo = signed_out
    duo.wait_for_element("#account-sign-in", timeout=20).click()
    duo.wait_for_element("form.auth-form", timeout=20)
    # The login page uses the app's stylesheet (the accent colour of its button comes from style.css).
    button = duo.driver.find_element(By.CSS_SELECTOR, "form.auth-form button")
    assert button.value_of_css_property("background-color") in ("rgba(0, 114, 178, 1)", "rgb(0, 114, 178)")
    duo.driver.find_element(By.ID, "username").send_keys("editor")
    duo.driver.find_element(By.ID, "password").send_keys(PASSWORD)
    button.click()
    assert wait_for_text(duo, ".account", "Signed in as editor")
    assert wait_for_text(duo, "#access-note", "Signed in: internal rows are shown.")
    duo.wait_for_element("#account-sign-out", timeout=20).click()
    duo.wait_for_element("#account-sign-in", timeout=20)
    assert wait_for_text(duo, "#access-note", "Internal rows are hidden: sign in to see them.")
