"""`RayExecutor`: each call a Ray task; cancelling its future cancels the task."""

from __future__ import annotations

import concurrent.futures
import inspect
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any


def _call_in_ray(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """The one Ray task: call `fn` (a coroutine function too, on the worker thread's loop)."""
    result = fn(*args, **kwargs)
    if inspect.iscoroutine(result):
        from langgraph_parallel.engine.bridge import run_sync

        return run_sync(result, what=getattr(fn, "__name__", "a Ray task"))
    return result


class _RayFuture(concurrent.futures.Future[Any]):
    """The future of one Ray task; `cancel()` cancels the task itself (`ray.cancel`)."""

    def __init__(self, ray: Any, ref: Any, force: bool) -> None:
        super().__init__()
        self._ray, self._ref, self._force = ray, ref, force
        ref.future().add_done_callback(self._arrived)

    def _arrived(self, inner: concurrent.futures.Future[Any]) -> None:
        try:
            if inner.cancelled():
                super().cancel()
                return
            exc = inner.exception()
            if exc is None:
                self.set_result(inner.result())
            else:  # a task that failed in Ray itself: the original error, if Ray kept it
                cause = getattr(exc, "cause", None)
                self.set_exception(cause if isinstance(cause, BaseException) else exc)
        except concurrent.futures.InvalidStateError:  # cancelled meanwhile
            pass

    def cancel(self) -> bool:
        """Cancel the Ray task (it is interrupted if it has started), then this future."""
        if self.done():
            return False
        self._ray.cancel(self._ref, force=self._force)
        return super().cancel()


class RayExecutor(concurrent.futures.Executor):
    """A `concurrent.futures.Executor` that runs each call as a Ray task.

    Ray's task options are given here and apply to every call. Cancelling a call's future
    (a timeout, the run's deadline, `fail_fast`) cancels its task: one not started never
    runs, and a running one is interrupted (`KeyboardInterrupt` in its thread), so it does
    not keep a CPU busy. Python delivers that between bytecodes: a task blocked in C (a
    `time.sleep`, a socket read) is interrupted only when the call returns, unless
    `force_cancel=True`, which kills its worker process (Ray starts another).

    Ray must be connected first, by the user: `ray.init()` starts a local cluster,
    `ray.init(address="ray://HOST:10001")` joins one, and with `RAY_ADDRESS` set the first
    call connects to that address. With neither, a call fails with that advice; the
    package never starts a cluster of its own.

    The functions sent must be importable on the workers, or defined in `__main__`
    (cloudpickle sends those by value): give Ray `runtime_env={"working_dir": "."}` or
    `{"py_modules": [...]}` for code that lives only on this machine.

    Args:
        num_cpus: CPUs each task reserves (Ray's default: 1).
        num_gpus: GPUs each task reserves.
        resources: Custom resources each task reserves, e.g. `{"tokenizer": 1}`.
        runtime_env: Ray's runtime environment for the tasks (`working_dir`, `pip`,
            `env_vars`, ...).
        max_retries: How often Ray re-runs a task whose worker died (Ray's default: 3).
            Errors the unit raises are not retried by Ray; the graph's `retry` does that.
        force_cancel: Cancel by killing the task's worker process (`ray.cancel(force=True)`).
        **options: Any other option of Ray's `.options()`, e.g. `scheduling_strategy`.

    Raises:
        ImportError: Ray is not installed; `pip install 'langgraph-parallel[ray]'`.
    """

    def __init__(
        self,
        *,
        num_cpus: float | None = None,
        num_gpus: float | None = None,
        resources: Mapping[str, float] | None = None,
        runtime_env: Mapping[str, Any] | None = None,
        max_retries: int | None = None,
        force_cancel: bool = False,
        **options: Any,
    ) -> None:
        try:
            import ray
        except ImportError:
            raise ImportError(
                "RayExecutor needs Ray: pip install 'langgraph-parallel[ray]'"
            ) from None
        self._ray, self.force_cancel = ray, force_cancel
        given = {
            "num_cpus": num_cpus,
            "num_gpus": num_gpus,
            "resources": None if resources is None else dict(resources),
            "runtime_env": None if runtime_env is None else dict(runtime_env),
            "max_retries": max_retries,
        }
        self.options: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        self.options.update(options)
        self._task: Any = None
        self._lock = threading.Lock()
        self._shutdown = False

    def _remote(self) -> Any:
        ray = self._ray
        if not ray.is_initialized():
            if not os.environ.get("RAY_ADDRESS"):
                raise RuntimeError(
                    "RayExecutor: Ray is not connected to a cluster; call ray.init() for a "
                    "local one, or ray.init(address='ray://HOST:10001') (or set RAY_ADDRESS) "
                    "for an existing one. The package never starts a cluster itself."
                )
            ray.init()  # connects to RAY_ADDRESS
        with self._lock:
            if self._task is None:
                task = ray.remote(_call_in_ray)
                self._task = task.options(**self.options) if self.options else task
            return self._task

    def submit(
        self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[Any]:
        """Run `fn(*args, **kwargs)` as a Ray task; its future."""
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        ref = self._remote().remote(fn, *args, **kwargs)
        return _RayFuture(self._ray, ref, self.force_cancel)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Refuse new calls; Ray itself, and the cluster, are left as they are."""
        self._shutdown = True

    def __repr__(self) -> str:
        given = {**self.options, **({"force_cancel": True} if self.force_cancel else {})}
        options = ", ".join(f"{k}={v!r}" for k, v in given.items())
        return f"RayExecutor({options})"


__all__ = ["RayExecutor"]
