"""The machinery of a guarded generation.

A guardrail that stops its sibling when it blocks, a generation whose content is withheld
from the graph's state, and the gate that releases the content only if the guardrail
allowed it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig
from langgraph.constants import TAG_NOSTREAM

from langgraph_parallel.engine.bridge import make_node
from langgraph_parallel.engine.scope import RunScope, StopReason, find_scope
from langgraph_parallel.engine.telemetry import current_unit
from langgraph_parallel.engine.unit import Unit
from langgraph_parallel.nodes.guardrails import GuardedOutput, Verdict


def stops_on_block(guardrail: Any, generation: tuple[str, int]) -> Runnable[Any, Verdict]:
    """Wrap a guardrail so that blocking also stops the sibling generation unit, at once."""
    unit = Unit(guardrail, label="guardrail")

    async def guardrail_node(value: Any, config: RunnableConfig) -> Verdict:
        verdict: Verdict = await unit(value, config)
        if not verdict["allowed"] and (running := current_unit()) is not None:
            reason = verdict["reason"] or "blocked by the guardrail"
            running[0].stop([generation], StopReason("Blocked", f"stopped: {reason}"))
        return verdict

    return make_node(guardrail_node, name="guardrail")


_WITHHELD = "withheld"


def _withheld_store(scope: RunScope) -> dict[tuple[str, int], Any]:
    """The run's withheld contents, by generation unit."""
    return scope.attached(_WITHHELD, dict)


def withheld(generate: Any) -> Runnable[Any, Any]:
    """Wrap a generation so its content stays out of the graph's state.

    The content is kept in the run's in-memory scope; the branch's record holds only a
    reference, which `gate` redeems if the guardrail allows it. So the content is never in
    the graph's state, its streamed updates or its checkpoints until it is cleared. Model
    calls inside it are tagged `nostream`, so `stream_mode="messages"` does not stream their
    tokens either.
    """
    unit = Unit(generate, label="generate")

    async def generate_node(value: Any, config: RunnableConfig) -> Any:
        quiet: RunnableConfig = {**config, "tags": [*config.get("tags", ()), TAG_NOSTREAM]}
        content = await unit(value, quiet)
        running = current_unit()
        if running is None:  # not inside a graph run: nothing to hide it from
            return content
        scope, branch, index = running
        _withheld_store(scope)[branch, index] = content
        return {_WITHHELD: scope.id}

    return make_node(generate_node, name="generate")


def _redeem(record: Mapping[str, Any]) -> tuple[bool, Any]:
    """The withheld content of a generation record: (found, content)."""
    value = record["value"]
    if not (isinstance(value, Mapping) and set(value) == {_WITHHELD}):
        return True, value
    scope = find_scope(value[_WITHHELD])
    if scope is None:
        return False, None
    return True, _withheld_store(scope).pop((record["branch"], record["index"]), None)


def gate(
    generate: str = "generate", guardrail: str = "guardrail", *, blocked_message: Any = None
) -> Callable[[Mapping[str, Any]], GuardedOutput]:
    """The join of a guarded generation: the content only if the guardrail allowed it.

    It fails closed: a guardrail that errs or times out blocks the content. Withheld content
    (see `withheld`) is taken out of the run's scope here, and dropped when blocked.
    """

    def gate(state: Mapping[str, Any]) -> GuardedOutput:
        records = {r["branch"]: r for r in state.get("results") or ()}
        check, made = records.get(guardrail), records.get(generate)
        found, content = _redeem(made) if made and made["status"] == "ok" else (True, None)
        if check is None or check["status"] != "ok":
            why = check["error"]["message"] if check and check["error"] else "no verdict"
            return {
                "content": blocked_message,
                "blocked": True,
                "reason": f"guardrail failed ({why}); failing closed",
            }
        verdict: Verdict = check["value"]
        if not verdict["allowed"]:
            return {
                "content": blocked_message,
                "blocked": True,
                "reason": verdict["reason"] or "blocked by the guardrail",
            }
        if made is None or made["status"] != "ok":
            why = made["error"]["message"] if made and made["error"] else "no result"
            return {"content": None, "blocked": False, "reason": f"generation failed: {why}"}
        if not found:
            return {
                "content": None,
                "blocked": False,
                "reason": "the generated content was not kept across a restart; run again",
            }
        return {"content": content, "blocked": False, "reason": None}

    return gate
