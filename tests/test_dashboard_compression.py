"""Responses are compressed (brotli or gzip, as the browser asks) and still decode to the same bytes."""
from __future__ import annotations

import gzip
import json
import re

import brotli
import pytest
from dash_requests import flows_page_payload


@pytest.fixture(scope="module")
def client(example_build):
    from dashboard.app import app
    return app.server.test_client()


def bundle_url(client, name: str) -> str:
    page = client.get("/", headers={"Accept-Encoding": "identity"}).get_data(as_text=True)
    urls = re.findall(r'src="([^"]*_dash-component-suites[^"]*)"', page)
    match = [u for u in urls if name in u]
    assert match, urls
    return match[0]


@pytest.mark.parametrize("encoding, decode", [("br", brotli.decompress), ("gzip", gzip.decompress)])
def test_a_javascript_bundle_is_served_compressed(client, encoding, decode):
    url = bundle_url(client, "dash_ag_grid")  # 1.3 MB; plotly.min.js is loaded later by the graph
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers
    packed = client.get(url, headers={"Accept-Encoding": f"{encoding}"})
    assert packed.status_code == 200
    assert packed.headers["Content-Encoding"] == encoding
    assert "Accept-Encoding" in packed.headers.get("Vary", "")
    body = packed.get_data()
    assert len(body) < len(plain.get_data()) / 3
    assert decode(body) == plain.get_data()


def test_brotli_is_preferred_when_the_browser_offers_both(client):
    url = bundle_url(client, "dash_core_components")
    response = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br, zstd"})
    assert response.headers["Content-Encoding"] == "br"


def test_an_asset_file_is_served_compressed(client):
    from dashboard.graph_config import ASSETS_DIR

    response = client.get("/assets/topojson/world_110m.json", headers={"Accept-Encoding": "br"})
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["Content-Encoding"] == "br"
    assert brotli.decompress(response.get_data()) == (ASSETS_DIR / "topojson" / "world_110m.json").read_bytes()


def test_a_callback_answer_is_compressed_and_decodes_to_the_figure(client):
    from dashboard import views

    # The flows page's figure callback, asked as the browser asks it.
    payload = flows_page_payload("?view=all")
    response = client.post("/_dash-update-component", json=payload,
                           headers={"Accept-Encoding": "gzip", "Content-Type": "application/json"})
    assert response.status_code == 200, response.get_data()[:500]
    assert response.headers["Content-Encoding"] == "gzip"
    answer = json.loads(gzip.decompress(response.get_data()))
    figure = answer["response"]["sankey"]["figure"]
    assert figure["data"][0]["type"] == "sankey"
    rows, _ = views.rows_for("?view=all")
    expected = figure["data"][0]["node"]["label"]
    assert any(label.startswith("Azerbaijani elite-linked sources") for label in expected) and len(rows) > 0


def test_compression_can_be_switched_off(monkeypatch):
    from flask import Flask

    from dashboard import compression

    monkeypatch.setenv(compression.COMPRESS_ENV, "0")
    server = Flask("plain")
    server.add_url_rule("/big", "big", lambda: "x" * 10_000)
    compression.install(server)
    response = server.test_client().get("/big", headers={"Accept-Encoding": "br, gzip"})
    assert "Content-Encoding" not in response.headers and len(response.get_data()) == 10_000


def test_bundles_are_compressed_once_but_callback_answers_never_come_from_the_cache(client):
    url = bundle_url(client, "dash_html_components")
    first = client.get(url, headers={"Accept-Encoding": "br"}).get_data()
    assert client.get(url, headers={"Accept-Encoding": "br"}).get_data() == first
    answers = []
    for query in ("?view=all", "?recipient_country=DE&view=all"):
        payload = flows_page_payload(query)
        response = client.post("/_dash-update-component", json=payload, headers={"Accept-Encoding": "br"})
        answers.append(json.loads(brotli.decompress(response.get_data()))["response"]["sankey"]["figure"])
    labels = [set(a["data"][0]["node"]["label"]) for a in answers]
    assert labels[0] != labels[1] and "United States" not in str(labels[1])
