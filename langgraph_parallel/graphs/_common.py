"""Building blocks the three graph factories share."""

from __future__ import annotations

import difflib
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Annotated, Any, Literal, NotRequired, Required, get_args, get_origin

from langchain_core.runnables import RunnableConfig
from langgraph.cache.base import BaseCache
from langgraph.constants import CONFIG_KEY_CHECKPOINTER
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore
from langgraph.types import All, Checkpointer, Send
from pydantic import ConfigDict, TypeAdapter, ValidationError
from typing_extensions import TypedDict, get_type_hints, is_typeddict

from langgraph_parallel._engine import (
    NodeFunc,
    Policy,
    Unit,
    run_unit,
    stream_writer,
    unit_config,
    usage_total,
    with_usage_collector,
)
from langgraph_parallel._limits import ConcurrencyLimit
from langgraph_parallel._scope import RunLimits, RunScope, new_scope_id
from langgraph_parallel.errors import BranchFailuresError, InvalidInputError
from langgraph_parallel.state.records import BranchResult
from langgraph_parallel.state.schemas import DefaultInput

OnError = Literal["collect", "fail_fast"]
"""What a graph does when a branch, work item or voter fails (after its retries).

- `"collect"`: the failure becomes a record in `results` (status, error type and message);
  the siblings keep running and the join node sees successes and failures.
- `"fail_fast"`: the first failure cancels the running siblings and the run raises it.
  With a checkpointer, siblings that had finished keep their results, and invoking the
  thread again with `None` re-runs only what failed or was cancelled.
"""

_RESERVED_CHARS = ("|", ":")
_typeddict: Any = TypedDict  # built at run time from the caller's schema


def check_name(name: object, *, what: str) -> str:
    """Check a node name; return it."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"{what} must be a non-empty string, got {name!r}")
    if name in (START, END):
        raise ValueError(f"{what} {name!r} is reserved by LangGraph; choose another name")
    for char in _RESERVED_CHARS:
        if char in name:
            raise ValueError(
                f"{what} {name!r} contains {char!r}, which LangGraph reserves; choose another name"
            )
    return name


def check_positive(value: object, *, what: str, allow_none: bool = True) -> int | None:
    """Check an optional positive whole number; return it."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive whole number, got {value!r}")
    return value


def _strip_required(hint: Any) -> Any:
    while get_origin(hint) in (NotRequired, Required):
        hint = get_args(hint)[0]
    return hint


def _is_required(key: str, hint: Any, schema: type[Any]) -> bool:
    # With `from __future__ import annotations`, `__required_keys__` cannot see
    # `NotRequired[...]` in string annotations; the resolved hint can.
    if get_origin(hint) is NotRequired:
        return False
    return get_origin(hint) is Required or key in schema.__required_keys__


def has_reducer(hint: Any) -> bool:
    """Whether a state annotation carries a reducer (`Annotated[T, reducer]`)."""
    hint = _strip_required(hint)
    return get_origin(hint) is Annotated and callable(hint.__metadata__[-1])


