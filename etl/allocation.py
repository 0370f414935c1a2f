"""Decide what each row draws on charts and adds to sums, so every documented part is shown and every dollar counted
once.

A `part_of` tree (any depth) is one transfer and its documented parts. Each part draws its own value; a row with
parts draws only its untraced remainder: its value minus what its direct parts hold (each part holding its own
value, or the sum of its own parts when those add up to more), never below zero. The drawn values of a tree then
add up to max(root, parts) exactly, in cents. Rows restating another (`same_as`) draw nothing; the preferred row
draws, and parts of a restated row count as parts of the row it restates. Rows without a total (a rate without a
closed period, an invalid amount) draw nothing.

Trees are walked with numpy only: roots and depths by pointer doubling (log of the deepest chain), sums bottom-up one
depth at a time, so a long chain costs one cheap step per level and never a pass over every row per level.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .schema import DRAWN_ROLES

# Rounds of pointer doubling: 2**64 levels is more than any ledger can hold, so rows still unresolved after this
# many rounds sit on a loop of links (reported by validation) and are treated as roots here.
MAX_DOUBLING_ROUNDS = 64
ROLE_CODE = {role: i for i, role in enumerate(DRAWN_ROLES)}


@dataclass(frozen=True)
class Allocation:
    """Per row: the tree root's position, what it draws (cents, per currency asked for) and why (a DRAWN_ROLES
    code). `exceeded` holds the positions of rows whose parts add up to more than themselves, `excess` by how many
    cents (in the first currency)."""

    root: np.ndarray
    drawn: dict[str, np.ndarray]
    drawn_known: dict[str, np.ndarray]
    role: np.ndarray
    exceeded: np.ndarray
    excess: np.ndarray


def preferred_rows(same_as: np.ndarray) -> np.ndarray:
    """Each row's preferred row: the end of its same_as chain (itself when it restates nothing)."""
    own = np.arange(len(same_as))
    preferred = np.where((same_as >= 0) & (same_as != own), same_as, own)
    # A restated row may restate a restated row: follow same_as to its end by doubling.
    for _ in range(MAX_DOUBLING_ROUNDS):
        nxt = preferred[preferred]
        if np.array_equal(nxt, preferred):
            break
        preferred = nxt
    return preferred


def effective_parents(part_of: np.ndarray, same_as: np.ndarray, preferred: np.ndarray | None = None) -> np.ndarray:
    """Each row's parent position (-1 for none). A parent that restates another row stands for that row: parts of a
    restated report are parts of the transfer it restates."""
    own = np.arange(len(part_of))
    preferred = preferred_rows(same_as) if preferred is None else preferred
    parent = np.where((part_of >= 0) & (part_of != own), part_of, -1)
    parent = np.where(parent >= 0, preferred[np.clip(parent, 0, None)], -1)
    return np.where(parent == own, -1, parent)


