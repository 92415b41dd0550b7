"""Reducers that merge what parallel branches write, independently of finish order."""

from __future__ import annotations

from collections.abc import Sequence

from langgraph_parallel.state.records import BranchResult


def _key(record: BranchResult) -> tuple[int, str]:
    return record["index"], record["branch"]


def merge_results(
    current: Sequence[BranchResult] | None,
    update: Sequence[BranchResult] | BranchResult | None,
) -> list[BranchResult]:
    """Merge branch records into one list sorted by `(index, branch)`.

    A record replaces an earlier one with the same `(index, branch)`, so running a
    graph again on the same thread, or re-running a failed branch, leaves one record per
    branch. Records with distinct keys merge to the same list whatever order they arrive in.
    An empty list clears the records: the orchestrator's dispatch writes one, so that a new
    plan on the same thread starts with none. (LangGraph's `Overwrite([])` would do the
    same, but it shows as an internal `Overwrite` object in the `updates` stream and as
    `{"type": "__overwrite__"}` through the server.)

    Args:
        current: The records already in state.
        update: New records (one record or a sequence of them); `[]` clears.

    Returns:
        A new sorted list; neither argument is modified.

    Example:
        ```python
        from langgraph_parallel.state import merge_results

        def rec(index, status="ok"):
            return {"branch": "w", "index": index, "status": status, "value": index,
                    "error": None, "elapsed": 0.0, "attempts": 1, "usage": None}

        merged = merge_results([rec(2)], [rec(0), rec(2, "error")])
        assert [(r["index"], r["status"]) for r in merged] == [(0, "ok"), (2, "error")]
        assert merge_results(merged, []) == []
        ```
    """
    old = list(current or ())
    if update is None:
        return old
    new = [update] if isinstance(update, dict) else list(update)
    if not new:
        return []
    new.sort(key=_key)
    # Chunks of an ordered fan-out arrive in plan order: appending is then enough.
    if not old or _key(old[-1]) < _key(new[0]):
        deduped = [r for i, r in enumerate(new) if i + 1 == len(new) or _key(new[i + 1]) != _key(r)]
        return old + deduped
    merged = {_key(r): r for r in old}
    merged.update((_key(r), r) for r in new)
    return [merged[k] for k in sorted(merged)]
