"""Classify by vote: n voters label the same text at once; the majority wins, with a confidence."""

from __future__ import annotations

import random
from typing import Any

from langchain_core.runnables import RunnableConfig
from typing_extensions import TypedDict

from langgraph_parallel import create_voting_graph
from langgraph_parallel.graphs import ParallelStateGraph
from langgraph_parallel.templates._simulated import pause

_POSITIVE = {"love", "loved", "great", "excellent", "good", "happy", "wonderful", "fast"}
_NEGATIVE = {"hate", "hated", "bad", "awful", "slow", "broken", "terrible", "poor"}


class ClassifyInput(TypedDict):
    """The text to label."""

    text: str


async def simulated_classifier(state: dict[str, Any], config: RunnableConfig) -> str:
    """A keyword classifier with per-voter noise, standing in for a sampled model."""
    voter = config["metadata"].get("lgp_index", 0)
    await pause(f"vote:{voter}:{state['text']}", 0.05, 0.2)
    words = {w.strip(".,!?").lower() for w in state["text"].split()}
    score = len(words & _POSITIVE) - len(words & _NEGATIVE)
    label = "positive" if score > 0 else "negative" if score < 0 else "neutral"
    if random.Random(f"{voter}:{state['text']}").random() < 0.2:  # a sampled model errs
        label = random.Random(voter).choice(["positive", "negative", "neutral"])
    return label.upper() if voter % 2 else label


def build(*, voters: int = 5) -> ParallelStateGraph:
    """The classification vote with `voters` simulated voters."""
    return create_voting_graph(
        simulated_classifier,
        n=voters,
        normalize=["case", "whitespace"],
        state_schema=ClassifyInput,
        timeout=5.0,
    )


graph = build().compile(name="classify-vote")
