"""Aggregators: join the records of parallel branches into one output.

Each factory returns a function of the graph state, for the `aggregator` of
`create_fanout_graph` or the `synthesizer` of `create_orchestrator_graph`. They read
`state["results"]`, which is in branch (or plan) order, never in finish order.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableConfig

from langgraph_parallel.engine.bridge import make_node
from langgraph_parallel.models import ModelLike, resolve_model
from langgraph_parallel.nodes.text import render_input, variables
from langgraph_parallel.nodes.votes import Normalizer, freeze, tally
from langgraph_parallel.state.records import BranchResult, VoteOutcome

Field = str | Callable[[Any], Any]
"""A field name (read as `item[name]` or `item.name`) or a function of the item."""


def _getter(field: Field) -> Callable[[Any], Any]:
    if callable(field):
        return field

    def get(item: Any) -> Any:
        if isinstance(item, Mapping):
            return item[field]
        return getattr(item, field)

    return get


def _ok(state: Mapping[str, Any]) -> list[BranchResult]:
    return [r for r in state.get("results") or () if r["status"] == "ok"]


def _failure(record: BranchResult) -> str:
    error = record["error"]
    why = f"{error['type']}: {error['message']}" if error else record["status"]
    return f"[{record['branch']} #{record['index']} {record['status']}: {why}]"


def concatenate(
    separator: str = "\n\n", *, headings: bool = False, include_failures: bool = True
) -> Callable[[Mapping[str, Any]], str]:
    """Join every branch's value as text, in branch order.

    Args:
        separator: Between two values.
        headings: Start each value with its branch name (`## name`).
        include_failures: Put a marker where a branch failed, so no failure goes unnoticed.

    Example:
        ```python
        from langgraph_parallel import create_fanout_graph
        from langgraph_parallel.nodes import concatenate

        graph = create_fanout_graph({"a": lambda s: "one", "b": lambda s: "two"},
                                    concatenate(" | ")).compile()
        assert graph.invoke({"input": None})["output"] == "one | two"
        ```
    """

    def concatenate(state: Mapping[str, Any]) -> str:
        parts = []
        for record in state.get("results") or ():
            if record["status"] == "ok":
                text = str(record["value"])
            elif include_failures:
                text = _failure(record)
            else:
                continue
            parts.append(f"## {record['branch']}\n{text}" if headings else text)
        return separator.join(parts)

    return concatenate


def majority_vote(
    normalize: Normalizer | Sequence[Normalizer] | None = None,
) -> Callable[[Mapping[str, Any]], VoteOutcome]:
    """Count every branch's value as a vote; the most common wins, with its agreement.

    The outcome's `agreement` is the confidence (4 of 5 = 0.8). Ties break towards the
    lowest branch index; see `tally`.

    Example:
        ```python
        from langgraph_parallel import create_fanout_graph
        from langgraph_parallel.nodes import majority_vote

        graph = create_fanout_graph(
            {"a": lambda s: "Yes", "b": lambda s: "yes", "c": lambda s: "no"},
            majority_vote(normalize="case"),
        ).compile()
        vote = graph.invoke({"input": None})["output"]
        assert (vote["winner"], round(vote["agreement"], 2)) == ("yes", 0.67)
        ```
    """

    def majority_vote(state: Mapping[str, Any]) -> VoteOutcome:
        return tally(state.get("results") or [], normalize=normalize)

    return majority_vote


def weighted_vote(
    weights: Mapping[str, float], normalize: Normalizer | Sequence[Normalizer] | None = None
) -> Callable[[Mapping[str, Any]], VoteOutcome]:
    """Like `majority_vote`, but each branch counts with its weight (default 1).

    Args:
        weights: Branch name -> weight.
        normalize: How answers are normalised before counting.
    """
    table = dict(weights)

    def weighted_vote(state: Mapping[str, Any]) -> VoteOutcome:
        return tally(
            state.get("results") or [], method="weighted", weights=table, normalize=normalize
        )

    return weighted_vote


def best_score(score: Field = "score") -> Callable[[Mapping[str, Any]], Any]:
    """The value of the branch whose value scores highest; ties go to the lowest index.

    Args:
        score: The score field of each value, or a function of the value.

    Example:
        ```python
        from langgraph_parallel import create_fanout_graph
        from langgraph_parallel.nodes import best_score

        graph = create_fanout_graph(
            {
                "a": lambda s: {"text": "draft", "score": 6},
                "b": lambda s: {"text": "final", "score": 9},
            },
            best_score(),
        ).compile()
        assert graph.invoke({"input": None})["output"]["text"] == "final"
        ```
    """
    get = _getter(score)

    def best_score(state: Mapping[str, Any]) -> Any:
        scored = [(float(get(r["value"])), -r["index"], r["value"]) for r in _ok(state)]
        return max(scored, key=operator.itemgetter(0, 1))[2] if scored else None

    return best_score


def merge_dedupe(
    key: Field = "url", *, score: Field | None = "score", top_k: int | None = None
) -> Callable[[Mapping[str, Any]], list[Any]]:
    """Merge the items of every branch, one per key, ranked by score, the best `top_k` kept.

    Each branch's value is a list of items (or one item). An item seen in several branches
    keeps its highest-scored copy (on a tie, the one from the lowest branch index). Equal
    scores keep branch order.

    Args:
        key: The field that identifies an item, e.g. `"url"`.
        score: The field (or function) to rank by, highest first; `None` keeps branch order.
        top_k: How many items to keep; `None` keeps all.

    Example:
        ```python
        from langgraph_parallel import create_fanout_graph
        from langgraph_parallel.nodes import merge_dedupe

        web = lambda s: [{"url": "a", "score": 0.5}, {"url": "b", "score": 0.9}]
        news = lambda s: [{"url": "a", "score": 0.7}, {"url": "c", "score": 0.1}]
        graph = create_fanout_graph({"web": web, "news": news}, merge_dedupe(top_k=2)).compile()
        assert graph.invoke({"input": None})["output"] == [
            {"url": "b", "score": 0.9}, {"url": "a", "score": 0.7}]
        ```
    """
    get_key = _getter(key)
    get_score = _getter(score) if score is not None else None

    def merge_dedupe(state: Mapping[str, Any]) -> list[Any]:
        best: dict[Hashable, tuple[float, int, Any]] = {}
        order = 0
        for record in _ok(state):
            value = record["value"]
            for item in value if isinstance(value, list | tuple) else [value]:
                rank = float(get_score(item)) if get_score is not None else 0.0
                ident = freeze(get_key(item))
                if ident not in best or rank > best[ident][0]:
                    best[ident] = (rank, best[ident][1] if ident in best else order, item)
                order += 1
        ranked = sorted(best.values(), key=lambda entry: (-entry[0], entry[1]))
        items = [entry[2] for entry in ranked]
        return items if top_k is None else items[:top_k]

    return merge_dedupe


SYNTHESIS_PROMPT = (
    "You combine the results of several parallel workers into one coherent answer. "
    "Use every result that succeeded, resolve contradictions, do not invent facts, "
    "and say briefly what is missing where a worker failed."
)


def llm_synthesis(
    prompt: str = SYNTHESIS_PROMPT, model: ModelLike = None, *, name: str = "synthesis"
) -> Runnable[Any, Any]:
    """A model combines the branch results into one coherent answer.

    The model sees the input keys and every record in order: values of branches that
    succeeded, and which branches failed and why.

    Args:
        prompt: The system prompt.
        model: A chat model, a spec, or `None` for the default (see `resolve_model`).
        name: The node's name.

    Example:
        ```python
        from langgraph_parallel import create_orchestrator_graph
        from langgraph_parallel.models import Latency, SimulatedChatModel
        from langgraph_parallel.nodes import llm_synthesis

        model = SimulatedChatModel(latency=Latency.fixed(0.0))
        graph = create_orchestrator_graph(
            lambda s: ["intro", "body"], lambda item: f"text of {item}", llm_synthesis(model=model)
        ).compile()
        assert graph.invoke({"input": "essay"})["output"].startswith("[simulated]")
        ```
    """
    chat = resolve_model(model)

    async def synthesize(state: Mapping[str, Any], config: RunnableConfig) -> Any:
        sections = [
            f"## {r['branch']} #{r['index']}\n{r['value']}" if r["status"] == "ok" else _failure(r)
            for r in state.get("results") or ()
        ]
        task = render_input(variables(state))
        content = f"{task}\n\nResults:\n\n" + "\n\n".join(sections)
        answer = await chat.ainvoke([SystemMessage(prompt), HumanMessage(content)], config)
        return answer.content

    return make_node(synthesize, name=name)
