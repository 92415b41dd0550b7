"""The engine: how the graphs' units run, are limited, timed, recorded and bridged.

Internal. The graphs (`langgraph_parallel.graphs`) and the node library build on it; users
import its public names from `langgraph_parallel`, `.graphs`, `.nodes` and `.executors`.
One work item goes down through it in one direction:

- `unit`: what one unit runs (a function, Runnable or compiled graph) and where (threads,
  a process pool, a cluster through `remote` and `ray_executor`);
- `runner`: runs a unit or a chunk of them with the run's options (`options`): retries,
  timeouts, the run's deadline and stops, its concurrency limit and token budget (`scope`,
  `limits`, and `fleet` for an adaptive limit shared by processes through Redis), and
  records each outcome with its events and usage (`telemetry`, `redact`);
- `bridge`: LangGraph's nodes for it, and the event loop each sync call runs its async
  work on.
"""
