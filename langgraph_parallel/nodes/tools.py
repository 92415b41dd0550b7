"""Run every tool call of one AI message at once, each with a timeout, errors as messages."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, ToolMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool, StructuredTool
from langchain_core.tools import tool as as_tool

from langgraph_parallel.engine.bridge import make_node
from langgraph_parallel.engine.options import (
    MaxConcurrency,
    RunOptions,
    TimeoutLike,
    concurrency_cap,
    timeout_seconds,
)
from langgraph_parallel.engine.runner import run_units
from langgraph_parallel.engine.scope import new_scope_id
from langgraph_parallel.engine.telemetry import stream_writer
from langgraph_parallel.engine.unit import Unit
from langgraph_parallel.state.records import BranchResult


def _unit(tool: BaseTool) -> Unit:
    # A tool without its own async path would run on the event loop's default executor
    # (a handful of threads); calling its sync path puts it on the package's own pool.
    has_async = not isinstance(tool, StructuredTool) or tool.coroutine is not None
    if has_async:
        return Unit(tool, label=f"tool {tool.name!r}")

    def call_tool(call: dict[str, Any], config: RunnableConfig) -> Any:
        return tool.invoke(call, config)

    return Unit(call_tool, label=f"tool {tool.name!r}")


def _message(record: BranchResult, call: Mapping[str, Any]) -> ToolMessage:
    if record["status"] == "ok":
        value = record["value"]
        if isinstance(value, ToolMessage):
            return value
        return ToolMessage(content=str(value), tool_call_id=call["id"], name=call["name"])
    error = record["error"]
    detail = f"{error['type']}: {error['message']}" if error else record["status"]
    return ToolMessage(
        content=f"Error: {detail}. Fix the arguments or try another tool.",
        tool_call_id=call["id"],
        name=call["name"],
        status="error",
    )


def parallel_tool_node(
    tools: Sequence[BaseTool | Callable[..., Any]],
    *,
    timeout: TimeoutLike | None = None,
    max_concurrency: MaxConcurrency = None,
    messages_key: str = "messages",
    name: str = "tools",
) -> Runnable[Any, Any]:
    """Build a node that runs all tool calls of the last AI message at once.

    Compared with `langgraph.prebuilt.ToolNode`, which also runs the calls of one message
    concurrently: every call here has its own timeout; any exception (not only invalid
    arguments) comes back as a `ToolMessage` with `status="error"`, so one failing tool
    never loses the others' results; calls can share a concurrency cap, across nodes and
    runs with a `ConcurrencyLimit`; and sync tools run on the package's thread pool instead
    of the event loop's few default threads. Use `ToolNode` when you need its injected
    state/store arguments or `Command` returns from tools; use this one for many or slow
    tool calls.

    Args:
        tools: Tools, or plain functions (made into tools with their docstrings).
        timeout: Seconds per call; a call past it returns an error message.
        max_concurrency: Most calls at once: a number (per call of the node); `"auto"`, an
            `AdaptiveLimit` kept by the node that finds the capacity of what the tools call
            from their rate-limit (429) errors; or a shared `ConcurrencyLimit`.
        messages_key: The state key holding the messages (the input may also be a list of
            messages).
        name: The node's name.

    Returns:
        A node returning `{messages_key: [ToolMessage, ...]}`, in tool-call order.

    Example:
        ```python
        import asyncio
        from langchain_core.messages import AIMessage
        from langgraph_parallel.nodes import parallel_tool_node

        async def slow_search(query: str) -> str:
            \"\"\"Search the web.\"\"\"
            await asyncio.sleep(5)
            return "never"

        def add(a: int, b: int) -> int:
            \"\"\"Add two numbers.\"\"\"
            return a + b

        node = parallel_tool_node([slow_search, add], timeout=0.1)
        call = AIMessage("", tool_calls=[
            {"name": "slow_search", "args": {"query": "x"}, "id": "1"},
            {"name": "add", "args": {"a": 2, "b": 3}, "id": "2"}])
        first, second = node.invoke({"messages": [call]})["messages"]
        assert first.status == "error" and "timeout" in first.content
        assert second.content == "5"
        ```
    """
    registry = {t.name: t for t in (t if isinstance(t, BaseTool) else as_tool(t) for t in tools)}
    units = {tool_name: _unit(t) for tool_name, t in registry.items()}
    what = f"parallel_tool_node {name!r}"
    options = RunOptions(
        timeout=timeout_seconds(timeout, what=what),
        max_concurrency=concurrency_cap(max_concurrency, what=what),
    )

    async def run_tools(value: Any, config: RunnableConfig) -> dict[str, list[ToolMessage]]:
        messages: Sequence[AnyMessage] = (
            value[messages_key] if isinstance(value, Mapping) else value
        )
        last = messages[-1] if messages else None
        if not isinstance(last, AIMessage):
            raise ValueError(
                f"{name}: the last message must be an AIMessage with tool calls, "
                f"got {type(last).__name__}; route here only when the model called tools"
            )
        calls = [{**c, "type": "tool_call"} for c in last.tool_calls]
        unknown = sorted(units)
        results = [
            None
            if c["name"] in units
            else ToolMessage(
                content=f"Error: there is no tool {c['name']!r}; use one of: {', '.join(unknown)}.",
                tool_call_id=c["id"],
                name=c["name"],
                status="error",
            )
            for c in calls
        ]
        records = await run_units(
            [
                (units[c["name"]], c["name"], i, c)
                for i, c in enumerate(calls)
                if c["name"] in units
            ],
            config=config,
            options=options,
            scope=options.scope(new_scope_id()),
            writer=stream_writer(),
        )
        for record in records:
            results[record["index"]] = _message(record, calls[record["index"]])
        return {messages_key: [m for m in results if m is not None]}

    return make_node(run_tools, name=name)
