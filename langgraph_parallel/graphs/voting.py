"""Voting: the same task done by several voters at once, the votes counted into one outcome."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Unpack

from langgraph.graph import END

from langgraph_parallel.engine.bridge import make_node
from langgraph_parallel.engine.options import check_positive
from langgraph_parallel.engine.scope import RunScope, StopReason
from langgraph_parallel.engine.unit import Unit
from langgraph_parallel.graphs._graph import ParallelStateGraph, fixed_units
from langgraph_parallel.graphs._input import StateSpec, check_name, check_reserved
from langgraph_parallel.graphs._nodes import join_node, unit_node
from langgraph_parallel.graphs._options import ParallelOptions, check_options, takes_options
from langgraph_parallel.graphs._vote_watch import VoteWatch
from langgraph_parallel.nodes.votes import Normalizer, VoteMethod, normalizer, tally
from langgraph_parallel.state.records import BranchResult, Vote
from langgraph_parallel.state.schemas import ParallelState

VOTER = "voter"
TALLY = "tally"
_METHODS = ("majority", "weighted", "unanimity", "best_score")


def _voters(voters: Any, n: int | None, graph: str) -> tuple[list[str], dict[str, Any], list[str]]:
    """Voter labels in order, node name -> what it runs, and the node each label runs on.

    A single voter run `n` times is one node (`VOTER`) that every label runs on; a list or
    a mapping gives each voter a node of its own, whatever its names.
    """
    if isinstance(voters, Mapping):
        if n is not None:
            raise ValueError(
                f"{graph}: n is for a single voter run n times; drop n or pass one voter"
            )
        labels = [check_name(k, what=f"{graph}: voter name") for k in voters]
        return labels, dict(voters), labels
    if isinstance(voters, Sequence) and not isinstance(voters, str):
        if n is not None:
            raise ValueError(
                f"{graph}: n is for a single voter run n times; drop n or pass one voter"
            )
        labels = [f"voter_{i + 1}" for i in range(len(voters))]
        return labels, dict(zip(labels, voters, strict=True)), labels
    if voters is None:
        raise ValueError(
            f"{graph}: voters are required: a function with n=..., a list or a mapping"
        )
    count = check_positive(
        n, what=f"{graph}: n (how many times to run the voter)", allow_none=False
    )
    labels = [f"voter_{i + 1}" for i in range(count or 1)]
    return labels, {VOTER: voters}, [VOTER] * len(labels)


@takes_options
def create_voting_graph(
    voters: Any,
    *,
    n: int | None = None,
    method: VoteMethod | Callable[[list[Vote]], Any] = "majority",
    weights: Mapping[str, float] | Sequence[float] | None = None,
    normalize: Normalizer | Sequence[Normalizer] | None = None,
    score: Callable[[Any], float] | None = None,
    state_schema: type[Any] | None = None,
    early_stop: bool = False,
    score_threshold: float | None = None,
    **options: Unpack[ParallelOptions],
) -> ParallelStateGraph:
    """Build a voting graph: every voter does the same task at once, a tally picks the winner.

    Each voter receives the graph's input keys (a dict) and returns its answer, or `None` to
    abstain. The tally runs once, after every voter finished, and writes a `VoteOutcome` to
    `output`: the winner, every vote, the agreement (4 of 5 = 0.8) and the abstentions.
    Ties break towards the answer first given by the lowest-numbered voter, whatever the
    finish order. A voter can read its index from `config["metadata"]["lgp_index"]`, e.g. to
    seed a sample.

    Args:
        voters: One voter (run `n` times, as one node `voter`), a list of voters (nodes
            `voter_1`, `voter_2`, ...), or a mapping name -> voter. A voter is a function
            (sync or async), a Runnable or a compiled graph.
        n: How many times to run a single voter.
        method: `"majority"`, `"weighted"`, `"unanimity"`, `"best_score"`, or a function
            of the cast votes returning the winner; see `VoteMethod`.
        weights: For `"weighted"`: voter name -> weight, or one weight per voter in order.
        normalize: `"case"`, `"whitespace"`, a function, or a sequence of them, applied to
            each answer before counting; see `Normalizer`.
        score: For `"best_score"`: the score of an answer (default: its `score` field).
        state_schema: A `TypedDict` of the graph's input keys.
        early_stop: Stop the voters still running once the outcome cannot change: the
            leader cannot be caught (`"majority"`, `"weighted"`), unanimity is broken, or a
            vote reaches `score_threshold` (`"best_score"`). Stopped voters are recorded as
            `cancelled` (`VoteDecided`) and counted in the outcome's `cancelled`.
        score_threshold: For `"best_score"` with `early_stop`: the score that is good enough.
        **options: The options every factory takes (`ParallelOptions`), listed below.

    Returns:
        The uncompiled graph; compile it with your checkpointer, store and name.

    Raises:
        ValueError: No voters, a reserved or invalid name, weights that do not match the
            voters or the method, or an invalid option.
        TypeError: A voter that is not callable.

    Example:
        ```python
        from langgraph_parallel import create_voting_graph

        answers = ["Positive", "positive", "negative", "positive", " positive"]

        def classify(state, config):
            return answers[config["metadata"]["lgp_index"]]

        graph = create_voting_graph(classify, n=5, normalize=["case", "whitespace"]).compile()
        outcome = graph.invoke({"input": "I loved it"})["output"]
        assert (outcome["winner"], outcome["agreement"]) == ("positive", 0.8)
        ```
    """
    graph = "create_voting_graph"
    labels, nodes, runs_on = _voters(voters, n, graph)
    if not labels:
        raise ValueError(f"{graph}: voters cannot be empty; pass at least one voter")
    check_reserved(nodes, {TALLY: "the tally node"}, what=f"{graph}: voter name")
    run_options = check_options(options, graph=graph, units=len(labels), members=labels)
    if not (callable(method) or method in _METHODS):
        raise ValueError(
            f"{graph}: method must be one of {', '.join(map(repr, _METHODS))} or a function "
            f"of the votes, got {method!r}"
        )
    weight_map = _weights(weights, labels, method, graph)
    _check_early_stop(early_stop, method, score_threshold, graph)
    normalizer(normalize)  # check it now, not at the end of a run
    state = StateSpec(state_schema, ParallelState, graph=graph)
    clashes = [n for n in nodes if n in state.input_keys or n in state.package_keys]
    if clashes:
        raise ValueError(
            f"{graph}: voter name(s) {', '.join(map(repr, clashes))} are also state keys; "
            "rename them"
        )

    def count_votes(values: dict[str, Any]) -> Any:
        return tally(
            values["results"], method=method, weights=weight_map, normalize=normalize, score=score
        )

    plan = fixed_units(state, list(zip(runs_on, labels, strict=True)), run_options)
    builder = ParallelStateGraph(state, options=run_options, plan=plan)

    def watch(scope: RunScope, record: BranchResult) -> None:
        watcher = scope.attached(
            "vote",
            lambda: VoteWatch(
                labels,
                method=method,
                weights=weight_map,
                normalize=normalize,
                score=score,
                score_threshold=score_threshold,
            ),
        )
        reason = watcher.add(record)
        if reason is not None:
            waiting = [(label, i) for i, label in enumerate(labels) if label not in watcher.records]
            scope.stop(waiting, StopReason("VoteDecided", f"stopped: {reason}"))

    for name, voter in nodes.items():
        unit = Unit(voter, label=f"voter {name!r}", executor=run_options.executor)
        node = unit_node(unit, run_options, name=name, after=watch if early_stop else None)
        builder.add_node(name, node)
    builder.add_node(
        TALLY,
        make_node(
            join_node(Unit(count_votes, label=TALLY), labels, run_options.min_successes), name=TALLY
        ),
    )
    builder.start_units()
    for name in nodes:  # plain edges: see create_fanout_graph
        builder.add_edge(name, TALLY)
    builder.add_edge(TALLY, END)
    return builder


def _check_early_stop(
    early_stop: bool, method: Any, score_threshold: float | None, graph: str
) -> None:
    if score_threshold is not None and (method != "best_score" or not early_stop):
        raise ValueError(
            f"{graph}: score_threshold ends a method='best_score' vote early; "
            "use it with method='best_score' and early_stop=True"
        )
    if not early_stop:
        return
    if callable(method):
        raise ValueError(
            f"{graph}: early_stop needs a built-in method to know when the outcome is decided; "
            "a custom method function always waits for every voter"
        )
    if method == "best_score" and score_threshold is None:
        raise ValueError(
            f"{graph}: early_stop with method='best_score' needs "
            "score_threshold=<a good enough score>"
        )


def _weights(
    weights: Mapping[str, float] | Sequence[float] | None,
    labels: Sequence[str],
    method: Any,
    graph: str,
) -> dict[str, float] | None:
    if method == "weighted" and weights is None:
        raise ValueError(
            f"{graph}: method='weighted' needs weights, e.g. weights={{{labels[0]!r}: 2.0}}"
        )
    if weights is None:
        return None
    if method != "weighted":
        raise ValueError(
            f"{graph}: weights only apply to method='weighted'; set it, or drop weights"
        )
    if isinstance(weights, Mapping):
        unknown = [k for k in weights if k not in labels]
        if unknown:
            raise ValueError(
                f"{graph}: weights name unknown voter(s) {', '.join(map(repr, unknown))}; "
                f"voters are {', '.join(map(repr, labels))}"
            )
        table = {label: weights.get(label, 1.0) for label in labels}
    else:
        if len(weights) != len(labels):
            raise ValueError(
                f"{graph}: {len(weights)} weight(s) given for {len(labels)} voter(s); give one each"
            )
        table = dict(zip(labels, weights, strict=True))
    for label, weight in table.items():
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
            raise ValueError(f"{graph}: weight of {label!r} must be a number >= 0, got {weight!r}")
    return {k: float(v) for k, v in table.items()}


__all__ = ["create_voting_graph"]
