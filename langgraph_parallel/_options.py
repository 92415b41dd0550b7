"""The options every factory shares: their types, their checks, and what carries them."""

from __future__ import annotations

import concurrent.futures
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from langgraph.types import RetryPolicy, TimeoutPolicy

from langgraph_parallel._limits import ConcurrencyLimit
from langgraph_parallel._scope import RunLimits

RetryLike = RetryPolicy | Sequence[RetryPolicy]
TimeoutLike = float | timedelta | TimeoutPolicy

ExecutorLike = Literal["thread", "process"] | concurrent.futures.Executor
"""Where sync branches run.

- `"thread"` (default): the package's thread pool (`sync_pool()`), good for blocking I/O.
- `"process"`: a `ProcessPoolExecutor` shared by the whole process and reused across runs
  (one worker per CPU, `spawn` start method), for CPU-bound work the GIL would serialise.
  The branch must be a module-level function (it is pickled), and its input and result
  must pickle too; it gets no config, so no model calls or streaming from inside it.
- any `concurrent.futures.Executor`: used as given, e.g. a distributed engine's executor.
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


@dataclass(frozen=True, slots=True)
class Policy:
    """How a unit of work is run: its timeout, retries and failure mode."""

    timeout: float | None = None
    retry: tuple[RetryPolicy, ...] = ()
    fail_fast: bool = False


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


MaxConcurrency = int | ConcurrencyLimit | None


def run_limits(max_concurrency: object, token_budget: object, *, graph: str) -> RunLimits:
    """Check the `max_concurrency` and `token_budget` options; return them."""
    if not (max_concurrency is None or isinstance(max_concurrency, ConcurrencyLimit)):
        max_concurrency = check_positive(max_concurrency, what=f"{graph}: max_concurrency")
    budget = check_positive(token_budget, what=f"{graph}: token_budget")
    return RunLimits(max_concurrency, budget)
