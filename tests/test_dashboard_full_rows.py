"""A build's full rows held in the worker and fetched from its Parquet file give the same rows to every reader.

Builds above data.FULL_ROWS_IN_MEMORY rows leave their full rows (exact decimals, sources, notes) in
transfers.parquet and fetch only what a page shows or a download holds. Both stores are compared here on the
shipped example and on a SYNTHETIC ledger with internal rows and links, for a reader who may see internal rows and
for the public: every column, dtype and order, in one piece and in batches.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import plotly
import pytest

from dashboard import data, table
from dashboard.app import app
from etl.builds import current_build


def both_stores(build: Path, monkeypatch) -> tuple[data.Dataset, data.Dataset]:
    """(held, fetched): one build loaded with its full rows in memory and with them left in the Parquet file, its
    chart then made a few rows at a time (parts of 7 and 500 rows: categories first seen in a later part, parts
    without some roles or without untraced rests)."""
    folder = str(current_build(build))
    monkeypatch.setattr(data, "FULL_ROWS_IN_MEMORY", 10**9)
    held = data._load.__wrapped__(folder, 0)
    monkeypatch.setattr(data, "FULL_ROWS_IN_MEMORY", 0)
    monkeypatch.setattr(data, "LOAD_PART_ROWS", 7 if len(held.chart) < 100 else 500)
    return held, data._load.__wrapped__(folder, 0)


def audiences(dataset: data.Dataset) -> dict[str, data.Dataset]:
    return {"internal": dataset, "public": data.public_view(dataset)}


@pytest.mark.parametrize("which", ["example", "synthetic"])
def test_held_and_fetched_rows_are_the_same_for_every_reader(which, example_build, synthetic_build, monkeypatch):
    held, fetched = both_stores(example_build if which == "example" else synthetic_build, monkeypatch)
    assert isinstance(held.rows, data.HeldRows) and isinstance(fetched.rows, data.ParquetRows)
    pd.testing.assert_frame_equal(held.chart, fetched.chart)
    with app.server.test_request_context("/"):
        for audience, held_view in audiences(held).items():
            fetched_view = audiences(fetched)[audience]
            rows = held_view.chart
            # Every visible row in the table's order, then a scattered handful, then none.
            ordered = table.ordered(rows)
            scattered = rows.iloc[np.random.default_rng(3).permutation(len(rows))[:17]]
            for chosen in (ordered, scattered, rows.iloc[:0]):
                expected = data.full_rows(chosen, held_view)
                got = data.full_rows(chosen, fetched_view)
                pd.testing.assert_frame_equal(got, expected)
                assert got["row_key"].tolist() == chosen["row_key"].tolist()
                # Read on a thread while charts are drawn (a table page), the same rows.
                for dataset in (held_view, fetched_view):
                    pd.testing.assert_frame_equal(data.full_rows_soon(chosen, dataset)(), expected)
            for dataset in (held_view, fetched_view):
                batches = list(data.full_row_batches(ordered, 7, dataset))
                assert {len(b) for b in batches[:-1]} <= {7}
                pd.testing.assert_frame_equal(pd.concat(batches), data.full_rows(ordered, held_view))
            if audience == "public":
                # The public reader's rows name no internal row, from either store.
                shown = data.full_rows(ordered, fetched_view)
                internal_ids = set(held.chart.loc[held.chart["visibility"] != "public", "row_key"])
                assert not internal_ids & set(shown["row_key"])
                public_ids = set(data.full_rows(held.chart, held)["id"][held.chart["visibility"].eq("public")
                                                                          .to_numpy()])
                for column in data.REFERENCE_COLUMNS:
                    named = set(shown[column].astype("str")) - {""}
                    assert named <= public_ids


def test_a_large_build_keeps_only_the_chart_columns_in_the_worker(synthetic_build, monkeypatch):
    held, fetched = both_stores(synthetic_build, monkeypatch)
    assert not hasattr(fetched.rows, "frame")
    sources = data.full_rows(fetched.chart.iloc[:5], fetched)["sources"]
    assert sources.str.startswith("http").all()
    assert held.rows.frame.memory_usage(deep=True).sum() > 2 * fetched.chart.memory_usage(deep=True).sum()


def test_a_failed_read_on_the_thread_is_raised_in_the_request(synthetic_build, monkeypatch):
    _, fetched = both_stores(synthetic_build, monkeypatch)

    class Unreadable(data.ParquetRows):
        def take(self, keys):
            raise OSError("the build's file went away")

    broken = data.Dataset(Unreadable(fetched.rows.path), fetched.chart, fetched.entities, fetched.report,
                          fetched.folder, fetched.aliases, public_count=fetched.public_count)
    finish = data.full_rows_soon(fetched.chart.iloc[:3], broken)
    with pytest.raises(OSError, match="went away"):
        finish()


@pytest.mark.parametrize("remote", ["127.0.0.1", "198.51.100.7"])
def test_a_table_page_read_while_the_charts_are_drawn_is_the_page_of_held_rows(synthetic_build, monkeypatch,
                                                                               remote):
    from dashboard import views

    monkeypatch.setenv(data.BUILD_DIR_ENV, str(synthetic_build))
    pages = []
    for in_memory in (10**9, 0):
        monkeypatch.setattr(data, "FULL_ROWS_IN_MEMORY", in_memory)
        data._load.cache_clear()
        data._public_parts.cache_clear()
        with app.server.test_request_context("/", environ_base={"REMOTE_ADDR": remote}):
            assert isinstance(data.load().rows, data.HeldRows if in_memory else data.ParquetRows)
            for search in ("?view=all", "?view=all&page=3", "?min_usd=100000&page=2"):
                rows, state = views.rows_for(search)
                # As the browser receives them (Dash components compare by identity, their JSON by content).
                pages.append(json.dumps(table.table_values_soon(rows, state, "date_start")(),
                                        cls=plotly.utils.PlotlyJSONEncoder))
    data._load.cache_clear()
    data._public_parts.cache_clear()
    held, fetched = pages[:3], pages[3:]
    assert held == fetched
    assert all(len(json.loads(page)[0]) == table.PAGE_SIZE for page in held)
