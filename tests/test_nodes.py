"""The node library through the public API: LLM nodes, aggregators, guardrails, tools."""

from __future__ import annotations

import asyncio
import json
import operator
import threading
from typing import Annotated, Any

import pytest
from helpers import Gauge, record
from langchain_core.messages import AIMessage, AnyMessage, ToolMessage
from langchain_core.prompts import ChatPromptTemplate
from langgraph.graph import START, StateGraph
from langgraph.prebuilt import ToolNode
from pydantic import BaseModel
from typing_extensions import TypedDict

from langgraph_parallel import (
    ConcurrencyLimit,
    create_fanout_graph,
    create_guarded_graph,
    create_orchestrator_graph,
    create_voting_graph,
)
from langgraph_parallel.models import Latency, SimulatedChatModel
from langgraph_parallel.nodes import (
    best_score,
    concatenate,
    keyword_guardrail,
    llm_guardrail,
    llm_node,
    llm_synthesis,
    majority_vote,
    merge_dedupe,
    parallel_tool_node,
    weighted_vote,
)

FAST = SimulatedChatModel(latency=Latency.fixed(0.0))


def state_of(*values: Any, failed: dict[int, str] | None = None) -> dict[str, Any]:
    """A join's input: records for `values`, with some indexes failed."""
    failed = failed or {}
    records = []
    for i, v in enumerate(values):
        bad = i in failed
        error = {"type": "RuntimeError", "message": failed[i]} if bad else None
        status = "error" if bad else "ok"
        records.append(record(f"b{i}", i, None if bad else v, status=status, error=error))
    return {"results": records, "input": "question"}


class TestLLMNode:
    def test_answers_with_text_from_the_prompt_and_input(self) -> None:
        node = llm_node("You summarise {topic}.", FAST)
        answer = node.invoke({"topic": "tides", "depth": 2})
        assert isinstance(answer, str) and answer.startswith("[simulated]")

    def test_structured_output_and_output_key(self) -> None:
        class Label(BaseModel):
            label: str

        node = llm_node("Classify.", FAST, schema=Label, output_key="label")
        update = node.invoke("I love it")
        assert isinstance(update["label"], Label)

    def test_a_prompt_template_is_filled_from_the_input(self) -> None:
        template = ChatPromptTemplate.from_messages(
            [("system", "Be brief."), ("human", "Explain {topic}")]
        )
        assert llm_node(template, FAST).invoke({"topic": "gravity"}).startswith("[simulated]")

    def test_a_missing_prompt_variable_names_the_key_and_the_fix(self) -> None:
        with pytest.raises(
            KeyError, match=r"uses \{city\}, which the input does not have \(it has: topic\)"
        ):
            llm_node("Weather in {city}", FAST).invoke({"topic": "x"})

    def test_as_voters_the_samples_differ_and_usage_is_recorded(self) -> None:
        class Sentiment(BaseModel):
            label: str

        voter = llm_node(
            "Label the sentiment.",
            SimulatedChatModel(latency=Latency.fixed(0.01)),
            schema=Sentiment,
        )
        graph = create_voting_graph(voter, n=5, normalize=lambda s: s.label).compile()
        result = graph.invoke({"input": "The food was great"})
        assert result["output"]["cast"] == 5
        assert all(r["usage"]["total_tokens"] > 0 and r["simulated"] for r in result["results"])
        assert result["usage"]["total_tokens"] == sum(
            r["usage"]["total_tokens"] for r in result["results"]
        )

    def test_a_shared_limit_caps_model_calls_across_graphs(self) -> None:
        limit = ConcurrencyLimit(2)
        node = llm_node(
            "Answer.", SimulatedChatModel(latency=Latency.fixed(0.05)), max_concurrency=limit
        )

        async def both() -> None:
            g1 = create_fanout_graph({f"b{i}": node for i in range(4)}, concatenate()).compile()
            g2 = create_orchestrator_graph(lambda s: [1, 2, 3], node, concatenate()).compile()
            await asyncio.gather(g1.ainvoke({"input": "x"}), g2.ainvoke({"input": "y"}))

        asyncio.run(both())
        assert limit.peak == 2 and limit.active == 0


