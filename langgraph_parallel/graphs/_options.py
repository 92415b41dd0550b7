"""The options every graph factory takes: declared once, checked once, shown in every signature.

`ParallelOptions` declares them (a `TypedDict`: a factory takes them as
`**options: Unpack[ParallelOptions]`, as LangGraph's own `**kwargs: Unpack[...]` do),
`check_options` turns them into the engine's `RunOptions`, and `takes_options` makes a
factory show each of them in `inspect.signature` and `help()` and name a misspelt one.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ParamSpec, TypedDict, TypeVar, get_type_hints

from langgraph_parallel.engine.options import (
    ExecutorLike,
    MaxConcurrency,
    OnError,
    RetryLike,
    RunOptions,
    TimeoutLike,
    check_positive,
    concurrency_cap,
    failure_mode,
    retry_policies,
    timeout_seconds,
)


class ParallelOptions(TypedDict, total=False):
    """The options every graph factory takes, as keyword arguments of the same names.

    All four factories (`create_fanout_graph`, `create_orchestrator_graph`,
    `create_voting_graph`, `create_guarded_graph`) take them, checked when the graph is
    built: a value out of range, or two options that contradict each other, is a
    `ValueError` with the fix in the message.

    Attributes:
        on_error: `"collect"` (default) or `"fail_fast"`; see `OnError`.
        min_successes: Error budget under `"collect"`: fewer successful units end the run
            with `BranchFailuresError`, naming the failed ones.
        timeout: Seconds (or a `timedelta`, or a `TimeoutPolicy` with `run_timeout`) for each
            attempt of a unit; a unit past it is recorded with status `"timeout"`. Sync units
            are timed out too (their thread is left to finish).
        retry: LangGraph `RetryPolicy` (or several, first match wins) for each unit; also the
            `retry_policy` of the graph's planner and join nodes.
        max_concurrency: Most units running at once: a number (per run); `"auto"`, an
            `AdaptiveLimit` that finds the provider's real capacity from its 429s (one per
            graph, kept across its runs; a unit rejected with 429 is tried again without
            counting against `retry`); or a shared `ConcurrencyLimit` or `AdaptiveLimit`
            (across runs and graphs, e.g. `adaptive_limit("openai")`).
        token_budget: Tokens a run may spend on model calls in its units; once used up, units
            not yet started are recorded as `cancelled` (`TokenBudgetExceeded`).
        executor: Where units run: `"thread"` (default), `"process"` for CPU-bound work,
            or any `concurrent.futures.Executor` (`RayExecutor`, Dask's
            `client.get_executor()`); see `ExecutorLike`.
        deadline: Seconds the units may take in all, counted from when they start. At the
            deadline, unfinished units are stopped and recorded as `"timeout"`
            (`DeadlineExceeded`), those that finished are kept, and the join runs once on them.
            (Sync units stop counting; their threads finish in the background.)

    Example:
        ```python
        from langgraph_parallel import create_fanout_graph
        from langgraph_parallel.graphs import ParallelOptions

        options: ParallelOptions = {"timeout": 2.0, "max_concurrency": 8}
        graph = create_fanout_graph(
            {"a": lambda s: 1, "b": lambda s: 2}, lambda s: len(s["results"]), **options
        )
        assert graph.options.timeout == 2.0 and graph.options.max_concurrency == 8
        ```
    """

    on_error: OnError
    min_successes: int | None
    timeout: TimeoutLike | None
    retry: RetryLike | None
    max_concurrency: MaxConcurrency
    token_budget: int | None
    executor: ExecutorLike
    deadline: TimeoutLike | None


_DEFAULTS: dict[str, Any] = {"on_error": "collect", "executor": "thread"}
"""The options whose default is not `None`."""


def option_names() -> tuple[str, ...]:
    """The names of the shared options, in the order `ParallelOptions` declares them."""
    return tuple(ParallelOptions.__annotations__)


def check_options(
    options: Mapping[str, Any], *, graph: str, units: int | None, members: Sequence[str]
) -> RunOptions:
    """Check the shared options a factory was given; the checked form its nodes use.

    Args:
        options: The options given, by name (absent ones take their defaults).
        graph: The factory's name, for error messages.
        units: How many units the graph has, if known when it is built.
        members: The names of its units (branches, voters, the worker): with the factory's
            name, the name of its `"auto"` limit, which a fleet shares by that name.

    Raises:
        ValueError: An option out of range or two options that contradict each other,
            with the fix in the message.
        TypeError: An option of the wrong type, or a name that is no option.
    """
    names = option_names()
    for key in options:
        if key not in names:
            raise TypeError(f"{graph}() got an unexpected keyword argument {key!r}")
    given = {**{name: _DEFAULTS.get(name) for name in names}, **options}
    fail_fast = failure_mode(given["on_error"], given["min_successes"], units=units, graph=graph)
    return RunOptions(
        timeout=timeout_seconds(given["timeout"], what=graph),
        retry=retry_policies(given["retry"], what=graph),
        fail_fast=fail_fast,
        min_successes=given["min_successes"],
        max_concurrency=concurrency_cap(
            given["max_concurrency"], what=graph, name=f"{graph}: {', '.join(members)}"
        ),
        token_budget=check_positive(given["token_budget"], what=f"{graph}: token_budget"),
        executor=given["executor"],  # checked where each unit is made
        deadline=timeout_seconds(given["deadline"], what=f"{graph}: deadline"),
    )


def _options_doc() -> str:
    """The `Attributes` section of `ParallelOptions`' docstring: one entry per option."""
    lines = inspect.cleandoc(ParallelOptions.__doc__ or "").splitlines()
    start = lines.index("Attributes:") + 1
    end = next((i for i in range(start, len(lines)) if lines[i] and lines[i][0] != " "), None)
    return "\n".join(lines[start:end]).rstrip()


P = ParamSpec("P")
R = TypeVar("R")


def takes_options(factory: Callable[P, R]) -> Callable[P, R]:
    """Show the shared options in a factory that takes `**options: Unpack[ParallelOptions]`.

    The factory's `inspect.signature` (and so `help()`) lists each option as a keyword
    argument with its default and type; its docstring gains an `Options` section (the
    entries of `ParallelOptions`); and a name that is neither one of its parameters nor an
    option is a `TypeError` that suggests the closest one, before the factory runs.
    """
    signature = inspect.signature(factory)
    own = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    hints = get_type_hints(ParallelOptions)
    shared = [
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            default=_DEFAULTS.get(name),
            annotation=hints[name],
        )
        for name in option_names()
    ]
    accepted = [p.name for p in (*own, *shared)]

    @functools.wraps(factory)
    def build(*args: P.args, **kwargs: P.kwargs) -> R:
        for key in kwargs:
            if key not in accepted:
                close = difflib.get_close_matches(key, accepted, n=1)
                hint = (
                    f"; did you mean {close[0]!r}?"
                    if close
                    else f"; it takes {', '.join(accepted)}"
                )
                raise TypeError(
                    f"{factory.__name__}() got an unexpected keyword argument {key!r}{hint}"
                )
        return factory(*args, **kwargs)

    build.__signature__ = signature.replace(parameters=[*own, *shared])  # type: ignore[attr-defined]
    doc = inspect.cleandoc(factory.__doc__ or "")
    options = _options_doc()  # its entries, indented as an Args section's
    build.__doc__ = f"{doc}\n\nOptions (shared by every factory, see `ParallelOptions`):\n{options}"
    return build


__all__ = ["ParallelOptions", "check_options", "option_names", "takes_options"]
