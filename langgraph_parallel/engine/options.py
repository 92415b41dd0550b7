"""The options of a run: their types, their checks, and `RunOptions`, their checked form.

The factories declare the options they share once (`graphs._options.ParallelOptions`) and
check them with these functions into a `RunOptions`: the only thing the nodes, the runner
and the run's scope read.
"""

from __future__ import annotations

import concurrent.futures
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Literal

from langgraph.types import RetryPolicy, TimeoutPolicy

from langgraph_parallel.engine.fleet import own_limit
from langgraph_parallel.engine.limits import AdaptiveLimit, ConcurrencyLimit
from langgraph_parallel.engine.scope import RunScope, new_scope_id, run_scope

RetryLike = RetryPolicy | Sequence[RetryPolicy]
TimeoutLike = float | timedelta | TimeoutPolicy

ExecutorLike = Literal["thread", "process"] | concurrent.futures.Executor
"""Where units run.

- `"thread"` (default): sync units on the package's thread pool (`sync_pool()`), good for
  blocking I/O; async units on the graph's event loop.
- `"process"`: a `ProcessPoolExecutor` shared by the whole process and reused across runs
  (one worker per CPU, `spawn` start method), for CPU-bound work the GIL would serialise.
- a `ThreadPoolExecutor`: takes the place of the package's thread pool for sync units.
- any other `concurrent.futures.Executor`: e.g. `RayExecutor(...)` from
  `langgraph_parallel.executors`, or Dask's `client.get_executor()`.

On anything but threads, each call crosses to another process: the unit (a sync or async
function, a closure or lambda, a Runnable) is pickled with cloudpickle once, when the graph
is built, and its input at each call; either failing is a clear error naming the unit (at
build, or recorded for that call). The unit may take a `config` (its metadata carries
`lgp_branch` and `lgp_index`, and plain-data `configurable` keys cross), not `writer`,
`store` or `runtime`. Model usage inside it comes back and counts in `usage` and
`token_budget`; its own exception is recorded, not the engine's; retries, timeouts and
deadlines behave as on threads (a timed-out call's future is cancelled: Ray stops the task,
a process pool cannot). Streaming from inside it (tokens, custom events) does not cross.
"""


def timeout_seconds(timeout: TimeoutLike | None, *, what: str) -> float | None:
    """Read a timeout given as seconds, a `timedelta` or a `TimeoutPolicy`."""
    if timeout is None:
        return None
    if isinstance(timeout, TimeoutPolicy):
        if timeout.idle_timeout is not None:
            raise ValueError(
                f"{what}: idle_timeout is not supported for branches; "
                "use TimeoutPolicy(run_timeout=...) or a number of seconds"
            )
        timeout = timeout.run_timeout
        if timeout is None:
            return None
    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
        raise ValueError(f"{what}: timeout must be a positive number of seconds, got {timeout!r}")
    return float(seconds)


def retry_policies(retry: RetryLike | None, *, what: str) -> tuple[RetryPolicy, ...]:
    """Normalise a `RetryPolicy` or a sequence of them; check the type."""
    if retry is None:
        return ()
    if isinstance(retry, RetryPolicy):
        return (retry,)
    given: tuple[Any, ...] = tuple(retry) if isinstance(retry, Sequence) else (retry,)
    for policy in given:
        if not isinstance(policy, RetryPolicy):
            raise TypeError(
                f"{what}: retry must be a langgraph.types.RetryPolicy or a sequence of them, "
                f"got {type(policy).__name__}"
            )
    return given


def _matches(policy: RetryPolicy, exc: Exception) -> bool:
    retry_on = policy.retry_on
    if isinstance(retry_on, type):
        return isinstance(exc, retry_on)
    if isinstance(retry_on, Sequence):
        return isinstance(exc, tuple(retry_on))
    return bool(retry_on(exc))


