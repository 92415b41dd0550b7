from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from helpers import record
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel

from langgraph_parallel import create_voting_graph
from langgraph_parallel.nodes import tally


def fixed(answers: list[Any], delays: list[float] | None = None) -> Any:
    """One voter run n times; voter i answers answers[i] after delays[i] seconds."""

    async def voter(state: Any, config: RunnableConfig) -> Any:
        index = config["metadata"]["lgp_index"]
        await asyncio.sleep((delays or [0.0] * len(answers))[index])
        return answers[index]

    return voter


def outcome(graph: Any, **input: Any) -> dict[str, Any]:
    return asyncio.run(graph.compile().ainvoke(input or {"input": "text"}))["output"]


def test_majority_records_winner_every_vote_and_agreement() -> None:
    answers = ["positive", "positive", "negative", "positive", "positive"]
    result = outcome(create_voting_graph(fixed(answers), n=5))
    assert result["winner"] == "positive"
    assert result["agreement"] == 0.8
    assert (result["support"], result["cast"]) == (4, 5)
    assert [v["answer"] for v in result["votes"]] == answers
    assert [v["voter"] for v in result["votes"]] == [f"voter_{i}" for i in range(1, 6)]
    assert result["counts"] == [
        {"answer": "positive", "votes": 4, "weight": 4.0},
        {"answer": "negative", "votes": 1, "weight": 1.0},
    ]
    assert result["tie"] is False


def test_a_voter_returning_none_abstains() -> None:
    result = outcome(create_voting_graph(fixed(["yes", None, "yes", "no"]), n=4))
    assert result["abstained"] == 1
    assert result["cast"] == 3
    assert result["winner"] == "yes"
    assert result["agreement"] == pytest.approx(2 / 3)
    assert result["votes"][1]["status"] == "abstained"


@pytest.mark.parametrize(
    "delays",
    [[0.0, 0.05, 0.0, 0.05], [0.05, 0.0, 0.05, 0.0]],
    ids=["first-voter-fast", "first-voter-slow"],
)
def test_ties_break_towards_the_lowest_voter_index_whatever_the_finish_order(
    delays: list[float],
) -> None:
    result = outcome(create_voting_graph(fixed(["cat", "dog", "dog", "cat"], delays), n=4))
    assert result["winner"] == "cat"
    assert result["tie"] is True
    assert result["agreement"] == 0.5


def test_answers_are_normalised_before_counting() -> None:
    answers = ["Positive", "positive ", "  POSITIVE", "negative", "neg"]
    graph = create_voting_graph(
        fixed(answers),
        n=5,
        normalize=["case", "whitespace", lambda a: {"neg": "negative"}.get(a, a)],
    )
    result = outcome(graph)
    assert result["winner"] == "positive"
    assert result["agreement"] == 0.6
    assert [v["normalized"] for v in result["votes"]] == ["positive"] * 3 + ["negative"] * 2


def test_weighted_votes_by_voter_name() -> None:
    voters = {"expert": lambda s: "B", "novice_1": lambda s: "A", "novice_2": lambda s: "A"}
    result = outcome(create_voting_graph(voters, method="weighted", weights={"expert": 3.0}))
    assert result["winner"] == "B"
    assert result["agreement"] == 0.6
    assert [v["weight"] for v in result["votes"]] == [3.0, 1.0, 1.0]


def test_unanimity_has_no_winner_when_any_vote_differs() -> None:
    assert (
        outcome(create_voting_graph(fixed(["a", "a", "a"]), n=3, method="unanimity"))["winner"]
        == "a"
    )
    broken = outcome(create_voting_graph(fixed(["a", "b", "a"]), n=3, method="unanimity"))
    assert broken["winner"] is None
    assert broken["cast"] == 3


def test_best_score_picks_the_highest_scored_answer() -> None:
    answers = [
        {"answer": "x", "score": 0.2},
        {"answer": "y", "score": 0.9},
        {"answer": "z", "score": 0.5},
    ]
    result = outcome(create_voting_graph(fixed(answers), n=3, method="best_score"))
    assert result["winner"] == {"answer": "y", "score": 0.9}
    assert [v["score"] for v in result["votes"]] == [0.2, 0.9, 0.5]


def test_custom_method_and_structured_answers() -> None:
    class Label(BaseModel):
        label: str

    voters = [
        lambda s: Label(label="spam"),
        lambda s: Label(label="ham"),
        lambda s: Label(label="spam"),
    ]

    def last_resort(votes: list[dict[str, Any]]) -> Any:
        return votes[-1]["normalized"]

    graph = create_voting_graph(voters, method=last_resort, normalize=lambda a: a.label)
    result = outcome(graph)
    assert result["winner"] == "spam"
    assert result["method"] == "last_resort"
    assert result["agreement"] == pytest.approx(2 / 3)


