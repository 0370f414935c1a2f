"""The flow diagram's nodes and links, summed over bundles of rows, equal the same sums spelled out row by row with
pandas' own groupby: every figure, count, date span, qualifier count, first row, tree and the figures as sourced.

The reference walks each row's path through the diagram's levels as a reader would read it (its non-empty nodes
in order, a link between each two in a row) and groups the rows with pandas; sankey_data works on integer codes and
sums each bundle of alike rows once. Both run on the shipped example and on a SYNTHETIC ledger with internal rows,
links, several currencies and undated rows, unfiltered and under the benchmark's random filter sets.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.dashboard_callbacks import random_queries, vocabulary
from dashboard import data, figures, filters
from dashboard.formatting import figure, sum_figure
from etl.builds import current_build

LAYOUTS = [(("tree", "payer", "recipient"), 10), (("payer_country", "recipient_country"), 10),
           (("payer", "intermediary", "recipient"), 3),
           (("tree", "payer_country", "payer", "intermediary", "recipient", "recipient_country"), 30)]


def reference_nodes(frame: pd.DataFrame, level: str, value: pd.Series, top_n: int) -> pd.Series:
    """Each row's node at a level: its label when among the top N by USD (ties in the labels' order), "Other"
    for any other label, missing when the row has none."""
    labels = frame[level + "_label"].astype("object").where(frame[level + "_label"].notna(), "")
    order = {name: i for i, name in enumerate(frame[level + "_label"].cat.categories)}
    totals = value.groupby(labels).sum().drop("", errors="ignore")
    ranked = sorted(totals.index, key=lambda name: (-totals[name], order[name]))
    top = set(ranked[:top_n])
    return labels.map(lambda name: None if name == "" else name if name in top else figures.OTHER)


def reference_groups(entries: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """Per key of entries (key, row): what figures._group gives, with pandas' groupby over the rows themselves."""
    rows = frame.reset_index(drop=True).iloc[entries["row"].to_numpy()].reset_index(drop=True)
    kind = rows["amount_kind"].astype("str")
    tree = rows["tree_label"].cat.codes.astype("int64")
    table = pd.DataFrame({
        "key": entries["key"].to_numpy(), "value": rows["value_usd"].fillna(0.0), "date_start": rows["date_start"],
        "date_last": rows["date_last"], "at_least": (kind == "at_least").astype(int),
        "estimate": (kind == "estimate").astype(int), "converted": rows["converted"].astype(int),
        "row": entries["row"].to_numpy(), "tree": tree})
    grouped = table.groupby("key", sort=True)
    out = pd.DataFrame({"value": grouped["value"].sum(), "count": grouped.size(),
                        "first": grouped["date_start"].min(), "last": grouped["date_last"].max(),
                        "at_least": grouped["at_least"].sum(), "estimate": grouped["estimate"].sum(),
                        "converted": grouped["converted"].sum(), "row": grouped["row"].min()})
    low, high = grouped["tree"].min(), grouped["tree"].max()
    out["tree"] = low.where(low == high, -1)
    # As sourced: per currency its own sum, the row's own figure for a single row.
    amount = rows["total_amount_f"].where(rows["total_amount_f"].notna(), rows["amount_f"]).fillna(0.0)
    by_currency = pd.DataFrame({"key": table["key"], "currency": rows["currency"].astype("str"),
                                "code": rows["currency"].cat.codes, "amount": amount, "kind": kind,
                                "at_least": table["at_least"], "estimate": table["estimate"]})
    texts = {}
    for (key, code, currency), group in by_currency.groupby(["key", "code", "currency"], sort=True):
        text = figure(group["amount"].sum(), currency, group["kind"].iloc[0]) if len(group) == 1 else \
            sum_figure(group["amount"].sum(), currency, int(group["at_least"].sum()), int(group["estimate"].sum()))
        texts.setdefault(key, []).append(text)
    out["currencies"] = ["; ".join(texts[key]) for key in out.index]
    return out