def retry_delay(policies: Sequence[RetryPolicy], exc: Exception, failures: int) -> float | None:
    """Seconds to wait before retrying, or `None` to give up (LangGraph's rules)."""
    policy = next((p for p in policies if _matches(p, exc)), None)
    if policy is None or failures >= policy.max_attempts:
        return None
    interval = min(
        policy.max_interval, policy.initial_interval * policy.backoff_factor ** (failures - 1)
    )
    return interval + random.uniform(0, 1) if policy.jitter else interval


OnError = Literal["collect", "fail_fast"]
"""What a graph does when a branch, work item or voter fails (after its retries).

- `"collect"`: the failure becomes a record in `results` (status, error type and message);
  the siblings keep running and the join node sees successes and failures.
- `"fail_fast"`: the first failure cancels the running siblings and the run raises it.
  With a checkpointer, siblings that had finished keep their results, and invoking the
  thread again with `None` re-runs only what failed or was cancelled.
"""


def check_positive(value: object, *, what: str, allow_none: bool = True) -> int | None:
    """Check an optional positive whole number; return it."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive whole number, got {value!r}")
    return value


def concurrency_cap(
    value: MaxConcurrency,
    *,
    what: str,
    auto: Callable[[], AdaptiveLimit] | None = None,
    name: str | None = None,
) -> int | ConcurrencyLimit | None:
    """Check a `max_concurrency`.

    `"auto"` becomes the limit `auto()` gives, by default an `AdaptiveLimit` of its own
    named `name` (else `what`: a factory's graph and units, a tool node), or the fleet's
    of that name when `LANGGRAPH_PARALLEL_LIMITS_URL` is set.
    """
    if value == "auto":
        return auto() if auto is not None else own_limit(name or what)
    if value is None or isinstance(value, ConcurrencyLimit):
        return value
    if isinstance(value, str):
        raise ValueError(
            f"{what}: max_concurrency={value!r} is not a choice; pass a number, 'auto' "
            "(find the provider's capacity from its 429s), or a limit object"
        )
    return check_positive(value, what=f"{what}: max_concurrency")


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


MaxConcurrency = int | Literal["auto"] | ConcurrencyLimit | None
"""Most units running at once: a number (one cap per run), `"auto"` (an `AdaptiveLimit`
that finds the provider's capacity from its 429s, one per graph), or a shared
`ConcurrencyLimit` or `AdaptiveLimit`."""


@dataclass(frozen=True, slots=True)
class RunOptions:
    """The checked options of a graph, read by its nodes, its runner and its runs' scopes.

    Made by the factories' `check_options`; the defaults are what a unit outside any factory gets
    (e.g. a join node, which runs once and fails fast).
    """

    timeout: float | None = None
    retry: tuple[RetryPolicy, ...] = ()
    fail_fast: bool = False
    min_successes: int | None = None
    max_concurrency: int | ConcurrencyLimit | None = None
    token_budget: int | None = None
    executor: ExecutorLike = "thread"
    deadline: float | None = None
    """Seconds the units of a run may take in all, from when they start."""

    def for_unit(
        self, *, timeout: TimeoutLike | None, retry: RetryLike | None, what: str
    ) -> RunOptions:
        """These options with one unit's own `timeout` and `retry` where it has them."""
        return replace(
            self,
            timeout=self.timeout if timeout is None else timeout_seconds(timeout, what=what),
            retry=self.retry if retry is None else retry_policies(retry, what=what),
        )

    def start_run(self) -> tuple[str, float | None]:
        """A new run's scope id, and when (`time.time()`) its deadline falls, if it has one.

        Its units carry both (in their `Send` payloads) to find the run's scope (`scope`).
        """
        due = None if self.deadline is None else time.time() + self.deadline
        return new_scope_id(), due

    def scope(self, scope_id: str, deadline: float | None = None) -> RunScope:
        """The scope of run `scope_id`, created on first use with these limits.

        Args:
            scope_id: The run's id, from `start_run`.
            deadline: The run's deadline, from `start_run`.
        """
        scope = run_scope(scope_id, self.max_concurrency, self.token_budget)
        if deadline is not None:
            scope.deadline = deadline
        return scope