class TestAggregators:
    def test_concatenate_keeps_branch_order_and_marks_failures(self) -> None:
        state = state_of("one", "two", "three", failed={1: "boom"})
        assert concatenate(" | ")(state) == "one | [b1 #1 error: RuntimeError: boom] | three"
        assert concatenate(" | ", include_failures=False)(state) == "one | three"
        assert concatenate("\n", headings=True)(state_of("x")) == "## b0\nx"

    def test_majority_vote_has_a_confidence(self) -> None:
        vote = majority_vote(normalize="case")(state_of("Yes", "yes", "no", "YES", "yes"))
        assert (vote["winner"], vote["agreement"]) == ("yes", 0.8)

    def test_weighted_vote(self) -> None:
        vote = weighted_vote({"b2": 5.0})(state_of("a", "a", "b"))
        assert vote["winner"] == "b"

    def test_best_score_with_ties_going_to_the_lowest_index(self) -> None:
        values = [{"t": "x", "score": 3}, {"t": "y", "score": 7}, {"t": "z", "score": 7}]
        assert best_score()(state_of(*values))["t"] == "y"
        assert best_score(lambda v: -v["score"])(state_of(*values))["t"] == "x"
        assert best_score()(state_of(failed={0: "down"})) is None

    def test_merge_dedupe_keeps_the_best_copy_ranks_and_truncates(self) -> None:
        web = [{"url": "a", "score": 0.5}, {"url": "b", "score": 0.9}, {"url": "c", "score": 0.4}]
        news = [{"url": "a", "score": 0.7}, {"url": "d", "score": 0.4}]
        single = {"url": "e", "score": 0.6}
        merged = merge_dedupe()(state_of(web, news, single))
        assert [(i["url"], i["score"]) for i in merged] == [
            ("b", 0.9),
            ("a", 0.7),
            ("e", 0.6),
            ("c", 0.4),
            ("d", 0.4),
        ]
        assert [i["url"] for i in merge_dedupe(top_k=2)(state_of(web, news))] == ["b", "a"]
        unranked = merge_dedupe(score=None)(state_of(web, news))
        assert [i["url"] for i in unranked] == ["a", "b", "c", "d"]

    @pytest.mark.parametrize("slow_first", [True, False])
    def test_merge_dedupe_does_not_depend_on_which_branch_finishes_first(
        self, slow_first: bool
    ) -> None:
        def source(items: list[dict[str, Any]], delay: float) -> Any:
            async def search(state: Any) -> list[dict[str, Any]]:
                await asyncio.sleep(delay)
                return items

            return search

        a = [{"url": "x", "score": 1, "from": "a"}, {"url": "y", "score": 2, "from": "a"}]
        b = [{"url": "x", "score": 1, "from": "b"}, {"url": "z", "score": 2, "from": "b"}]
        delays = (0.05, 0.0) if slow_first else (0.0, 0.05)
        graph = create_fanout_graph(
            {"a": source(a, delays[0]), "b": source(b, delays[1])}, merge_dedupe()
        ).compile()
        merged = asyncio.run(graph.ainvoke({"input": None}))["output"]
        assert [(i["url"], i["from"]) for i in merged] == [("y", "a"), ("z", "b"), ("x", "a")]

    def test_llm_synthesis_sees_successes_and_failures(self) -> None:
        seen: list[str] = []

        class Spy(SimulatedChatModel):
            async def _agenerate(self, messages: Any, *args: Any, **kwargs: Any) -> Any:
                seen.append(str(messages[-1].content))
                return await super()._agenerate(messages, *args, **kwargs)

        synth = llm_synthesis(model=Spy(latency=Latency.fixed(0.0)))
        out = synth.invoke(state_of("facts about A", "facts about B", failed={1: "timeout"}))
        assert out.startswith("[simulated]")
        assert "facts about A" in seen[0] and "[b1 #1 error: RuntimeError: timeout]" in seen[0]


