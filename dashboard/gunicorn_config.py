"""gunicorn settings for serving the dashboard (Procfile: `gunicorn -c python:dashboard.gunicorn_config …`).

The app and the current build are loaded once, in gunicorn's master process, before it forks the workers: the
workers then share one copy of the build's chart and rows (pages the operating system shares until one of them
writes to them, which serving requests does not do to the arrays), and none spends its first request loading a
build (about 100 s at ten million rows). A build made while the server runs is loaded by each worker on its next
request, in a copy of its own; `kill -HUP` on the master after a rebuild loads the new build in the master and
starts new workers that share it (the old ones finish their requests first).
"""
from __future__ import annotations

import gc

preload_app = True


def _load_in_master(server, when: str) -> None:
    from dashboard import data

    loaded = data.preload_current_build()
    server.log.info("build loaded %s: %s", when, loaded or "none yet")
    # The objects made so far are left out of garbage collection, whose passes would otherwise write to every one
    # of them and so give each worker its own copy of the pages they are on.
    gc.freeze()


def on_starting(server) -> None:
    _load_in_master(server, "before the workers start")


def on_reload(server) -> None:
    from dashboard import data

    # The master lets go of the build it loaded (the old workers keep their view of it until they exit); frozen
    # objects are never collected, so they are unfrozen first.
    gc.unfreeze()
    data.forget_loaded_builds()
    gc.collect()
    _load_in_master(server, "before the new workers start")
