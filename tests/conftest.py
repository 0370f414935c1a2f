"""Shared test set-up: Debian's Chromium for dash_duo, and the example dataset built once into a temp folder."""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from dash.testing.application_runners import BaseDashRunner
from selenium.webdriver.chrome.options import Options

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1400,1000")

# Every temporary folder the tests make (builds, browser profiles) goes into one folder of this run, removed when the
# run ends: runs on a shared machine leave nothing behind. (Only Python's tempfile: Chromium refuses to start with
# TMPDIR moved.)
_SCRATCH = Path(tempfile.mkdtemp(prefix="influence-ledger-tests-"))
tempfile.tempdir = str(_SCRATCH)
atexit.register(shutil.rmtree, _SCRATCH, ignore_errors=True)

# The dashboard reads its dataset from here; tests build the shipped ledgers into it (never into build/).
_BUILD = Path(tempfile.mkdtemp(prefix="influence-ledger-test-build-"))
os.environ.setdefault("INFLUENCE_LEDGER_BUILD_DIR", str(_BUILD))

# dash_duo numbers its servers from one fixed port; two test runs on one machine (CI beside a developer) would
# then collide, so each run starts from a port of its own.
BaseDashRunner._next_port = 20000 + os.getpid() % 30000


def pytest_setup_options():
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    # A fresh profile for every browser the tests start.
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-profile-')}")
    return options


@pytest.fixture(scope="session")
def example_build() -> Path:
    """The shipped ledgers built once per test session into the dashboard's test build folder."""
    from etl.pipeline import run_build
    from etl.schema import LEDGER_DIR

    build = Path(os.environ["INFLUENCE_LEDGER_BUILD_DIR"])
    run_build(LEDGER_DIR, build)
    return build


@pytest.fixture(scope="session")
def synthetic_build(tmp_path_factory) -> Path:
    """A SYNTHETIC 3,000-row ledger (internal rows, part_of and same_as links, undated rows) built once per test
    session: what the dashboard's tests of its large-build paths compare on."""
    from benchmarks.synthetic_ledger import write_synthetic
    from etl.pipeline import run_build

    folder = tmp_path_factory.mktemp("synthetic-build")
    write_synthetic(folder / "ledgers", 3000, seed=11, bad_share=0.0)
    run_build(folder / "ledgers", folder / "build")
    return folder / "build"
