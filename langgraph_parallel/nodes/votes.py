"""Counting votes: normalisation, weights, abstentions, deterministic tie-breaks.

Everything here is a pure function of the voters' records, so a tally never depends on the
order in which voters finished.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel

from langgraph_parallel.state.records import (
    BranchResult,
    Vote,
    VoteCount,
    VoteOutcome,
    VoteStatus,
)

VoteMethod = Literal["majority", "weighted", "unanimity", "best_score"]
"""How votes are combined.

- `"majority"`: the answer given by the most voters wins (a plurality; `agreement` says
  how strong it is).
- `"weighted"`: like majority, but each voter counts with its weight from `weights`.
- `"unanimity"`: an answer wins only if every vote cast gives it; otherwise no winner.
- `"best_score"`: the answer with the highest `score` wins, whatever the others say.

A callable `(votes: list[Vote]) -> winner` may be given instead.
"""

Normalizer = Literal["case", "whitespace"] | Callable[[Any], Any]
"""How an answer is normalised before counting.

- `"case"`: string answers are case-folded (`"Yes"` and `"yes"` count together).
- `"whitespace"`: runs of whitespace in string answers become one space, ends are stripped.
- a callable: any function of the answer; returning `None` counts as an abstention.

Several may be given as a sequence; they apply in order.
"""

_NAMED: dict[str, Callable[[Any], Any]] = {
    "case": lambda a: a.casefold() if isinstance(a, str) else a,
    "whitespace": lambda a: " ".join(a.split()) if isinstance(a, str) else a,
}


def normalizer(spec: Normalizer | Sequence[Normalizer] | None) -> Callable[[Any], Any]:
    """Build one function from a normalisation spec.

    Raises:
        ValueError: An unknown named normaliser.
        TypeError: Something that is neither a name nor a callable.
    """
    if spec is None:
        return lambda answer: answer
    specs: Sequence[Normalizer] = [spec] if isinstance(spec, str) or callable(spec) else spec
    steps: list[Callable[[Any], Any]] = []
    for step in specs:
        if isinstance(step, str):
            if step not in _NAMED:
                raise ValueError(
                    f"unknown normalize={step!r}; use 'case', 'whitespace' or a function"
                )
            steps.append(_NAMED[step])
        elif callable(step):
            steps.append(step)
        else:
            raise TypeError(f"normalize must be 'case', 'whitespace' or a function, got {step!r}")

    def apply(answer: Any) -> Any:
        for fn in steps:
            if answer is None:
                break
            answer = fn(answer)
        return answer

    return apply


def freeze(value: Any) -> Hashable:
    """A hashable stand-in for an answer, equal for equal answers."""
    if isinstance(value, BaseModel):
        return ("model", type(value).__qualname__, freeze(value.model_dump()))
    if isinstance(value, Mapping):
        items = sorted(((repr(k), freeze(v)) for k, v in value.items()), key=lambda kv: kv[0])
        return ("mapping", tuple(items))
    if isinstance(value, list | tuple):
        return ("sequence", tuple(freeze(v) for v in value))
    if isinstance(value, set | frozenset):
        return ("set", frozenset(freeze(v) for v in value))
    if isinstance(value, Hashable):
        try:
            hash(value)
        except TypeError:  # e.g. a tuple holding a list
            return ("repr", repr(value))
        return value
    return ("repr", repr(value))


def default_score(answer: Any) -> float:
    """Read a score from an answer: `answer["score"]` or `answer.score`."""
    found = answer.get("score") if isinstance(answer, Mapping) else getattr(answer, "score", None)
    if isinstance(found, bool) or not isinstance(found, int | float):
        raise ValueError(
            f"best_score needs a numeric score, and {answer!r:.60} has none; have voters "
            "return {'answer': ..., 'score': <number>} or pass score=<function of the answer>"
        )
    return float(found)


def tally(
    records: Sequence[BranchResult],
    *,
    method: VoteMethod | Callable[[list[Vote]], Any] = "majority",
    weights: Mapping[str, float] | None = None,
    normalize: Normalizer | Sequence[Normalizer] | None = None,
    score: Callable[[Any], float] | None = None,
) -> VoteOutcome:
    """Count the votes in voters' records.

    A voter that returned `None` (or whose answer normalises to `None`) abstains. Failed,
    timed-out and cancelled voters are counted apart and do not vote. Ties break towards the
    answer whose first vote came from the voter with the lowest index, so the outcome never
    depends on which voter finished first.

    Args:
        records: One record per voter (`BranchResult`), in any order.
        method: A `VoteMethod` or a function of the list of votes returning the winner.
        weights: Voter name -> weight (default 1) for `method="weighted"`.
        normalize: How answers are normalised before counting; see `Normalizer`.
        score: For `"best_score"`: the score of an answer (default: its `score` field).

    Returns:
        The outcome: winner, agreement, counts and every vote.

    Example:
        ```python
        from langgraph_parallel.nodes import tally

        def vote(index, value):
            return {"branch": f"voter_{index + 1}", "index": index, "status": "ok",
                    "value": value, "error": None, "elapsed": 0.0, "attempts": 1, "usage": None}

        answers = ["Positive", "positive ", "negative", "positive", "positive"]
        outcome = tally([vote(i, a) for i, a in enumerate(answers)],
                        normalize=["case", "whitespace"])
        assert (outcome["winner"], outcome["agreement"]) == ("positive", 0.8)
        ```
    """
    norm = normalizer(normalize)
    scorer = score or default_score
    votes: list[Vote] = []
    for record in sorted(records, key=lambda r: r["index"]):
        answer = record["value"]
        normalized = norm(answer) if record["status"] == "ok" and answer is not None else None
        status: VoteStatus = record["status"]
        if status == "ok" and normalized is None:
            status = "abstained"
        votes.append(
            {
                "voter": record["branch"],
                "index": record["index"],
                "status": status,
                "answer": answer,
                "normalized": normalized,
                "weight": float((weights or {}).get(record["branch"], 1.0)),
                "score": scorer(answer) if status == "ok" and method == "best_score" else None,
                "error": record["error"],
            }
        )
    cast = [v for v in votes if v["status"] == "ok"]
    counts: dict[Hashable, VoteCount] = {}
    for v in cast:
        count = counts.setdefault(
            freeze(v["normalized"]), {"answer": v["normalized"], "votes": 0, "weight": 0.0}
        )
        count["votes"] += 1
        count["weight"] += v["weight"] if method == "weighted" else 1.0
    ranked = sorted(counts.values(), key=lambda c: -c["weight"])  # stable: first-vote order
    total = sum(c["weight"] for c in ranked)

    winner: Any = None
    tie = False
    if callable(method):
        winner = method(cast)
    elif method == "best_score":
        if cast:
            winner = max(cast, key=lambda v: (v["score"], -v["index"]))["normalized"]
            best = max(v["score"] or 0.0 for v in cast)
            tie = sum(1 for v in cast if v["score"] == best) > 1
    elif method == "unanimity":
        winner = ranked[0]["answer"] if len(ranked) == 1 else None
    elif ranked:
        winner = ranked[0]["answer"]
        tie = len(ranked) > 1 and ranked[1]["weight"] == ranked[0]["weight"]
    found = counts.get(freeze(winner)) if winner is not None else None
    return {
        "winner": winner,
        "method": method if isinstance(method, str) else getattr(method, "__name__", "custom"),
        "agreement": (found["weight"] / total) if found and total else 0.0,
        "support": found["votes"] if found else 0,
        "cast": len(cast),
        "abstained": sum(1 for v in votes if v["status"] == "abstained"),
        "failed": sum(1 for v in votes if v["status"] in ("error", "timeout")),
        "cancelled": sum(1 for v in votes if v["status"] == "cancelled"),
        "tie": tie,
        "counts": ranked,
        "votes": votes,
    }