def reference_sankey(frame: pd.DataFrame, levels: tuple[str, ...], top_n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Nodes keyed 'level\\x1flabel', links keyed (source, target, confidence), each with reference_groups' columns."""
    value = frame["value_usd"].fillna(0.0).reset_index(drop=True)
    framed = frame.reset_index(drop=True)
    nodes = pd.DataFrame({level: reference_nodes(framed, level, value, top_n) for level in levels})
    node_entries, link_entries = [], []
    for row, path in enumerate(nodes.itertuples(index=False)):
        walked = [f"{level}\x1f{name}" for level, name in zip(levels, path) if isinstance(name, str)]
        node_entries += [(key, row) for key in walked]
        confidence = str(framed["confidence"].iloc[row])
        link_entries += [((a, b, confidence), row) for a, b in zip(walked, walked[1:])]
    as_frame = (lambda entries: pd.DataFrame({"key": pd.Series([k for k, _ in entries], dtype="object"),
                                              "row": [r for _, r in entries]}))
    node_table = reference_groups(as_frame(node_entries), framed) if node_entries else pd.DataFrame()
    link_table = reference_groups(as_frame(link_entries), framed) if link_entries else pd.DataFrame()
    return node_table, link_table


def assert_same_groups(got: pd.DataFrame, expected: pd.DataFrame, what: str) -> None:
    assert sorted(got.index) == sorted(expected.index), what
    got = got.loc[expected.index]
    assert np.allclose(got["value"].to_numpy(), expected["value"].to_numpy(), rtol=1e-12, atol=1e-6), what
    for column in ("count", "at_least", "estimate", "converted", "row", "tree"):
        assert got[column].astype("int64").tolist() == expected[column].astype("int64").tolist(), (what, column)
    for column in ("first", "last"):
        assert got[column].astype("datetime64[us]").equals(expected[column].astype("datetime64[us]")), (what, column)
    assert got["currencies"].tolist() == expected["currencies"].tolist(), what


def check(frame: pd.DataFrame, levels: tuple[str, ...], top_n: int, what: str) -> int:
    nodes, links = figures.sankey_data(frame, levels, top_n)
    expected_nodes, expected_links = reference_sankey(frame, levels, top_n)
    if nodes.empty:
        assert expected_links.empty, what
        return 0
    assert_same_groups(nodes.set_index("key"), expected_nodes, what + " nodes")
    links = links.set_index(pd.Index(list(zip(links["source"], links["target"], links["confidence"]))))
    assert_same_groups(links, expected_links, what + " links")
    # Each level's nodes largest first, in the levels' order.
    assert nodes["order"].is_monotonic_increasing, what
    return len(links)


@pytest.mark.parametrize("which", ["example", "synthetic"])
def test_the_diagrams_sums_over_bundles_equal_row_by_row_sums(which, example_build, synthetic_build):
    build = example_build if which == "example" else synthetic_build
    dataset = data._load.__wrapped__(str(current_build(build)), 0)
    frame = dataset.chart
    drawn = frame.assign(value_usd=frame["drawn_usd"], total_amount_f=frame["drawn_amount_f"])
    counted = drawn[filters.mask(frame, filters.FilterState(), dataset.aliases)]
    links = 0
    for levels, top_n in LAYOUTS:
        links += check(counted, levels, top_n, f"{which} counted {levels}")
        links += check(frame, levels, top_n, f"{which} every report {levels}")
    for query in random_queries(vocabulary(build), 12, seed=5):
        state = filters.from_query("?" + query)
        rows = frame[filters.mask(frame, state, dataset.aliases)]
        links += check(rows, *LAYOUTS[0], f"{which} {query}")
    assert links > 50


def test_a_bundle_sums_alike_rows_once_and_keeps_their_first_row():
    # Six rows, two of which agree on every node, confidence, currency and kind: four bundles.
    frame = pd.DataFrame({
        "value_usd": [10.0, 5.0, np.nan, 7.0, 1.0, 2.0],
        "date_start": pd.to_datetime(["2012-07-01", "2011-01-01", None, "2013-05-05", "2012-01-01", "2014-01-01"]),
        "date_last": pd.to_datetime(["2012-07-31", "2011-12-31", None, "2013-05-05", "2012-01-01", "2014-02-01"]),
        "payer_label": pd.Categorical(["A", "A", "A", "B", "A", "A"]),
        "recipient_label": pd.Categorical(["X", "X", "Y", "X", "X", "X"]),
        "tree_label": pd.Categorical(["T", "T", None, None, "T", "U"]),
        "confidence": pd.Categorical(["reported"] * 5 + ["confirmed"]),
        "currency": pd.Categorical(["USD", "USD", "EUR", "USD", "USD", "USD"]),
        "amount_kind": pd.Categorical(["exact", "at_least", "exact", "exact", "exact", "exact"]),
        "converted": [False, False, True, False, False, False],
        "total_amount_f": [10.0, 5.0, 3.0, 7.0, 1.0, 2.0], "amount_f": [10.0, 5.0, 3.0, 7.0, 1.0, 2.0]})
    value, node_of, node_keys, node_count = figures._flow_nodes(frame, ("payer", "recipient"), 10)
    confidence, names = figures._confidence(frame)
    bundles, _ = figures._bundles(frame, value, [(node_of[level], node_count) for level in ("payer", "recipient")]
                                  + [(confidence, len(names))])
    order = np.argsort(bundles.row)
    assert bundles.row[order].tolist() == [0, 1, 2, 3, 5]
    assert bundles.count[order].tolist() == [2, 1, 1, 1, 1]
    assert bundles.value[order].tolist() == [11.0, 5.0, 0.0, 7.0, 2.0]
    nodes, links = figures.sankey_data(frame, ("payer", "recipient"), 10)
    link = links[(links["source"] == "payer\x1fA") & (links["target"] == "recipient\x1fX")
                 & (links["confidence"] == "reported")].iloc[0]
    assert (link["value"], link["count"], link["at_least"], link["row"], link["tree"]) == (16.0, 3, 1, 0, 0)
    assert (link["first"], link["last"]) == (pd.Timestamp("2011-01-01"), pd.Timestamp("2012-07-31"))
    assert check(frame, ("payer", "recipient"), 10, "six rows") == 4
