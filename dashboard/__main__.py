"""python -m dashboard [--public] [--port N]: build the dataset if needed, then serve on 127.0.0.1.

python -m dashboard publish 'URL-QUERY' -o DIR [--charts flows,timeline,map] [--title ...]: write a story package
of that view (see dashboard/publish.py).
"""
from __future__ import annotations

import argparse
import os
import sys

from etl.builds import tidy
from etl.errors import EtlError, LedgerInvalid
from etl.pipeline import dataset_is_stale, run_build
from etl.schema import LEDGER_DIR

from . import auth
from .data import BUILD_DIR_ENV, PUBLIC_MODE_ENV, build_dir


def ensure_dataset() -> bool:
    """Build when the dataset is missing or older than a ledger; print every issue and refuse on bad ledgers."""
    tidy(build_dir())
    if not dataset_is_stale(LEDGER_DIR, build_dir()):
        return True
    print("Building the dataset from ledgers/ …")
    try:
        result = run_build(LEDGER_DIR, build_dir())
    except LedgerInvalid as exc:
        for issue in exc.issues:
            print(f"  {issue}")
        print("The ledgers have issues (above); fix them and start again.")
        return False
    except EtlError as exc:
        print(f"error: {exc}")
        return False
    print(f"Built {len(result.dataset)} rows from {len(result.ledgers)} ledger(s).")
    return True


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "publish":
        os.environ.setdefault(BUILD_DIR_ENV, str(build_dir()))
        if not ensure_dataset():
            return 1
        from .publish import main as publish_main

        return publish_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m dashboard", description=__doc__)
    parser.add_argument("--public", action="store_true", help="serve public rows only (no internal rows anywhere)")
    parser.add_argument("--port", type=int, default=8050)
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(argv)
    if args.public:
        os.environ[PUBLIC_MODE_ENV] = "1"
    os.environ.setdefault(BUILD_DIR_ENV, str(build_dir()))
    try:
        # Before anything else: a login that is configured but unusable must stop the start, not weaken it.
        auth.check_configuration()
    except auth.LoginConfigError as exc:
        print(f"error: the login is configured but cannot be used: {exc}")
        return 1
    if not ensure_dataset():
        return 1
    from .app import app

    # app prints who sees what (local mode, login, public) when it is imported.
    print(f"Influence Ledger: http://127.0.0.1:{args.port}/")
    # Bound to loopback: without a login, the app must not be reachable from other machines.
    app.run(host="127.0.0.1", port=args.port, debug=args.debug)
    return 0


if __name__ == "__main__":
    sys.exit(main())
