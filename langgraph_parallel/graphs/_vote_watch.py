"""Early stop of a vote: watching the votes come in, to tell when the outcome is decided."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langgraph_parallel.nodes.votes import Normalizer, VoteMethod, tally
from langgraph_parallel.state.records import BranchResult, Vote


class VoteWatch:
    """Watches a vote as the votes come in, to tell when the outcome can no longer change.

    Args:
        labels: Every voter's name.
        method: The vote method; a custom function is never decided early.
        weights: Voter name -> weight for `"weighted"`.
        normalize: As for `tally`.
        score_threshold: For `"best_score"`: a score that ends the vote as soon as a voter
            reaches it.
    """

    def __init__(
        self,
        labels: Sequence[str],
        *,
        method: VoteMethod | Callable[[list[Vote]], Any],
        weights: Mapping[str, float] | None,
        normalize: Normalizer | Sequence[Normalizer] | None,
        score: Callable[[Any], float] | None = None,
        score_threshold: float | None = None,
    ) -> None:
        self.labels = list(labels)
        self.method = method
        self.weights = weights
        self.normalize = normalize
        self.score = score
        self.score_threshold = score_threshold
        self.records: dict[str, BranchResult] = {}

    def add(self, record: BranchResult) -> str | None:
        """Count one voter's record; return why the vote is decided, or `None` if it is not."""
        self.records[record["branch"]] = record
        remaining = [label for label in self.labels if label not in self.records]
        if not remaining or callable(self.method):
            return None
        outcome = tally(
            list(self.records.values()),
            method=self.method,
            weights=self.weights,
            normalize=self.normalize,
            score=self.score,
        )
        if self.method == "unanimity":
            return "unanimity is broken" if len(outcome["counts"]) > 1 else None
        if self.method == "best_score":
            best = max(
                (v["score"] or 0.0 for v in outcome["votes"] if v["status"] == "ok"), default=None
            )
            if (
                self.score_threshold is not None
                and best is not None
                and best >= self.score_threshold
            ):
                return f"a vote scored {best:g}, at least score_threshold={self.score_threshold:g}"
            return None
        counts = outcome["counts"]
        if not counts:
            return None
        weigh = self.weights or {}
        left = sum(
            weigh.get(label, 1.0) if self.method == "weighted" else 1.0 for label in remaining
        )
        lead = counts[0]["weight"]
        second = counts[1]["weight"] if len(counts) > 1 else 0.0
        if lead > second + left:
            return (
                f"{counts[0]['answer']!r} leads {lead:g} to {second:g} with {left:g} "
                "still to vote, so the outcome cannot change"
            )
        return None