class StateSpec:
    """The full state of a graph: the caller's keys plus the package's keys.

    Args:
        user_schema: The caller's `TypedDict`, or `None` for `DefaultInput`.
        package: The package's keys for this kind of graph (a `TypedDict`).
        outputs: Keys of `user_schema` the graph writes, each with what writes it (e.g.
            "branch 'a'"), for error messages; all other keys are inputs.
        graph: The factory's name, for error messages.
    """

    def __init__(
        self,
        user_schema: type[Any] | None,
        package: type[Any],
        *,
        outputs: Mapping[str, str] | None = None,
        graph: str,
    ) -> None:
        schema = DefaultInput if user_schema is None else user_schema
        if not (isinstance(schema, type) and is_typeddict(schema)):
            raise TypeError(
                f"{graph}: state_schema must be a TypedDict class, got {schema!r}; "
                "declare your input keys as `class MyState(TypedDict): ...`"
            )
        raw_hints = get_type_hints(schema, include_extras=True)
        self._hints = {k: _strip_required(h) for k, h in raw_hints.items()}
        package_hints = {
            k: _strip_required(h) for k, h in get_type_hints(package, include_extras=True).items()
        }
        for key, hint in self._hints.items():
            if key in package_hints and hint != package_hints[key]:
                raise ValueError(
                    f"{graph}: state key {key!r} is reserved by langgraph-parallel "
                    f"({package.__name__}); rename it in {schema.__name__}"
                )
        outputs = outputs or {}
        for key, writer in outputs.items():
            if key not in self._hints:
                close = difflib.get_close_matches(key, list(self._hints), n=1)
                hint = f"did you mean {close[0]!r}? If not, " if close else ""
                raise ValueError(
                    f"{graph}: {writer} has writes={key!r}, which names no key of "
                    f"{schema.__name__}; {hint}add `{key}: ...` to it "
                    f"(keys: {', '.join(self._hints) or 'none'})"
                )
        self.package_keys = frozenset(package_hints)
        self.input_keys = tuple(
            k for k in self._hints if k not in outputs and k not in package_hints
        )
        self._required = frozenset(
            k for k in self.input_keys if _is_required(k, raw_hints[k], schema)
        )
        self._adapters: dict[str, TypeAdapter[Any] | None] = {}
        self._adapters_lock = threading.Lock()
        name = schema.__name__
        self.state: type[Any] = _typeddict(name, {**self._hints, **package_hints}, total=False)
        self.input: type[Any] = (
            schema
            if len(self.input_keys) == len(self._hints)
            else _typeddict(
                f"{name}Input", {k: self._hints[k] for k in self.input_keys}, total=False
            )
        )
        self.schema_name = name

    def has_reducer(self, key: str) -> bool:
        """Whether the caller's key `key` has a reducer."""
        return has_reducer(self._hints[key])

    def _adapter(self, key: str) -> TypeAdapter[Any] | None:
        if key not in self._adapters:
            with self._adapters_lock:
                hint = self._hints[key]
                try:
                    adapter: TypeAdapter[Any] | None = (
                        None
                        if hint is Any or has_reducer(hint)
                        else TypeAdapter(hint, config=ConfigDict(strict=True))
                    )
                except Exception:  # a type pydantic cannot check: accept any value
                    adapter = None
                self._adapters[key] = adapter
        return self._adapters[key]

    def check_input(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """Check the input keys of `state`; return them.

        Raises:
            InvalidInputError: A required key is missing, or a key has the wrong type.
        """
        missing = sorted(k for k in self._required if k not in state)
        if missing:
            wanted = ", ".join(f"{k!r}: <{_type_name(self._hints[k])}>" for k in missing)
            raise InvalidInputError(
                f"input is missing key(s) {', '.join(map(repr, missing))} required by "
                f"{self.schema_name}; invoke the graph with {{{wanted}, ...}}"
            )
        for key in self.input_keys:
            if key in state and (adapter := self._adapter(key)) is not None:
                try:
                    adapter.validate_python(state[key])
                except ValidationError as exc:
                    raise InvalidInputError(
                        f"input key {key!r} should be {_type_name(self._hints[key])}, got "
                        f"{type(state[key]).__name__} {state[key]!r:.60}: "
                        f"{exc.errors()[0]['msg']}"
                    ) from None
        return {k: state[k] for k in self.input_keys if k in state}


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or repr(hint).replace("typing.", "")


def failure_mode(on_error: object, min_successes: object, *, units: int | None, graph: str) -> bool:
    """Check the failure options; return whether the graph fails fast."""
    if on_error not in ("collect", "fail_fast"):
        raise ValueError(f"{graph}: on_error must be 'collect' or 'fail_fast', got {on_error!r}")
    needed = check_positive(min_successes, what=f"{graph}: min_successes")
    if needed is not None:
        if on_error == "fail_fast":
            raise ValueError(
                f"{graph}: min_successes is an error budget for on_error='collect'; "
                "with 'fail_fast' any failure already ends the run. Drop one of them."
            )
        if units is not None and needed > units:
            raise ValueError(
                f"{graph}: min_successes={needed} can never be met by {units} branch(es); "
                f"lower it to at most {units}"
            )
    return on_error == "fail_fast"


def check_budget(records: Sequence[BranchResult], needed: int | None) -> None:
    """Raise `BranchFailuresError` when fewer than `needed` records succeeded."""
    if needed is None:
        return
    successes = sum(1 for r in records if r["status"] == "ok")
    if successes < needed:
        failures = [r for r in records if r["status"] != "ok"]
        raise BranchFailuresError(failures, successes=successes, needed=needed)


MaxConcurrency = int | ConcurrencyLimit | None


def run_limits(max_concurrency: object, token_budget: object, *, graph: str) -> RunLimits:
    """Check the `max_concurrency` and `token_budget` options; return them."""
    if not (max_concurrency is None or isinstance(max_concurrency, ConcurrencyLimit)):
        max_concurrency = check_positive(max_concurrency, what=f"{graph}: max_concurrency")
    budget = check_positive(token_budget, what=f"{graph}: token_budget")
    return RunLimits(max_concurrency, budget)


class ParallelStateGraph(StateGraph[Any, Any, Any, Any]):
    """A `StateGraph` whose compiled form does not throttle its parallel branches.

    Under `invoke`, LangGraph runs a step's tasks in a thread pool of `max_concurrency`
    threads (default `min(32, cpus + 4)`), which would queue branches on small machines.
    `compile()` sets a default `max_concurrency` large enough for every branch to start at
    once; a `max_concurrency` passed at invoke time still wins. Use the factory's own
    `max_concurrency` option to cap branches.
    """

    parallel_tasks: int = 1
    unit_sends: Callable[[dict[str, Any], Collection[int] | None], list[Send]] | None = None
    """Builds the `Send`s that start the graph's parallel units: all of them (`None`), or
    those with the given indexes (used by `retry_failed`)."""

    def compile(
        self,
        checkpointer: Checkpointer = None,
        *,
        cache: BaseCache[Any] | None = None,
        store: BaseStore | None = None,
        interrupt_before: All | list[str] | None = None,
        interrupt_after: All | list[str] | None = None,
        debug: bool = False,
        name: str | None = None,
        transformers: Sequence[Any] | None = None,
    ) -> CompiledStateGraph[Any, Any, Any, Any]:
        """Compile the graph; same arguments as `StateGraph.compile`."""
        compiled = super().compile(
            checkpointer,
            cache=cache,
            store=store,
            interrupt_before=interrupt_before,
            interrupt_after=interrupt_after,
            debug=debug,
            name=name,
            transformers=transformers,
        )
        return compiled.with_config(max_concurrency=max(32, self.parallel_tasks + 4))

    def start_units(
        self, state: StateSpec, units: Sequence[tuple[str, str]], *, deadline: float | None
    ) -> None:
        """Start every unit from START, each a `Send` to its node, and set `unit_sends`.

        Args:
            state: The graph's state, to check the input.
            units: `(node, label)` of each unit, by index; the label names its record.
            deadline: Seconds the units may take in all, or `None`.
        """

        def dispatch(values: dict[str, Any], only: Collection[int] | None = None) -> list[Send]:
            inputs, scope, due = state.check_input(values), new_scope_id(), deadline_at(deadline)
            return [
                Send(node, unit_payload(inputs, scope, label, index, due))
                for index, (node, label) in enumerate(units)
                if only is None or index in only
            ]

        def start(values: dict[str, Any], config: RunnableConfig) -> list[Send]:
            sends = dispatch(values)
            check_saveable(
                [(f"input key {k!r}", v) for k, v in values.items()], config, InvalidInputError
            )
            return sends

        self.unit_sends = dispatch
        self.add_conditional_edges(START, start, list(dict.fromkeys(node for node, _ in units)))


def check_saveable(
    values: Sequence[tuple[str, Any]], config: RunnableConfig | None, error: type[ValueError]
) -> None:
    """Raise `error`, naming the value, if the graph's checkpointer could not save one of them.

    Without a checkpointer anything goes. LangGraph itself would only fail when saving, deep
    in a run, with a bare `TypeError` that names neither the value nor the fix. The batch is
    serialised once; values are tried one by one only when that fails.
    """
    checkpointer = (config or {}).get("configurable", {}).get(CONFIG_KEY_CHECKPOINTER)
    serde = getattr(checkpointer, "serde", None)
    if serde is None:
        return
    try:
        serde.dumps_typed([value for _, value in values])
        return
    except Exception:
        pass
    for label, value in values:
        try:
            serde.dumps_typed(value)
        except Exception as exc:
            raise error(
                f"{label} ({type(value).__name__}) cannot be saved by the checkpointer "
                f"({type(exc).__name__}: {exc}); use plain data (dicts, lists, strings, "
                "numbers) or Pydantic models, or compile without a checkpointer"
            ) from None


def unit_payload(
    inputs: dict[str, Any], scope: str, branch: str, index: int, deadline: float | None
) -> dict[str, Any]:
    """The `Send` payload of one branch or voter."""
    return {"state": inputs, "scope": scope, "branch": branch, "index": index, "deadline": deadline}


def deadline_at(seconds: float | None) -> float | None:
    """The wall-clock time (`time.time()`) a deadline of `seconds` from now falls on."""
    return None if seconds is None else time.time() + seconds


def run_scope_for(payload: dict[str, Any], limits: RunLimits) -> RunScope:
    """The scope of the run a `Send` payload belongs to, with the run's deadline set."""
    scope = limits.scope(payload["scope"])
    if payload.get("deadline") is not None:
        scope.deadline = payload["deadline"]
    return scope


def unit_node(
    unit: Unit,
    policy: Policy,
    limits: RunLimits,
    *,
    writes: str | None = None,
    after: Callable[[RunScope, BranchResult], None] | None = None,
) -> NodeFunc:
    """The node that runs one branch or voter (named in its `unit_payload`) and records it.

    Args:
        unit: What to run, with the graph's input keys.
        policy: Its timeout, retries and failure mode.
        limits: What it shares with its siblings (cap, token budget).
        writes: A state key that also receives the value when the unit succeeds.
        after: Called with the run's scope and the record once the unit has finished,
            e.g. to stop siblings whose work can no longer matter.
    """

    async def run_branch(payload: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        branch, index = payload["branch"], payload["index"]
        scope = run_scope_for(payload, limits)
        record = await run_unit(
            unit,
            payload["state"],
            branch=branch,
            index=index,
            config=unit_config(with_usage_collector(config), branch, index),
            policy=policy,
            scope=scope,
            writer=stream_writer(),
        )
        if after is not None:
            after(scope, record)
        update: dict[str, Any] = {"results": [record]}
        if writes is not None and record["status"] == "ok":
            update[writes] = record["value"]
        return update

    return run_branch


def join_node(
    aggregator: Unit, names: Collection[str] | None, min_successes: int | None
) -> NodeFunc:
    """The node that checks the error budget, then calls the aggregator once.

    Args:
        aggregator: Called with the state; its return value becomes `output`.
        names: Only records of these branches count (records of branches removed from a
            graph may linger on an old thread); `None` counts all.
        min_successes: The error budget.
    """

    async def join(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        records = state.get("results") or []
        if names is not None:
            records = [r for r in records if r["branch"] in names]
        check_budget(records, min_successes)
        record = await run_unit(
            aggregator,
            {**state, "results": records},
            branch=aggregator.label,
            index=-1,
            config=with_usage_collector(config),
            policy=Policy(fail_fast=True),
        )
        return {"output": record["value"], "usage": usage_total([*records, record])}

    return join