def roots_and_depths(parent: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(root position, depth, on_loop) per row by pointer doubling; rows on or under a loop count as roots."""
    own = np.arange(len(parent))
    ancestor = np.where(parent >= 0, parent, own)
    hops = (parent >= 0).astype(np.int64)
    for _ in range(MAX_DOUBLING_ROUNDS):
        pending = parent[ancestor] >= 0
        if not pending.any():
            break
        # Both right-hand sides read the arrays of the previous round: each round doubles the distance covered.
        hops = np.where(pending, hops + hops[ancestor], hops)
        ancestor = np.where(pending, ancestor[ancestor], ancestor)
    on_loop = parent[ancestor] >= 0
    return np.where(on_loop, own, ancestor), np.where(on_loop, 0, hops), on_loop


def allocate(part_of: np.ndarray, same_as: np.ndarray, values: dict[str, np.ndarray],
             known: dict[str, np.ndarray], has_total: np.ndarray, recipient: np.ndarray) -> Allocation:
    """Allocate every tree. part_of/same_as: target row positions (-1 none); values: cents per currency (int64) with
    their known masks; has_total: the row has a total at all; recipient: a code per recipient name. A parent whose
    parts all go to its own recipient keeps a rest traced to that recipient; otherwise its rest is not yet traced.

    The first currency in `values` decides the role of a parent (rest, untraced or covered) and the warnings.
    """
    n = len(part_of)
    own = np.arange(n)
    restated = (same_as >= 0) & (same_as != own)
    preferred = preferred_rows(same_as)
    parent = effective_parents(part_of, same_as, preferred)
    root, depth, on_loop = roots_and_depths(parent)
    parent = np.where(on_loop, -1, parent)
    same_recipient = recipient == recipient[np.clip(parent, 0, None)]
    # Restated rows and rows without a total are no part of anyone's sum.
    draws = ~restated & has_total
    # A part without a total of its own still holds what its own parts hold, so it is a part all the same.
    is_part = ~restated & (parent >= 0)
    has_parts = np.zeros(n, dtype=bool)
    has_parts[parent[is_part]] = True
    parts_elsewhere = np.zeros(n, dtype=bool)
    parts_elsewhere[parent[is_part & ~same_recipient]] = True

    # A stable sort of small integers is a radix sort in numpy: cast the depths down when they fit.
    deepest = int(depth.max(initial=0))
    order = np.argsort(deepest - depth.astype(np.int16 if deepest < 2**15 else np.int64), kind="stable")
    sorted_depth = depth[order]
    levels = np.flatnonzero(np.diff(sorted_depth)) + 1
    by_depth = np.split(order, levels)  # deepest level first

    drawn: dict[str, np.ndarray] = {}
    drawn_known: dict[str, np.ndarray] = {}
    exceeded = excess = np.zeros(0, dtype=np.int64)
    role = np.full(n, ROLE_CODE["own"], dtype=np.int8)
    first = True
    for currency, value in values.items():
        value_known = known[currency] & draws
        own_value = np.where(value_known, value, 0).astype(np.int64)
        held = own_value.copy()  # what a row holds with its parts: max(own, parts) once its parts are summed
        parts_sum = np.zeros(n, dtype=np.int64)
        for rows in by_depth:
            if not len(rows) or depth[rows[0]] == 0:
                continue
            rows = rows[is_part[rows]]
            if not len(rows):
                continue
            np.add.at(parts_sum, parent[rows], held[rows])
            parents = pd.unique(parent[rows])  # a hash pass; a sort per level would cost more
            held[parents] = np.maximum(np.where(value_known[parents], own_value[parents], 0), parts_sum[parents])
        rest = np.where(value_known, own_value - parts_sum, 0)
        over = has_parts & value_known & (rest < 0)
        rest = np.where(over, 0, rest)
        drawn[currency] = np.where(draws, np.where(has_parts, rest, own_value), 0)
        # A row that draws nothing draws a known zero; a row whose value has no conversion draws an unknown amount
        # (its parts still draw theirs).
        drawn_known[currency] = ~draws | value_known
        if first:
            exceeded = np.flatnonzero(over)
            excess = parts_sum[exceeded] - own_value[exceeded]
            role[has_parts & draws] = np.where(parts_elsewhere[has_parts & draws], ROLE_CODE["untraced"],
                                               ROLE_CODE["rest"])
            role[has_parts & draws & value_known & (rest == 0)] = ROLE_CODE["covered"]
            first = False
    # A restated row belongs to the tree of the row it restates.
    root = np.where(restated, root[preferred], root)
    role[~has_total & ~restated] = ROLE_CODE["no_total"]
    role[restated] = ROLE_CODE["restated"]
    return Allocation(root, drawn, drawn_known, role, exceeded, excess)


# Rows allocated at once: trees are independent of each other, so a large ledger's trees are allocated in groups of
# whole trees of about this many rows, and the working arrays of the allocation stay the size of one group.
GROUP_ROWS = 1_000_000


def allocate_by_trees(part_of: np.ndarray, same_as: np.ndarray, values: dict[str, np.ndarray],
                      known: dict[str, np.ndarray], has_total: np.ndarray, recipient: np.ndarray,
                      group_rows: int | None = None) -> Allocation:
    """allocate(), the same result, in groups of whole trees (rows joined by part_of or same_as links, in either
    direction) of about group_rows rows: allocate only ever follows links, so each group allocates as it would
    among all rows. A ledger of fewer rows is allocated in one go."""
    group_rows = GROUP_ROWS if group_rows is None else group_rows
    n = len(part_of)
    if n <= group_rows:
        return allocate(part_of, same_as, values, known, has_total, recipient)
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    own = np.arange(n)
    edges = [(own[t >= 0], t[t >= 0]) for t in (part_of, same_as)]
    graph = csr_matrix((np.ones(sum(len(s) for s, _ in edges), dtype=np.int8),
                        (np.concatenate([s for s, _ in edges]), np.concatenate([t for _, t in edges]))), shape=(n, n))
    _, tree = connected_components(graph, directed=True, connection="weak")
    del graph, edges
    order = np.argsort(tree, kind="stable")
    sizes = np.bincount(tree)
    # Trees in label order; a group takes the trees that start in its block of group_rows rows (so it holds whole
    # trees, at most one tree's rows more than group_rows).
    ends = np.cumsum(sizes)
    group = (ends - sizes) // group_rows
    cuts = [0, *(np.flatnonzero(np.diff(group)) + 1).tolist(), len(sizes)]
    local = np.full(n, -1, dtype=np.int64)
    root = np.empty(n, dtype=np.int64)
    role = np.empty(n, dtype=np.int8)
    drawn = {c: np.empty(n, dtype=np.int64) for c in values}
    drawn_known = {c: np.empty(n, dtype=bool) for c in values}
    exceeded, excess = [], []
    bounds = np.concatenate([[0], ends])
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        rows = np.sort(order[bounds[lo]:bounds[hi]])
        local[rows] = np.arange(len(rows))
        # Every link of a group's rows points inside the group: its trees are whole.
        targets = [np.where(t[rows] >= 0, local[np.clip(t[rows], 0, None)], -1) for t in (part_of, same_as)]
        result = allocate(*targets, {c: v[rows] for c, v in values.items()}, {c: k[rows] for c, k in known.items()},
                          has_total[rows], recipient[rows])
        root[rows] = rows[result.root]
        role[rows] = result.role
        for c in values:
            drawn[c][rows] = result.drawn[c]
            drawn_known[c][rows] = result.drawn_known[c]
        exceeded.append(rows[result.exceeded])
        excess.append(result.excess)
        local[rows] = -1
    exceeded_rows, excess_cents = np.concatenate(exceeded), np.concatenate(excess)
    ascending = np.argsort(exceeded_rows, kind="stable")
    return Allocation(root, drawn, drawn_known, role, exceeded_rows[ascending], excess_cents[ascending])
