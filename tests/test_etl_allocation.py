"""What each row draws: every documented part on its own, parents only their untraced rest, each dollar once."""
from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.allocation import allocate
from etl.pipeline import build
from etl.schema import DRAWN_ROLES, LEDGER_DIR
from ledger_factory import ledger_folder, row


@pytest.fixture(scope="module")
def example():
    result = build(LEDGER_DIR)
    assert result.errors == []
    return result.dataset.set_index("id")


def test_laundromat_parts_draw_their_own_value_and_the_fund_its_untraced_rest(example):
    tree = example[example["tree_root"].eq("laundromat-total-2012-2014")]
    assert example.loc["baguirov-253150", "drawn_usd"] == Decimal("253150.00")
    assert example.loc["velasco-mkb-2012-2013", "drawn_usd"] == Decimal("7600000.00")
    fund = example.loc["laundromat-total-2012-2014"]
    assert fund["drawn_role"] == "untraced"
    parts = tree.drop(index="laundromat-total-2012-2014")
    # The fund's rest is its total minus what its direct parts hold; the tree adds up to the fund, to the cent.
    assert fund["drawn_usd"] == fund["total_usd"] - parts.loc[parts["part_of"].eq(fund.name), "total_usd"].sum()
    assert tree["drawn_usd"].sum() == fund["total_usd"]


def test_lintner_three_levels(example):
    # €61,000 ⊂ €819,500 ⊂ €3.4 m: each level draws what the level below leaves, in euros exactly.
    assert example.loc["lintner-61000-2013", "drawn_eur"] == Decimal("61000.00")
    assert example.loc["lintner-gefdab-2012-2014", "drawn_eur"] == Decimal("758500.00")
    assert example.loc["lintner-indictment-2008-2014", "drawn_eur"] == Decimal("2580500.00")
    # Every part goes to Lintner himself, so the rest is traced to him.
    assert set(example.loc[["lintner-gefdab-2012-2014", "lintner-indictment-2008-2014"], "drawn_role"]) == {"rest"}


def test_restated_rows_and_open_rates_draw_nothing(example):
    restated = example[example["same_as"].ne("")]
    assert len(restated) == 3 and (restated["drawn_usd"] == 0).all()
    assert set(restated["drawn_role"]) == {"restated"}
    # A restated row belongs to the tree of the row it restates.
    assert example.loc["volonte-prosecution-2012-2014", "tree_root"] == "laundromat-total-2012-2014"
    assert example.loc["podesta-2015", "drawn_role"] == "no_total" and example.loc["podesta-2015", "drawn_usd"] == 0


def test_drawn_sum_equals_the_counted_total(example):
    counted = example[example["counts_in_totals"]]
    assert example["drawn_usd"].sum() == counted["total_usd"].sum()
    assert example["drawn_eur"].sum() == counted["total_eur"].sum()


def test_parts_exceeding_the_parent_warn_and_the_tree_is_the_sum_of_its_parts(tmp_path):
    folder = ledger_folder(tmp_path, [
        row(id="whole", amount="1000", amount_kind="at_least"),
        row(id="a", amount="700", part_of="whole"),
        row(id="b", amount="600", part_of="whole", recipient="Metastar Invest LLP"),
    ])
    result = build(folder)
    assert result.errors == []
    data = result.dataset.set_index("id")
    assert data.loc["whole", "drawn_usd"] == 0 and data.loc["whole", "drawn_role"] == "covered"
    assert data["drawn_usd"].sum() == Decimal("1300.00")
    warnings = [i for i in result.warnings if i.code == "parts_exceed"]
    assert len(warnings) == 1
    assert warnings[0].row == 2 and "a, b" in warnings[0].message and "300.00 USD" in warnings[0].message


def test_a_rest_traced_to_other_recipients_is_untraced(tmp_path):
    folder = ledger_folder(tmp_path, [
        row(id="fund", amount="1000", recipient="Metastar Invest LLP"),
        row(id="part", amount="100", part_of="fund"),
    ])
    data = build(folder).dataset.set_index("id")
    assert data.loc["fund", "drawn_role"] == "untraced" and data.loc["fund", "drawn_usd"] == Decimal("900.00")


def test_parts_of_a_restated_row_count_against_the_row_it_restates(tmp_path):
    folder = ledger_folder(tmp_path, [
        row(id="court", amount="1000"),
        row(id="press", amount="1200", same_as="court"),
        row(id="part", amount="100", part_of="press"),
    ])
    data = build(folder).dataset.set_index("id")
    assert data.loc["court", "drawn_usd"] == Decimal("900.00")
    assert data.loc["press", "drawn_usd"] == 0
    assert data.loc["part", "tree_root"] == "court"
    assert data["drawn_usd"].sum() == Decimal("1000.00")


def _reference_held(node: int, children: dict[int, list[int]], value: list[int | None], draws: list[bool]) -> int:
    """Plain recursion: what a subtree holds = max(own value, what its parts hold)."""
    parts = sum(_reference_held(c, children, value, draws) for c in children.get(node, []))
    own = value[node] if value[node] is not None and draws[node] else 0
    return max(own, parts)


