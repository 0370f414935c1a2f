"""A build's full rows held in the worker and fetched from its Parquet file give the same rows to every reader.

Builds above data.FULL_ROWS_IN_MEMORY rows leave their full rows (exact decimals, sources, notes) in
transfers.parquet and fetch only what a page shows or a download holds. Both stores are compared here on the
shipped example and on a SYNTHETIC ledger with internal rows and links, for a reader who may see internal rows and
for the public: every column, dtype and order, in one piece and in batches.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.synthetic_ledger import write_synthetic
from dashboard import data, table
from dashboard.app import app
from etl.builds import current_build
from etl.pipeline import run_build


@pytest.fixture(scope="module")
def synthetic_build(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("full-rows")
    write_synthetic(folder / "ledgers", 3000, seed=11, bad_share=0.0)
    run_build(folder / "ledgers", folder / "build")
    return folder / "build"


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
