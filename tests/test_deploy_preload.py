"""The Procfile's server loads the build once, in gunicorn's master, and its forked workers serve it.

The server is started from the Procfile's own `web:` line (its port from $PORT), so what is tested is what a
deployment runs.
"""
from __future__ import annotations

import gc
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from dashboard import data, gunicorn_config

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def procfile_web_command(port: int) -> list[str]:
    line = next(l for l in (ROOT / "Procfile").read_text().splitlines() if l.startswith("web:"))
    command = line.split(":", 1)[1].replace("${PORT:-8050}", str(port)).replace("0.0.0.0", "127.0.0.1")
    words = shlex.split(command)
    assert words[0] == "gunicorn"
    return [sys.executable, "-m", "gunicorn", *words[1:]]


class FakeArbiter:
    class log:
        lines: list = []

        @classmethod
        def info(cls, text, *args):
            cls.lines.append(text % args)


def test_the_master_hook_loads_the_current_build_and_its_filter_choices(example_build):
    data._load.cache_clear()
    data._control_options.cache_clear()
    try:
        gunicorn_config.on_starting(FakeArbiter)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
    folder = str(data.current_folder())
    assert FakeArbiter.log.lines[-1] == f"build loaded before the workers start: {folder}"
    assert data._load.cache_info().currsize == 1
    # Both audiences' filter panels are ready: a worker's first page view computes neither.
    before = data._control_options.cache_info()
    for audience in (data.INTERNAL, data.PUBLIC):
        data._control_options(folder, audience)
    after = data._control_options.cache_info()
    assert after.hits == before.hits + 2 and after.misses == before.misses
    assert gunicorn_config.preload_app is True


def test_without_a_build_the_hook_says_so_and_the_server_still_starts(tmp_path, monkeypatch):
    monkeypatch.setenv(data.BUILD_DIR_ENV, str(tmp_path / "empty"))
    assert data.preload_current_build() == ""


def wait_for(predicate, what: str, server, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline or server.poll() is not None:
            pytest.fail(f"{what}:\n" + log.read_text())
        time.sleep(0.3)


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def csv_of(port: int) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/download/flows.csv?view=all", timeout=30) as got:
        assert got.status == 200
        return got.read()


@pytest.mark.skipif(sys.platform != "linux", reason="gunicorn forks")
def test_the_procfile_server_preloads_the_build_serves_it_and_loads_a_new_one_on_hup(tmp_path):
    from etl.builds import current_build
    from etl.pipeline import run_build
    from etl.schema import LEDGER_DIR

    build = tmp_path / "build"
    run_build(LEDGER_DIR, build)
    first = current_build(build)
    port = free_port()
    env = dict(os.environ, PORT=str(port), PYTHONPATH=str(ROOT), **{data.BUILD_DIR_ENV: str(build)})
    log = tmp_path / "gunicorn.log"
    with log.open("w") as sink:
        server = subprocess.Popen(procfile_web_command(port) + ["--log-level", "info"], cwd=ROOT, env=env,
                                  stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: answers(port), "the Procfile's server did not answer", server, log)
        # Several requests: gunicorn hands connections to its workers in turn, each answering from the build the
        # master loaded.
        for _ in range(6):
            assert b"laundromat-total-2012-2014" in csv_of(port)
        text = log.read_text()
        assert re.findall(r"build loaded before the workers start: (\S+)", text) == [str(first)], text
        # The master loaded it before any worker was started.
        assert text.index("build loaded before the workers start") < text.index("Booting worker")
        booted = set(re.findall(r"Booting worker with pid: (\d+)", text))
        assert len(booted) == 3

        # A rebuild, then HUP: the master loads the new build and starts three new workers that share it.
        run_build(LEDGER_DIR, build)
        second = current_build(build)
        assert second != first
        server.send_signal(signal.SIGHUP)
        wait_for(lambda: f"before the new workers start: {second}" in log.read_text(),
                 "the master did not load the new build", server, log)
        wait_for(lambda: len(set(re.findall(r"Booting worker with pid: (\d+)", log.read_text()))) >= 6,
                 "no new workers", server, log)
        wait_for(lambda: answers(port), "the reloaded server did not answer", server, log)
        assert b"laundromat-total-2012-2014" in csv_of(port)
    finally:
        server.terminate()
        server.wait(timeout=30)
