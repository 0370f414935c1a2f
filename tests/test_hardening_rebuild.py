"""Rebuilding while serving: anonymous requests running during rebuilds see one build each, never an internal row,
and never fail.

A real HTTP server (werkzeug, threaded, on 127.0.0.1) serves the app; client threads post the page's callback and
fetch the table's CSV download (streamed in parts) while the main thread rebuilds the dataset several times, moving
the internal rows to other positions each time (so rows filtered in one build and fetched by position from the next
would show internal ones).
"""
from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest
from werkzeug.serving import make_server
from werkzeug.security import generate_password_hash

from dashboard import auth, data, downloads
from dashboard.app import app
from etl.pipeline import run_build
from ledger_factory import row, write_csv, write_lookups
from dash_requests import flows_page_payload

REBUILDS = 5
CLIENTS = 4
PUBLIC_ROWS = 1500


def ledger_rows(internal_first: bool, generation: int) -> list[dict]:
    public = [row(id=f"pub-{i}", amount=str(1000 + i), notes="published") for i in range(PUBLIC_ROWS)]
    internal = [row(id=f"internal-{generation}-{i}", amount=str(900_000 + i), visibility="internal",
                    notes="unpublished investigation") for i in range(PUBLIC_ROWS // 3 + generation * 7)]
    return internal + public if internal_first else public + internal


def payloads() -> list[dict | str]:
    # The flows page's one callback: chart, notes, flow list and table page.
    table = flows_page_payload("?view=all")
    ascending = json.loads(json.dumps(table))
    ascending["inputs"][2]["value"] = "payer"
    # The table's CSV download, streamed from the server's route (in parts of CHUNK_ROWS rows) as its link asks.
    download = downloads.link("flows", "?view=all", "value_usd", excel=False)[0]
    return [table, ascending, download]


def post(base: str, payload: dict | str) -> tuple[int, str]:
    """A callback request (a payload) or a download (a path); (status, body as text)."""
    request = urllib.request.Request(base + payload) if isinstance(payload, str) else urllib.request.Request(
        base + "/_dash-update-component", data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.read().decode("utf-8-sig")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


@pytest.fixture
def served(tmp_path, monkeypatch):
    root = tmp_path / "ledgers"
    write_lookups(root)
    write_csv(root / "mixed.csv", ledger_rows(True, 0))
    run_build(root, tmp_path / "build")
    users = tmp_path / "users.json"
    users.write_text(json.dumps({"editor": generate_password_hash("correct horse")}), encoding="utf-8")
    monkeypatch.setenv(auth.USERS_ENV, str(users))
    monkeypatch.setenv(data.BUILD_DIR_ENV, str(tmp_path / "build"))
    monkeypatch.delenv(data.PUBLIC_MODE_ENV, raising=False)
    # Many small parts per download, so rebuilds happen while a file is being streamed.
    monkeypatch.setattr(downloads, "CHUNK_ROWS", 100)
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, tmp_path / "build", f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=30)


def test_requests_during_rebuilds_see_no_internal_row_and_never_fail(served):
    root, build, base = served
    results: list[tuple[int, str]] = []
    lock = threading.Lock()
    done = threading.Event()

    def client(seed: int) -> None:
        requests = payloads()
        turn = seed
        # At least a few requests each, and on until the rebuilds are over.
        while not done.is_set() or turn < seed + 3:
            status, body = post(base, requests[turn % len(requests)])
            with lock:
                results.append((status, body))
            turn += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        for generation in range(1, REBUILDS + 1):
            write_csv(root / "mixed.csv", ledger_rows(generation % 2 == 0, generation))
            run_build(root, build)
    finally:
        done.set()
        for thread in threads:
            thread.join(timeout=300)
    statuses = [status for status, _ in results]
    assert len(results) >= CLIENTS * 3
    assert [s for s in statuses if s >= 500] == []
    assert set(statuses) == {200}
    leaked = [body for _, body in results if "internal-" in body or "unpublished" in body]
    assert leaked == [], f"{len(leaked)} of {len(results)} responses held internal rows"
    assert all("pub-" in body for _, body in results)