class TestGuardrails:
    SECRET = "SECRET-RECIPE-4711"

    def graph(self, delay: float = 0.3, guard: Any = None) -> Any:
        self.cancelled = False

        async def generate(state: Any) -> str:
            try:
                await asyncio.sleep(delay)
            except asyncio.CancelledError:
                self.cancelled = True
                raise
            return f"{self.SECRET}: {state['input']}"

        return create_guarded_graph(
            generate, guard or keyword_guardrail(["weapon"]), blocked_message="Sorry."
        ).compile()

    def test_flagged_content_is_never_returned_nor_streamed_and_the_reason_is_recorded(
        self,
    ) -> None:
        graph = self.graph(delay=0.05)
        parts = list(
            graph.stream(
                {"input": "a weapon"}, stream_mode=["updates", "values", "custom", "messages"]
            )
        )
        assert self.SECRET not in json.dumps(parts, default=str)
        final = graph.invoke({"input": "a weapon"})
        assert final["output"] == {
            "content": "Sorry.",
            "blocked": True,
            "reason": "mentions blocked term(s): weapon",
        }
        assert self.SECRET not in json.dumps(final, default=str)

    def test_a_models_tokens_are_not_streamed_before_the_check(self) -> None:
        async def slow_block(state: Any) -> dict[str, Any]:
            await asyncio.sleep(0.1)  # the model has finished by now
            return {"allowed": False, "reason": "no"}

        graph = create_guarded_graph(llm_node("Answer.", FAST), slow_block).compile()
        parts = list(graph.stream({"input": "hi"}, stream_mode="messages"))
        unguarded = create_fanout_graph(
            {"generate": llm_node("Answer.", FAST)}, concatenate()
        ).compile()
        assert list(unguarded.stream({"input": "hi"}, stream_mode="messages"))  # it would
        assert parts == []

    def test_blocking_stops_the_generation_early(self) -> None:
        graph = self.graph(delay=30.0)  # only a cancellation ends it in time

        async def main() -> tuple[dict[str, Any], bool]:
            output = (await graph.ainvoke({"input": "weapon plans"}))["output"]
            return output, self.cancelled  # before asyncio.run's clean-up cancels anything

        output, cancelled_by_the_run = asyncio.run(main())
        assert output["blocked"] is True
        assert cancelled_by_the_run  # stopped by the block, not left running or awaited

    def test_allowed_content_is_returned_and_both_ran_at_once(self) -> None:
        # Each side waits until the other has started: run one after the other, the first
        # would wait in vain and fail (TimeoutError), so the guardrail would block.
        generating, checking = asyncio.Event(), asyncio.Event()

        async def generate(state: Any) -> str:
            generating.set()
            await asyncio.wait_for(checking.wait(), 10)
            return f"{self.SECRET}: {state['input']}"

        async def guard(state: Any) -> dict[str, Any]:
            checking.set()
            await asyncio.wait_for(generating.wait(), 10)
            return {"allowed": True, "reason": None}

        graph = create_guarded_graph(generate, guard, blocked_message="Sorry.").compile()
        result = asyncio.run(graph.ainvoke({"input": "bread"}))
        assert result["output"] == {
            "content": f"{self.SECRET}: bread",
            "blocked": False,
            "reason": None,
        }

    def test_a_failing_guardrail_blocks(self) -> None:
        def broken(state: Any) -> Any:
            raise ConnectionError("moderation API down")

        result = self.graph(delay=0.01, guard=broken).invoke({"input": "bread"})
        assert result["output"]["blocked"] is True
        assert "moderation API down" in result["output"]["reason"]
        assert self.SECRET not in json.dumps(result, default=str)

    def test_an_llm_guardrail_returns_a_verdict(self) -> None:
        verdict = llm_guardrail("No medical advice.", FAST).invoke({"input": "hello"})
        assert set(verdict) == {"allowed", "reason"} and isinstance(verdict["allowed"], bool)


