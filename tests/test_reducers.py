from __future__ import annotations

import itertools
from typing import Any

from helpers import record
from hypothesis import given
from hypothesis import strategies as st

from langgraph_parallel.state import BranchResult, merge_results


def rec(index: int, branch: str = "w", status: str = "ok", value: Any = None) -> BranchResult:
    return record(branch, index, index if value is None else value, status=status)


def test_merge_sorts_by_index_then_branch() -> None:
    merged = merge_results([rec(3)], [rec(1, "b"), rec(1, "a"), rec(0)])
    assert [(r["index"], r["branch"]) for r in merged] == [(0, "w"), (1, "a"), (1, "b"), (3, "w")]


def test_same_key_is_replaced_by_the_later_record() -> None:
    merged = merge_results([rec(0), rec(1, status="error")], [rec(1, status="ok", value="retried")])
    assert [(r["index"], r["status"], r["value"]) for r in merged] == [
        (0, "ok", 0),
        (1, "ok", "retried"),
    ]


def test_duplicate_keys_inside_one_update_keep_the_last() -> None:
    merged = merge_results([], [rec(1, value="first"), rec(1, value="second")])
    assert [r["value"] for r in merged] == ["second"]
    appended = merge_results([rec(0)], [rec(1, value="first"), rec(1, value="second")])
    assert [r["value"] for r in appended] == [0, "second"]


def test_single_record_and_none_updates() -> None:
    assert merge_results(None, rec(2)) == [rec(2)]
    assert merge_results([rec(1)], None) == [rec(1)]
    assert merge_results([rec(1)], []) == []  # an empty list clears (the dispatch resets)


def test_arguments_are_not_modified() -> None:
    current, update = [rec(2)], [rec(1)]
    merge_results(current, update)
    assert current == [rec(2)] and update == [rec(1)]


keys = st.lists(
    st.tuples(st.integers(0, 30), st.sampled_from(["a", "b", "worker"])), unique=True, max_size=25
)


@given(keys=keys, cuts=st.lists(st.integers(0, 25), max_size=4), seed=st.randoms())
def test_merged_records_do_not_depend_on_completion_order(
    keys: list[tuple[int, str]], cuts: list[int], seed: Any
) -> None:
    """Branches finishing in any order, grouped into any updates, merge to the same list."""
    records = [rec(i, b) for i, b in keys]
    expected = sorted(records, key=lambda r: (r["index"], r["branch"]))
    shuffled = records[:]
    seed.shuffle(shuffled)
    bounds = sorted({0, len(shuffled), *(min(c, len(shuffled)) for c in cuts)})
    state: list[BranchResult] = []
    for start, end in itertools.pairwise(bounds):
        state = merge_results(state, shuffled[start:end])
    assert state == expected


@given(keys=keys, seed=st.randoms())
def test_plan_order_fast_path_equals_general_path(keys: list[tuple[int, str]], seed: Any) -> None:
    records = sorted((rec(i, b) for i, b in keys), key=lambda r: (r["index"], r["branch"]))
    half = len(records) // 2

    def merged(*parts: list[BranchResult]) -> list[BranchResult]:
        state: list[BranchResult] = []
        for part in parts:
            if part:  # an empty update clears (tested above); a chunk is never empty
                state = merge_results(state, part)
        return state

    in_order = merged(records[:half], records[half:])
    reversed_order = merged(records[half:], records[:half])
    assert in_order == reversed_order == records
