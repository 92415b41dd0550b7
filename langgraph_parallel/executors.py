"""Executors that run a graph's branches on a cluster: Ray here, Dask as it comes.

Any `concurrent.futures.Executor` can be a graph's `executor=` (or a `Branch`'s). The
package sends each unit to it through one seam (see `ExecutorLike`): the unit is pickled
with cloudpickle, so closures, lambdas and async functions run there too; it may take a
`config`, which carries its branch and index; its model usage comes back with its result;
its own exception is recorded, not the engine's wrapper. Timeouts, deadlines and
`fail_fast` cancel the call's future, which `RayExecutor` turns into `ray.cancel`.

- **Ray**: `RayExecutor(num_cpus=..., ...)`. Ray has no executor of its own.
- **Dask**: `client.get_executor()`, given as it is. Dask would run once the calls it
  thinks are the same (`pure=True`): the package submits each call with `pure=False`.

The cluster is always the user's: `ray.init(address=...)` (or `RAY_ADDRESS`) and
`distributed.Client("tcp://...")` decide where work goes; the package never starts one.

Example:
    ```python
    import ray

    from langgraph_parallel import create_orchestrator_graph
    from langgraph_parallel.executors import RayExecutor

    def parse(path: str) -> int:  # CPU-heavy work, one document per task
        return len(open(path).read().split())

    ray.init()  # a local cluster; ray.init(address="ray://head:10001") joins one
    graph = create_orchestrator_graph(
        lambda state: state["input"],  # the plan: one item per document
        parse,
        lambda state: sum(r["value"] for r in state["results"] if r["status"] == "ok"),
        executor=RayExecutor(num_cpus=1),
    ).compile()
    print(graph.invoke({"input": ["a.txt", "b.txt"]})["output"])
    ```
"""

from langgraph_parallel.engine.ray_executor import RayExecutor

__all__ = ["RayExecutor"]