class ToolState(TypedDict):
    messages: Annotated[list[AnyMessage], operator.add]


def in_graph(node: Any) -> Any:
    builder = StateGraph(ToolState)
    builder.add_node("tools", node)
    builder.add_edge(START, "tools")
    return builder.compile()


class TestParallelToolNode:
    gauge = Gauge()

    @staticmethod
    def calls(*specs: tuple[str, dict[str, Any]]) -> AIMessage:
        return AIMessage(
            "", tool_calls=[{"name": n, "args": a, "id": f"c{i}"} for i, (n, a) in enumerate(specs)]
        )

    def test_same_results_as_tool_node_for_calls_that_succeed(self) -> None:
        def add(a: int, b: int) -> int:
            """Add."""
            return a + b

        async def echo(text: str) -> str:
            """Echo."""
            return text

        message = self.calls(
            ("add", {"a": 1, "b": 2}), ("echo", {"text": "hi"}), ("add", {"a": 5, "b": 5})
        )
        ours = asyncio.run(
            in_graph(parallel_tool_node([add, echo])).ainvoke({"messages": [message]})
        )
        theirs = asyncio.run(in_graph(ToolNode([add, echo])).ainvoke({"messages": [message]}))
        ours, theirs = ours["messages"][1:], theirs["messages"][1:]
        key = [(m.content, m.tool_call_id, m.name, m.status) for m in ours]
        assert key == [(m.content, m.tool_call_id, m.name, m.status) for m in theirs]
        assert key == [
            ("3", "c0", "add", "success"),
            ("hi", "c1", "echo", "success"),
            ("10", "c2", "add", "success"),
        ]

    def test_a_failing_tool_is_an_error_message_where_tool_node_raises(self) -> None:
        def boom(x: int) -> int:
            """Boom."""
            raise RuntimeError("tool broke")

        def ok(x: int) -> int:
            """Ok."""
            return x

        message = self.calls(("ok", {"x": 1}), ("boom", {"x": 1}), ("missing", {}))
        with pytest.raises(RuntimeError, match="tool broke"):
            in_graph(ToolNode([ok, boom])).invoke({"messages": [message]})
        first, second, third = in_graph(parallel_tool_node([ok, boom])).invoke(
            {"messages": [message]}
        )["messages"][1:]
        assert (first.content, first.status) == ("1", "success")
        assert second.status == "error" and "RuntimeError: tool broke" in second.content
        assert third.status == "error" and "no tool 'missing'" in third.content

    def test_calls_only_to_unknown_tools_get_error_messages_not_a_crash(self) -> None:
        def ok(x: int) -> int:
            """Ok."""
            return x

        message = self.calls(("missing", {}), ("also_missing", {"x": 1}))
        out = in_graph(parallel_tool_node([ok])).invoke({"messages": [message]})["messages"][1:]
        assert [(m.tool_call_id, m.status) for m in out] == [("c0", "error"), ("c1", "error")]
        assert "no tool 'missing'; use one of: ok" in out[0].content

    def test_calls_run_at_once_each_with_a_timeout(self) -> None:
        started: list[float] = []
        all_started = asyncio.Event()

        async def slow(seconds: float) -> str:
            """Wait until all six calls have started, then sleep."""
            started.append(seconds)
            if len(started) == 6:
                all_started.set()
            await all_started.wait()  # one at a time, the first call would time out here
            await asyncio.sleep(seconds)
            return "done"

        message = self.calls(*[("slow", {"seconds": 0.0})] * 5, ("slow", {"seconds": 30.0}))
        out = asyncio.run(parallel_tool_node([slow], timeout=1.0).ainvoke({"messages": [message]}))[
            "messages"
        ]
        assert len(started) == 6
        assert [m.status for m in out] == ["success"] * 5 + ["error"]
        assert "NodeTimeoutError" in out[-1].content

    def test_sync_tools_are_not_capped_by_the_default_executor_and_a_cap_holds(self) -> None:
        # A barrier, not a sleep: it lets calls through only when that many wait at once,
        # so fewer running at once fails (BrokenBarrierError) however slow the machine.
        gauge = Gauge()
        all_16 = threading.Barrier(16, timeout=10)

        def work(n: int) -> int:
            """Work."""
            with gauge.inside():
                all_16.wait()
            return n

        message = self.calls(*[("work", {"n": i}) for i in range(16)])
        out = asyncio.run(parallel_tool_node([work]).ainvoke({"messages": [message]}))
        assert [m.content for m in out["messages"]] == [str(i) for i in range(16)]
        assert gauge.peak == 16
        capped = Gauge()
        threes = threading.Barrier(3, timeout=10)

        def capped_work(n: int) -> int:
            """Work."""
            with capped.inside():
                threes.wait()
            return n

        message = self.calls(*[("capped_work", {"n": i}) for i in range(9)])
        out = parallel_tool_node([capped_work], max_concurrency=3).invoke({"messages": [message]})
        assert capped.peak == 3 and [m.content for m in out["messages"]] == [
            str(i) for i in range(9)
        ]

    def test_the_last_message_must_be_an_ai_message(self) -> None:
        with pytest.raises(ValueError, match="must be an AIMessage with tool calls"):
            parallel_tool_node([]).invoke({"messages": [ToolMessage("x", tool_call_id="1")]})


