"""The filters on category codes and integer dates pick exactly the rows the plain pandas comparisons pick, and the
public's rows are a slice of the chart (its public rows first), not a copy.

The reference below spells every filter out with pandas' own comparisons on labels and timestamps, the way the
dashboard filtered before it worked on codes; both are run on the shipped example and on a SYNTHETIC ledger with
internal rows, links and undated rows, over the benchmark's random filter sets plus drill-downs by year and month.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from benchmarks.dashboard_callbacks import random_queries, vocabulary
from dashboard import data, filters
from dashboard.app import app
from etl.builds import current_build


def reference_mask(frame: pd.DataFrame, state: filters.FilterState, aliases: pd.DataFrame) -> np.ndarray:
    """Every filter as a comparison of labels and timestamps (no codes, no integer dates)."""
    keep = np.ones(len(frame), dtype=bool)
    role = frame["drawn_role"].astype("str")
    if state.view in ("counted", "excluded"):
        drawing = role.isin(filters.DRAWING_ROLES).to_numpy()
        keep &= drawing if state.view == "counted" else ~drawing
        if state.view == "counted" and state.traced_only:
            keep &= (role != "untraced").to_numpy()
    if state.date_from:
        start = pd.Timestamp(state.date_from + ("-01-01" if len(state.date_from) == 4 else ""))
        keep &= (frame["date_last"] >= start).to_numpy(dtype=bool, na_value=False)
    if state.date_to:
        stop = pd.Timestamp(state.date_to + ("-12-31" if len(state.date_to) == 4 else ""))
        keep &= (frame["date_start"] <= stop).to_numpy(dtype=bool, na_value=False)
    for column, values in (("payer_country", state.payer_country), ("recipient_country", state.recipient_country),
                           ("confidence", state.confidence), ("amount_kind", state.amount_kind),
                           ("ledger_file", state.ledger)):
        if values:
            keep &= frame[column].astype("str").isin(values).to_numpy()
    if state.min_usd:
        keep &= (frame["value_usd"] >= state.min_usd).to_numpy(dtype=bool, na_value=False)
    if state.entity:
        names = filters.entity_names(state.entity, aliases)
        needle = filters.fold(state.entity)
        by_name = np.zeros(len(frame), dtype=bool)
        for column in ("payer", "recipient", "intermediary"):
            text = frame[column].astype("str")
            hit = np.array([needle in filters.fold(t) or t in names
                            or (column == "intermediary" and any(n in t for n in names)) for t in text])
            by_name |= hit
        restated = set(frame["preferred_key"].to_numpy()[by_name].tolist()) - {-1}
        by_name |= frame["row_key"].isin(restated).to_numpy()
        keep &= by_name
    for level, value in state.focus:
        if level in ("year", "month"):
            text = frame["date_plot"].dt.strftime("%Y" if level == "year" else "%Y-%m")
            keep &= (text == value).to_numpy(dtype=bool, na_value=False)
        else:
            keep &= filters.focus_mask(frame, level, value)
    return keep


def drill_downs(frame: pd.DataFrame) -> list[tuple[tuple[str, str], ...]]:
    """Years and months that occur, one that does not, and a text that is no period at all."""
    plot = frame["date_plot"].dropna()
    years = sorted(plot.dt.strftime("%Y").unique())[:3]
    months = sorted(plot.dt.strftime("%Y-%m").unique())[:3]
    return [(("year", y),) for y in years] + [(("month", m),) for m in months] + [
        (("year", "1850"),), (("month", "2012-7"),), (("year", "not a year"),), (("month", "2012-13"),)]


@pytest.mark.parametrize("which", ["example", "synthetic"])
def test_filters_on_codes_pick_the_rows_plain_comparisons_pick(which, example_build, synthetic_build):
    build = example_build if which == "example" else synthetic_build
    dataset = data._load.__wrapped__(str(current_build(build)), 0)
    frame = dataset.chart
    queries = random_queries(vocabulary(build), 40, seed=13)
    states = [filters.from_query("?" + q) for q in queries]
    states += [replace(filters.FilterState(view="all"), focus=f) for f in drill_downs(frame)]
    states += [filters.FilterState(view="excluded"), filters.FilterState(traced_only=False),
               filters.FilterState(date_from="2012-07-01", date_to="2013-06-30", view="all")]
    matched = 0
    for state in states:
        got = filters.mask(frame, state, dataset.aliases)
        expected = reference_mask(frame, state, dataset.aliases)
        assert got.dtype == bool and len(got) == len(frame)
        assert np.array_equal(got, expected), state.to_query()
        matched += int(0 < got.sum() < len(frame))
    # The filter sets narrow the rows for real (neither all nor none) most of the time.
    assert matched >= len(states) // 3


def test_the_publics_rows_are_a_slice_of_the_chart_holding_every_public_row_and_no_other(synthetic_build):
    whole = data._load.__wrapped__(str(current_build(synthetic_build)), 0)
    public = whole.chart["visibility"].astype("str").eq("public").to_numpy()
    assert 0 < public.sum() < len(public)
    # Public rows first, each group in build order (row_key ascending within it).
    assert public[:whole.public_count].all() and not public[whole.public_count:].any()
    keys = whole.chart["row_key"].to_numpy()
    assert (np.diff(keys[:whole.public_count]) > 0).all() and (np.diff(keys[whole.public_count:]) > 0).all()
    assert sorted(keys.tolist()) == list(range(len(keys)))
    seen = data.public_view(whole)
    assert len(seen.chart) == whole.public_count
    assert set(seen.chart["visibility"].astype("str")) == {"public"}
    assert not [c for c in seen.chart.columns if c.startswith("public_")]
    # The public's figures are their own allocation, and the view shares the build's memory.
    assert np.array_equal(seen.chart["drawn_usd"].to_numpy(), whole.chart["public_drawn_usd"].to_numpy()[
        :whole.public_count], equal_nan=True)
    assert np.shares_memory(seen.chart["value_usd"].to_numpy(), whole.chart["value_usd"].to_numpy())
    with app.server.test_request_context("/", environ_base={"REMOTE_ADDR": "198.51.100.7"}):
        # A visitor from another machine without a login: the build's public rows only.
        rows = data.visible_rows(whole)
        assert set(rows["row_key"]) == set(keys[public])
    with app.server.test_request_context("/", environ_base={"REMOTE_ADDR": "127.0.0.1"}):
        # The machine's own user (no login configured): every row.
        rows = data.visible_rows(whole)
        assert len(rows) == len(whole.chart) and not [c for c in rows.columns if c.startswith("public_")]


def test_a_chart_whose_public_rows_are_not_first_is_refused():
    chart = pd.DataFrame({"visibility": pd.Categorical(["internal", "public", "public"]), "row_key": [0, 1, 2]})
    assert data.public_first(chart) == 2
    assert chart["row_key"].tolist() == [1, 2, 0]
    assert data.public_first(chart) == 2 and chart["row_key"].tolist() == [1, 2, 0]


def reference_rows_with_left_out(search: str, dataset: data.Dataset):
    """rows_with_left_out as it was: the matching rows copied, then the shown ones copied again, what is left out
    counted on the first copy."""
    from dashboard import views

    state = filters.from_query(search)
    frame = data.visible_rows(dataset)
    every = frame[filters.mask(frame, replace(state, view="all"), dataset.aliases)]
    role = every["drawn_role"].astype("str")
    drawing = role.isin(filters.DRAWING_ROLES).to_numpy()
    untraced = (role == "untraced").to_numpy()
    if state.view == "counted":
        shown = drawing & ~untraced if state.traced_only else drawing
    else:
        shown = ~drawing if state.view == "excluded" else np.ones(len(every), dtype=bool)
    counts = {name: int((role == name).sum()) for name in ("restated", "no_total", "covered")}
    drawn = every["drawn_usd"].to_numpy(dtype="float64", na_value=np.nan)
    ids = data.full_rows(every[untraced], dataset)["id"].tolist()
    left = {"untraced_usd": float(np.nansum(drawn[untraced])), "untraced": int(untraced.sum()),
            "untraced_of": [dataset.parents[i][1] for i in ids if i in dataset.parents] if untraced.sum() <= 20
            else [], **counts, "rates": int(every["is_open_rate"].sum()),
            "total": int(len(every) - role.isin(filters.DRAWING_ROLES).sum())}
    return views.as_viewed(every[shown], state), left


@pytest.mark.parametrize("which", ["example", "synthetic"])
def test_the_rows_shown_and_left_out_are_those_of_two_copies(which, example_build, synthetic_build):
    from dashboard import views

    build = example_build if which == "example" else synthetic_build
    whole = data._load.__wrapped__(str(current_build(build)), 0)
    searches = [""] + ["?" + q for q in random_queries(vocabulary(build), 25, seed=21)] + [
        "?view=excluded", "?traced=0", "?view=all&date_from=2012", "?entity=zzz-nobody"]
    with app.server.test_request_context("/", environ_base={"REMOTE_ADDR": "127.0.0.1"}):
        for dataset in (whole, data.public_view(whole)):
            for search in searches:
                rows, _, left = views.rows_with_left_out(search, dataset)
                expected_rows, expected_left = reference_rows_with_left_out(search, dataset)
                pd.testing.assert_frame_equal(rows, expected_rows)
                assert left == expected_left, search


@pytest.mark.parametrize("as_categories", [False, True])
def test_references_lead_to_the_first_row_of_their_id_and_hide_what_the_public_may_not_follow(as_categories):
    # Row 3 restates "a" (borne by rows 0 and 2: the first wins); row 4 restates an id no row bears; row 1 is a
    # part of the internal row "b", row 2 a part of "a", public.
    frame = pd.DataFrame({"id": ["a", "b", "a", "c", "d"],
                          "visibility": ["public", "internal", "public", "public", "public"],
                          "part_of": ["", "", "b", "a", ""], "same_as": ["", "", "", "a", "zz"]})
    if as_categories:
        frame = frame.assign(part_of=frame["part_of"].astype("category"), same_as=frame["same_as"].astype("category"))
    out = data.reference_columns(frame)
    assert out["preferred_key"].tolist() == [-1, -1, -1, 0, -1]
    assert out["unseen_part_of"].tolist() == [False, False, True, False, False]
    assert out["unseen_same_as"].tolist() == [False, False, False, False, True]