@st.composite
def forests(draw):
    n = draw(st.integers(1, 40))
    # A parent always comes earlier, so the links form a forest (no loops).
    parent = [-1] + [draw(st.integers(-1, i - 1)) for i in range(1, n)]
    value = [draw(st.one_of(st.none(), st.integers(0, 10**12))) for _ in range(n)]
    restate = [draw(st.booleans()) and i > 0 and parent[i] < 0 for i in range(n)]
    same_as = [draw(st.integers(0, i - 1)) if restate[i] else -1 for i in range(n)]
    recipient = [draw(st.integers(0, 3)) for _ in range(n)]
    return np.array(parent), np.array(same_as), value, np.array(recipient)


@settings(max_examples=300, deadline=None)
@given(forests())
def test_allocation_properties(forest):
    part_of, same_as, value, recipient = forest
    n = len(part_of)
    cents = np.array([v or 0 for v in value], dtype=np.int64)
    known = np.array([v is not None for v in value])
    result = allocate(part_of, same_as, {"usd": cents}, {"usd": known}, known.copy(), recipient)
    drawn = result.drawn["usd"]
    restated = same_as >= 0
    assert (drawn >= 0).all()
    assert (drawn[restated] == 0).all()
    assert set(result.role[restated]) <= {DRAWN_ROLES.index("restated")}
    # Parts of a restated row hang under the row it restates.
    preferred = np.where(restated, same_as, np.arange(n))
    while not np.array_equal(preferred[preferred], preferred):
        preferred = preferred[preferred]
    effective = np.where(part_of >= 0, preferred[np.clip(part_of, 0, None)], -1)
    children: dict[int, list[int]] = {}
    for i, p in enumerate(effective):
        if p >= 0 and not restated[i]:
            children.setdefault(int(p), []).append(i)
    draws = [not restated[i] and known[i] for i in range(n)]
    for root in np.flatnonzero(effective < 0):
        if restated[root]:
            continue
        members = result.root == root
        # Each tree's drawn sum is max(root, its parts) exactly, and no row is drawn in two trees.
        assert drawn[members & ~restated].sum() == _reference_held(int(root), children, value, draws)
    assert drawn.sum() == sum(_reference_held(int(r), children, value, draws)
                              for r in np.flatnonzero(effective < 0) if not restated[r])


def test_a_long_chain_allocates(tmp_path):
    n = 20_000
    part_of = np.arange(-1, n - 1)
    cents = np.full(n, 10, dtype=np.int64)
    cents[0] = 10 * n
    result = allocate(part_of, np.full(n, -1), {"usd": cents}, {"usd": np.ones(n, bool)}, np.ones(n, bool),
                      np.zeros(n, dtype=np.int64))
    assert (result.root == 0).all()
    assert result.drawn["usd"].sum() == 10 * n
    # Each link holds what the leaf holds, so every middle row is covered and the root keeps the rest.
    assert result.drawn["usd"][-1] == 10 and result.drawn["usd"][0] == 10 * n - 10
    assert (result.drawn["usd"][1:-1] == 0).all()


@st.composite
def link_graphs(draw):
    """Any links at all: forests, restated chains, loops, self-links, two currencies, rows without a total."""
    n = draw(st.integers(1, 60))
    target = st.one_of(st.just(-1), st.just(-1), st.integers(0, n - 1))
    part_of = np.array([draw(target) for _ in range(n)])
    same_as = np.array([draw(st.one_of(st.just(-1), st.just(-1), st.just(-1), st.integers(0, n - 1)))
                        for _ in range(n)])
    values, known = {}, {}
    for currency in ("usd", "eur"):
        cents = [draw(st.one_of(st.none(), st.integers(0, 10**9))) for _ in range(n)]
        values[currency] = np.array([c or 0 for c in cents], dtype=np.int64)
        known[currency] = np.array([c is not None for c in cents])
    has_total = np.array([draw(st.booleans()) or known["usd"][i] for i in range(n)])
    recipient = np.array([draw(st.integers(0, 3)) for _ in range(n)])
    return part_of, same_as, values, known, has_total, recipient, draw(st.integers(1, 8))


@settings(max_examples=300, deadline=None)
@given(link_graphs())
def test_allocating_in_groups_of_whole_trees_gives_the_same_allocation(graph):
    from etl.allocation import allocate_by_trees

    *arrays, group_rows = graph
    whole = allocate(*arrays)
    grouped = allocate_by_trees(*arrays, group_rows=group_rows)
    for name in ("root", "role", "exceeded", "excess"):
        assert np.array_equal(getattr(whole, name), getattr(grouped, name)), name
        assert getattr(whole, name).dtype == getattr(grouped, name).dtype, name
    for currency in ("usd", "eur"):
        assert np.array_equal(whole.drawn[currency], grouped.drawn[currency])
        assert np.array_equal(whole.drawn_known[currency], grouped.drawn_known[currency])