def test_blocked_content_is_not_saved_in_any_checkpoint() -> None:
    from langgraph.checkpoint.memory import InMemorySaver

    secret = "SECRET-PLAN-0042"
    saver = InMemorySaver()
    graph = create_guarded_graph(
        lambda s: f"{secret} for {s['input']}", keyword_guardrail(["weapon"])
    ).compile(checkpointer=saver)
    config = {"configurable": {"thread_id": "guarded"}}
    assert graph.invoke({"input": "weapon"}, config)["output"]["blocked"] is True
    stored = repr((dict(saver.storage), dict(saver.writes), dict(saver.blobs)))
    assert secret not in stored and "SECRET-PLAN" not in stored.replace("\\", "")
    assert secret not in repr(graph.get_state(config, subgraphs=True))


def test_a_restart_between_generation_and_check_loses_the_content_and_says_so(
    tmp_path: Any,
) -> None:
    import subprocess
    import sys
    import textwrap

    from langgraph.checkpoint.sqlite import SqliteSaver

    def graph(saver: Any) -> Any:
        return create_guarded_graph(
            lambda s: f"answer to {s['input']}", lambda s: {"allowed": True, "reason": None}
        ).compile(checkpointer=saver, interrupt_before=["aggregator"])

    db, config = str(tmp_path / "threads.sqlite"), {"configurable": {"thread_id": "t"}}
    first_process = textwrap.dedent(f"""
        from langgraph.checkpoint.sqlite import SqliteSaver
        from langgraph_parallel import create_guarded_graph
        with SqliteSaver.from_conn_string({db!r}) as saver:
            create_guarded_graph(
                lambda s: f"answer to {{s['input']}}",
                lambda s: {{"allowed": True, "reason": None}},
            ).compile(checkpointer=saver, interrupt_before=["aggregator"]).invoke(
                {{"input": "bread"}}, {config!r})
    """)
    subprocess.run([sys.executable, "-c", first_process], check=True, timeout=60)
    with SqliteSaver.from_conn_string(db) as saver:
        state = graph(saver).invoke(None, config)  # this process never saw the content
    assert state["output"] == {
        "content": None,
        "blocked": False,
        "reason": "the generated content was not kept across a restart; run again",
    }
    with SqliteSaver.from_conn_string(db) as saver:  # in one process, it is kept
        same = graph(saver)
        other = {"configurable": {"thread_id": "u"}}
        same.invoke({"input": "bread"}, other)
        assert same.invoke(None, other)["output"]["content"] == "answer to bread"