def test_unhashable_answers_are_counted_by_value() -> None:
    result = outcome(create_voting_graph(fixed([[1, 2], [1, 2], {"a": [1]}]), n=3))
    assert result["winner"] == [1, 2]
    assert result["support"] == 2


def test_tally_is_independent_of_record_order() -> None:
    records = [record(f"v{i}", i, a) for i, a in enumerate(["b", "a", "a", "b", "c"])]
    assert tally(records) == tally(list(reversed(records)))
    assert tally(records)["winner"] == "b"


class TestEarlyStop:
    LATENCIES = (0.1, 0.1, 0.1, 1.0, 1.0)

    def voters(self, answers: list[Any], finished: list[int]) -> Any:
        async def voter(state: Any, config: RunnableConfig) -> Any:
            index = config["metadata"]["lgp_index"]
            await asyncio.sleep(self.LATENCIES[index])
            finished.append(index)
            return answers[index]

        return voter

    @pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
    def test_a_decided_majority_stops_the_remaining_voters(self, mode: str) -> None:
        finished: list[int] = []
        graph = create_voting_graph(
            self.voters(["yes"] * 3 + ["no"] * 2, finished), n=5, early_stop=True
        ).compile()
        started = time.perf_counter()
        state = (
            graph.invoke({"input": 1})
            if mode == "invoke"
            else asyncio.run(graph.ainvoke({"input": 1}))
        )
        assert time.perf_counter() - started < 0.6  # the slow voters take 1 s
        outcome = state["output"]
        assert (outcome["winner"], outcome["cast"], outcome["cancelled"]) == ("yes", 3, 2)
        assert sorted(finished) == [0, 1, 2]
        stopped = state["results"][3]
        assert stopped["status"] == "cancelled" and stopped["error"]["type"] == "VoteDecided"
        assert "'yes' leads 3 to 0 with 2 still to vote" in stopped["error"]["message"]

    def test_without_early_stop_every_voter_finishes(self) -> None:
        finished: list[int] = []
        graph = create_voting_graph(self.voters(["yes"] * 3 + ["no"] * 2, finished), n=5).compile()
        outcome = asyncio.run(graph.ainvoke({"input": 1}))["output"]
        assert (outcome["cast"], outcome["cancelled"], sorted(finished)) == (5, 0, [0, 1, 2, 3, 4])

    def test_a_close_vote_is_not_stopped(self) -> None:
        finished: list[int] = []
        graph = create_voting_graph(
            self.voters(["yes", "yes", "no", "no", "yes"], finished), n=5, early_stop=True
        ).compile()
        outcome = asyncio.run(graph.ainvoke({"input": 1}))["output"]
        assert (outcome["winner"], outcome["cast"], outcome["cancelled"]) == ("yes", 5, 0)

    def test_broken_unanimity_stops_at_once(self) -> None:
        finished: list[int] = []
        voters = self.voters(["a", "b", "a", "a", "a"], finished)
        outcome = asyncio.run(
            create_voting_graph(voters, n=5, method="unanimity", early_stop=True)
            .compile()
            .ainvoke({"input": 1})
        )["output"]
        assert outcome["winner"] is None and outcome["cancelled"] == 2

    def test_a_good_enough_score_stops_best_score(self) -> None:
        finished: list[int] = []
        answers = [{"score": 0.2}, {"score": 0.95}, {"score": 0.5}, {"score": 0.99}, {"score": 0.1}]
        graph = create_voting_graph(
            self.voters(answers, finished),
            n=5,
            method="best_score",
            early_stop=True,
            score_threshold=0.9,
        )
        outcome = asyncio.run(graph.compile().ainvoke({"input": 1}))["output"]
        assert outcome["winner"] == {"score": 0.95} and outcome["cancelled"] == 2

    def test_weights_count_towards_what_is_still_to_vote(self) -> None:
        from langgraph_parallel.nodes.votes import VoteWatch

        watch = VoteWatch(
            ["a", "b", "c"], method="weighted", weights={"a": 1, "b": 1, "c": 5}, normalize=None
        )
        assert watch.add(record("a", 0, "x")) is None
        assert watch.add(record("b", 0, "x")) is None  # 2 to 0, but c alone weighs 5
        plain = VoteWatch(["a", "b", "c"], method="majority", weights=None, normalize=None)
        assert plain.add(record("a", 0, "x")) is None
        assert plain.add(record("b", 0, "x")) is not None  # 2 to 0 with 1 left

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"method": lambda votes: None, "early_stop": True}, "needs a built-in method"),
            ({"method": "best_score", "early_stop": True}, "needs score_threshold"),
            ({"score_threshold": 0.5}, "use it with method='best_score' and early_stop=True"),
        ],
    )
    def test_early_stop_misuse_is_refused(self, options: dict[str, Any], message: str) -> None:
        with pytest.raises(ValueError, match=message):
            create_voting_graph(lambda s: 1, n=3, **options)
