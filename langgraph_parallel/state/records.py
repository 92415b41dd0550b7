"""Typed records that parallel branches leave in graph state.

Records are plain `TypedDict`s, so they serialise with every checkpointer, travel as JSON
through `langgraph dev`, and show as-is in LangGraph Studio.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired

from langchain_core.messages.ai import UsageMetadata
from typing_extensions import TypedDict

BranchStatus = Literal["ok", "error", "timeout", "cancelled"]
"""How a branch (or work item, or voter) ended.

- `"ok"`: it returned a value.
- `"error"`: it raised, after any retries.
- `"timeout"`: it ran past its timeout, after any retries.
- `"cancelled"`: it was stopped before it finished, e.g. a voter whose vote could no longer
  change the outcome.
"""


StopKind = Literal["Blocked", "DeadlineExceeded", "TokenBudgetExceeded", "VoteDecided"]
"""Why the package stopped a unit itself, as `BranchError.type` names it.

These are reasons, not exception classes (only `DeadlineExceeded` is also one, in
`langgraph_parallel.errors`):

- `"Blocked"`: the guardrail blocked the request, so the generation was stopped.
- `"DeadlineExceeded"`: the run's `deadline` passed (status `"timeout"`).
- `"TokenBudgetExceeded"`: the run had used its `token_budget` before the unit started.
- `"VoteDecided"`: the vote's outcome was settled without this voter (`early_stop`).
"""


class BranchError(TypedDict):
    """The error that ended a branch."""

    type: str
    """The exception's class name, e.g. `"RuntimeError"`; or, when the package stopped the
    unit itself (status `"cancelled"`, or `"timeout"` for the run's deadline), the reason:
    a `StopKind` such as `"TokenBudgetExceeded"`."""
    message: str
    """The exception's message, or what stopped the unit."""


class StructuredOutcome(TypedDict):
    """How a model's structured output was obtained (`BranchResult.structured_output`)."""

    method: Literal["native", "tools", "prompt"]
    """The way that worked: the provider's own structured output, a forced tool call, or
    the schema in the prompt."""
    calls: int
    """Model calls that way took: 1, or 2 when the first answer was sent back to correct."""


class BranchResult(TypedDict):
    """What one branch, work item or voter did. One record per unit of parallel work."""

    branch: str
    """The branch name (for work items, the worker node; for voters, the voter name)."""
    index: int
    """Position in the plan, the branch mapping or the voter list; records sort by it."""
    status: BranchStatus
    """How the branch ended."""
    value: Any
    """What it returned; `None` unless `status == "ok"`."""
    error: BranchError | None
    """Why it failed; `None` when `status == "ok"`."""
    elapsed: float
    """Wall-clock seconds from its first attempt's start (after any wait for a concurrency
    slot) to its end, retries included."""
    attempts: int
    """How many times it was called (1 plus its retries)."""
    usage: UsageMetadata | None
    """Tokens its model calls used, summed; `None` when it made none."""
    simulated: NotRequired[bool]
    """Present (and `True`) when the offline simulated model answered any of its calls."""
    structured_output: NotRequired[StructuredOutcome]
    """Present when it asked a model for structured output (`structured_output`): the way
    that worked last, and in how many calls."""
    hedged: NotRequired[bool]
    """Present (and `True`) when a `hedged` call inside it started a backup call."""
    rate_limited: NotRequired[int]
    """Present when, under an adaptive limit (`max_concurrency="auto"`), the provider
    rejected it with 429 that many times; each was tried again without counting in
    `attempts` or against `retry`."""


BranchEventKind = Literal["start", "retry", "finish", "error", "hedge"]
"""What happened to a unit of work: it started, started again after a failure, ended well
(`"finish"`), ended badly (`"error"`: failed, timed out or cancelled), or started a backup
call (`"hedge"`)."""


class LimitState(TypedDict):
    """An `AdaptiveLimit` at one moment, as progress events carry it (`"limit"`)."""

    limit: int
    """How many calls it allows at once now."""
    in_flight: int
    """How many hold a place now."""
    rejections: int
    """How many 429s it has been told of."""
    shared: NotRequired[bool]
    """A `SharedAdaptiveLimit`: whether the fleet's state is in use now (Redis reachable);
    then `limit`, `in_flight` and `rejections` are the whole fleet's."""
    processes: NotRequired[int]
    """A `SharedAdaptiveLimit`: how many processes held places at its last look."""


class BranchEvent(TypedDict):
    """A progress event, as the `"custom"` stream mode carries it.

    Every branch, work item and voter writes one when it starts and one when it ends
    (`"finish"` or `"error"`), plus one per retry and per hedged backup call. Filter on
    `kind == "branch"` to tell them from your own `get_stream_writer()` events. `at` and
    `elapsed` come from one clock, so `at - elapsed` is when the unit started.

    Example:
        ```python
        from langgraph_parallel import create_fanout_graph
        from langgraph_parallel.state import BranchEvent

        graph = create_fanout_graph({"a": lambda s: 1, "b": lambda s: 2}, lambda s: "done")
        graph = graph.compile()
        ends: list[BranchEvent] = [
            event
            for event in graph.stream({}, stream_mode="custom")
            if event.get("kind") == "branch" and event["event"] in ("finish", "error")
        ]
        assert sorted(e["branch"] for e in ends) == ["a", "b"]
        assert all(e["record"]["status"] == "ok" for e in ends)
        ```
    """

    kind: Literal["branch"]
    """Always `"branch"`: marks the package's events in the custom stream."""
    event: BranchEventKind
    """What happened."""
    branch: str
    """The branch, worker node or voter name (as in `BranchResult.branch`)."""
    index: int
    """Its index (as in `BranchResult.index`)."""
    at: float
    """When it happened, in seconds since the epoch (`time.time()`)."""
    attempt: NotRequired[int]
    """`start` and `retry`: which attempt is starting (1 for the first)."""
    status: NotRequired[BranchStatus]
    """`finish` and `error`: how it ended."""
    error: NotRequired[BranchError | None]
    """`finish` and `error`: why it failed, or `None`."""
    elapsed: NotRequired[float]
    """`finish` and `error`: seconds from its start to `at`, retries included."""
    attempts: NotRequired[int]
    """`finish` and `error`: how many times it was called."""
    record: NotRequired[BranchResult]
    """`finish` and `error`: its record, as it will appear in `state["results"]`."""
    limit: NotRequired[LimitState]
    """`finish` and `error` under `max_concurrency="auto"`: the adaptive limit's state."""


VoteStatus = Literal["ok", "abstained", "error", "timeout", "cancelled"]
"""How a voter ended: it voted (`"ok"`), abstained (returned `None`), or did not finish."""


class Vote(TypedDict):
    """One voter's vote, as counted."""

    voter: str
    """The voter's name."""
    index: int
    """The voter's position; ties break towards the lowest index."""
    status: VoteStatus
    """Whether the vote counted."""
    answer: Any
    """What the voter returned (after `key`, if one was given)."""
    normalized: Any
    """The answer after normalisation: what was counted."""
    weight: float
    """The voter's weight (1 unless `weights` says otherwise)."""
    score: float | None
    """The answer's score under `method="best_score"`, else `None`."""
    error: BranchError | None
    """Why the voter did not vote (`status` `"error"`, `"timeout"` or `"cancelled"`);
    `None` when it voted or abstained."""


class VoteCount(TypedDict):
    """How many votes one (normalised) answer received."""

    answer: Any
    """The normalised answer."""
    votes: int
    """How many voters gave it."""
    weight: float
    """The sum of their weights."""


class VoteOutcome(TypedDict):
    """The result of a vote."""

    winner: Any
    """The winning (normalised) answer, or `None` when there is none."""
    method: str
    """How the votes were combined."""
    agreement: float
    """The winner's share of the weight of the votes cast, from 0 to 1 (4 of 5 = 0.8)."""
    support: int
    """How many votes the winner received."""
    cast: int
    """How many voters voted (abstentions and failures excluded)."""
    abstained: int
    """How many voters abstained."""
    failed: int
    """How many voters failed or timed out."""
    cancelled: int
    """How many voters were stopped before they voted."""
    tie: bool
    """Whether the winner was chosen by the tie-break rule."""
    counts: list[VoteCount]
    """Every answer with its votes, most weight first, ties in first-vote order."""
    votes: list[Vote]
    """Every voter's vote, in voter order."""
