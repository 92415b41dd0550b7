"""Sectioning: named branches run at once from START, an aggregator joins them once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Unpack

from langchain_core.runnables import Runnable
from langgraph.graph import END

from langgraph_parallel.engine.bridge import make_node
from langgraph_parallel.engine.options import ExecutorLike, RetryLike, TimeoutLike
from langgraph_parallel.engine.unit import Unit
from langgraph_parallel.graphs._graph import ParallelStateGraph, fixed_units
from langgraph_parallel.graphs._input import StateSpec, check_name, check_reserved
from langgraph_parallel.graphs._nodes import join_node, unit_node
from langgraph_parallel.graphs._options import ParallelOptions, check_options, takes_options
from langgraph_parallel.state.schemas import ParallelState

AGGREGATOR = "aggregator"


@dataclass(frozen=True)
class Branch:
    """A branch with its own options, for `create_fanout_graph(branches={name: Branch(...)})`.

    Options left as `None` take the graph's value.

    Attributes:
        run: The function (sync or async), Runnable or compiled graph; it receives the
            graph's input keys as a dict.
        timeout: Seconds (or a `TimeoutPolicy` with `run_timeout`) for each attempt.
        retry: LangGraph `RetryPolicy` (or several) for this branch.
        writes: A key of the graph's `state_schema` that receives this branch's value when
            it succeeds, through the key's reducer if it has one.
        executor: Where this branch runs, if not where the graph's `executor` says (see
            `ExecutorLike`): e.g. one heavy branch on a cluster, the model calls at home.
    """

    run: Any
    timeout: TimeoutLike | None = None
    retry: RetryLike | None = None
    writes: str | None = None
    executor: ExecutorLike | None = None


def _name_of(branch: Any, graph: str) -> str:
    thing = branch.run if isinstance(branch, Branch) else branch
    name = thing.get_name() if isinstance(thing, Runnable) else getattr(thing, "__name__", None)
    if not isinstance(name, str) or name == "<lambda>":
        raise ValueError(
            f"{graph}: cannot name branch {thing!r:.60}; pass a mapping of name -> branch"
        )
    return name


@takes_options
def create_fanout_graph(
    branches: Mapping[str, Any] | Sequence[Any],
    aggregator: Any,
    *,
    state_schema: type[Any] | None = None,
    **options: Unpack[ParallelOptions],
) -> ParallelStateGraph:
    """Build a sectioning graph: every branch starts from START, one aggregator joins them.

    Each branch receives the graph's input keys (a dict) and returns a value. Its outcome is
    recorded in `results` as a `BranchResult` (status, value or error, elapsed, attempts,
    usage). The aggregator runs **exactly once**, after every branch has finished, and its
    return value becomes `output`. Branches may be multi-node compiled subgraphs of any
    length: each runs as one task, so a slow branch never holds back a sibling's later nodes.

    Args:
        branches: Branch name -> function (sync or async), Runnable, compiled graph, or
            `Branch` for per-branch options. Names become node names. A list of named
            functions is named after them.
        aggregator: Function (sync or async) or Runnable called with the state, whose
            `results` holds one record per branch (successes and failures) in branch order.
        state_schema: A `TypedDict` of the graph's input keys (and any keys branches
            `write`); without one the input is a single `input` key.
        **options: The options every factory takes (`ParallelOptions`), listed below.

    Returns:
        The uncompiled graph; compile it with your checkpointer, store and name.

    Raises:
        ValueError: No branches, a missing aggregator, a reserved or invalid name, a key
            written by two branches without a reducer, or an invalid option.
        TypeError: A branch or aggregator that is not callable, or a bad `state_schema`.

    Example:
        ```python
        from langgraph_parallel import create_fanout_graph

        def weather(state):
            return f"sunny in {state['input']}"

        async def news(state):
            return ["markets up"]

        def brief(state):
            return {r["branch"]: r["value"] for r in state["results"]}

        graph = create_fanout_graph({"weather": weather, "news": news}, brief).compile()
        result = graph.invoke({"input": "Oslo"})
        assert result["output"] == {"weather": "sunny in Oslo", "news": ["markets up"]}
        ```
    """
    graph = "create_fanout_graph"
    if isinstance(branches, Mapping):
        named = list(branches.items())
    elif isinstance(branches, Sequence) and not isinstance(branches, str):
        named = [(_name_of(b, graph), b) for b in branches]
    else:
        raise TypeError(
            f"{graph}: branches must be a mapping of name -> callable (or a list of named "
            f"functions), got {type(branches).__name__}; e.g. "
            "{'weather': get_weather, 'news': get_news}"
        )
    return build_fanout(named, aggregator, state_schema, options, graph=graph)


def build_fanout(
    named: Sequence[tuple[str, Any]],
    aggregator: Any,
    state_schema: type[Any] | None,
    given: Mapping[str, Any],
    *,
    graph: str,
) -> ParallelStateGraph:
    """The fan-out graph of `(name, branch)` pairs; `graph` names the factory in errors."""
    if not named:
        raise ValueError(f"{graph}: branches cannot be empty; pass at least one branch")
    if aggregator is None:
        raise ValueError(
            f"{graph}: an aggregator is required to join the branches; pass a function of "
            "the state, or one from langgraph_parallel.nodes"
        )
    options = check_options(
        given, graph=graph, units=len(named), members=[name for name, _ in named]
    )
    specs: dict[str, Branch] = {}
    for name, spec in named:
        if check_name(name, what=f"{graph}: branch name") in specs:
            raise ValueError(
                f"{graph}: duplicate branch name {name!r}; pass a mapping to give each its own name"
            )
        specs[name] = spec if isinstance(spec, Branch) else Branch(spec)
    check_reserved(specs, {AGGREGATOR: "the join node"}, what=f"{graph}: branch name")
    writers: dict[str, list[str]] = {}
    for name, spec in specs.items():
        if spec.writes is not None:
            writers.setdefault(spec.writes, []).append(name)
    state = StateSpec(
        state_schema,
        ParallelState,
        outputs={key: f"branch {', '.join(map(repr, names))}" for key, names in writers.items()},
        graph=graph,
    )
    for key, names in writers.items():
        if len(names) > 1 and not state.has_reducer(key):
            raise ValueError(
                f"{graph}: branches {', '.join(map(repr, names))} all write {key!r}, which has "
                f"no reducer, so LangGraph would reject the parallel writes; annotate it, e.g. "
                f"`{key}: Annotated[list, operator.add]`, or give each branch its own key"
            )
    clashes = [n for n in specs if n in state.input_keys or n in state.package_keys or n in writers]
    if clashes:
        raise ValueError(
            f"{graph}: branch name(s) {', '.join(map(repr, clashes))} are also state keys; "
            "LangGraph needs node and state names to differ, so rename the branch"
        )
    aggregator_unit = Unit(aggregator, label=AGGREGATOR)

    plan = fixed_units(state, [(name, name) for name in specs], options)
    builder = ParallelStateGraph(state, options=options, plan=plan)
    for name, spec in specs.items():
        own = options.for_unit(
            timeout=spec.timeout, retry=spec.retry, what=f"{graph}: branch {name!r}"
        )
        where = options.executor if spec.executor is None else spec.executor
        unit = Unit(spec.run, label=f"branch {name!r}", executor=where)
        builder.add_node(name, unit_node(unit, own, name=name, writes=spec.writes))
    builder.add_node(
        AGGREGATOR,
        make_node(join_node(aggregator_unit, tuple(specs), options.min_successes), name=AGGREGATOR),
        retry_policy=list(options.retry) or None,
    )

    builder.start_units()
    # Plain edges, not a waiting edge: every branch is one task of the same step, so the
    # aggregator still runs once per step, and it also runs after a partial re-run
    # (retry_failed), which a waiting edge would wait on for ever.
    for name in specs:
        builder.add_edge(name, AGGREGATOR)
    builder.add_edge(AGGREGATOR, END)
    return builder


__all__ = ["Branch", "create_fanout_graph"]
