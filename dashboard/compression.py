"""Compressed responses (brotli, else gzip) for everything the app serves: JS bundles, callback JSON, downloads.

A first visit loads about 8 MB of JavaScript (plotly.js alone is 4.8 MB); brotli sends a fraction of that. The
environment variable INFLUENCE_LEDGER_COMPRESS=0 switches it off, for the first-visit benchmark's comparison.
"""
from __future__ import annotations

import os

from flask import Flask, Request
from flask_compress import Compress

COMPRESS_ENV = "INFLUENCE_LEDGER_COMPRESS"
# Brotli first (smallest for JS and JSON; every current browser sends "br"), gzip for clients without it. zstd is
# left out: it gains nothing over brotli here and would be a third copy of every bundle in the cache below.
ALGORITHMS = ["br", "gzip"]
# Quality 5 takes plotly.js from 4.8 MB to 1.3 MB in about 0.2 s of one core (quality 11 would take seconds per
# request); each worker compresses a bundle once (BundleCache) and browsers cache the fingerprinted bundles.
BROTLI_LEVEL = 5


# Dash serves the JavaScript of its packages here: files of installed packages, identical for every visitor and
# unchanged while a worker runs. Only these are cached, compressed, per worker; never a callback answer, a page or
# a download, which carry rows and differ per request (and share one URL).
BUNDLE_PREFIX = "/_dash-component-suites/"
UNCACHED = "-"


def bundle_cache_key(request: Request) -> str:
    """The cache key of a bundle request; UNCACHED for everything else."""
    if request.method == "GET" and BUNDLE_PREFIX in request.path:
        return request.path
    return UNCACHED


class BundleCache:
    """Compressed bundles of one worker, so each is compressed once per algorithm, not once per visit.

    Flask-Compress asks this cache for every response it compresses; keys of anything but a bundle are refused,
    so those are compressed afresh each time. Bounded by the number of bundle files (a few dozen, ~3 MB).
    """

    def __init__(self) -> None:
        self._store: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return None if key.endswith(";" + UNCACHED) else self._store.get(key)

    def set(self, key: str, value: bytes) -> None:
        if not key.endswith(";" + UNCACHED):
            self._store[key] = value


def compression_enabled() -> bool:
    return os.environ.get(COMPRESS_ENV, "1").strip() != "0"


def install(server: Flask) -> None:
    """Register Flask-Compress on the Flask server, unless switched off by COMPRESS_ENV."""
    if not compression_enabled():
        return
    server.config.update(COMPRESS_ALGORITHM=ALGORITHMS, COMPRESS_ALGORITHM_STREAMING=ALGORITHMS,
                         COMPRESS_BR_LEVEL=BROTLI_LEVEL, COMPRESS_LEVEL=6,
                         COMPRESS_CACHE_BACKEND=BundleCache, COMPRESS_CACHE_KEY=bundle_cache_key)
    Compress(server)
