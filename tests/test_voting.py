from __future__ import annotations

import asyncio
import random
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


def test_a_failed_voter_keeps_its_error_in_the_vote() -> None:
    class Unreachable(ConnectionError):
        pass

    async def voter(state: Any, config: RunnableConfig) -> Any:
        if config["metadata"]["lgp_index"] == 1:
            raise Unreachable("the provider is unreachable")
        return "yes"

    result = outcome(create_voting_graph(voter, n=3))
    assert [v["status"] for v in result["votes"]] == ["ok", "error", "ok"]
    assert result["votes"][1]["error"] == {
        "type": "Unreachable",
        "message": "the provider is unreachable",
    }
    assert result["votes"][0]["error"] is None and result["failed"] == 1


TIES = [
    # (answers by voter index, the documented winner: the tied answer voted first)
    (["cat", "dog", "dog", "cat"], "cat"),
    (["dog", "cat", "cat", "dog"], "dog"),
    (["bird", "cat", "dog", "dog", "cat"], "cat"),  # voter 0's answer is not in the tie
    ([None, "dog", "cat", "cat", "dog"], "dog"),  # voter 0 abstains
    (["a", "b", "c", "d"], "a"),
    (["x", "y", "z", "z", "y", "x"], "x"),
    (["p", "q", "q", "r", "p", "r"], "p"),
]


@pytest.mark.parametrize(("answers", "winner"), TIES)
@pytest.mark.parametrize("finish", ["first-voter-first", "last-voter-first"])
def test_ties_break_towards_the_lowest_voter_index_whatever_the_finish_order(
    answers: list[Any], winner: str, finish: str
) -> None:
    n = len(answers)
    delays = [0.02 * (i if finish == "first-voter-first" else n - 1 - i) for i in range(n)]
    result = outcome(create_voting_graph(fixed(answers, delays), n=n))
    assert result["winner"] == winner
    assert result["tie"] is True
    cast = [a for a in answers if a is not None]
    assert result["agreement"] == cast.count(winner) / len(cast)


def tie_winner(votes: list[tuple[int, Any, float]]) -> Any:
    """The documented rule, written out: of the answers with the most weight, the one whose
    first vote has the lowest voter index. `votes` holds (voter index, answer, weight)."""
    weight: dict[Any, float] = {}
    first: dict[Any, int] = {}
    for index, answer, w in votes:
        weight[answer] = weight.get(answer, 0.0) + w
        first[answer] = min(first.get(answer, index), index)
    top = max(weight.values())
    return min((a for a in weight if weight[a] == top), key=lambda a: first[a])


def tie_cases(method: str, wanted: int = 200) -> list[tuple[list[Any], dict[str, float]]]:
    """Seeded random votes, kept only if the top is tied: 2 to 4 answers among 4 to 9
    voters, some abstaining or failed; for "weighted", small integer weights."""
    rng = random.Random(f"ties-{method}")
    cases: list[tuple[list[Any], dict[str, float]]] = []
    while len(cases) < wanted:
        n = rng.randint(4, 9)
        options = ["red", "green", "blue", "gold"][: rng.randint(2, 4)]
        records = []
        for i in range(n):
            roll = rng.random()
            status, value = "ok", rng.choice(options)
            if roll < 0.1:
                value = None  # abstains
            elif roll < 0.2:
                status, value = "error", options[0]  # a failed voter's value does not count
            records.append(record(f"v{i}", i, value, status=status))
        weights = (
            {f"v{i}": float(rng.randint(1, 3)) for i in range(n)} if method == "weighted" else {}
        )
        cast = [
            (r["index"], r["value"], weights.get(r["branch"], 1.0))
            for r in records
            if r["status"] == "ok" and r["value"] is not None
        ]
        totals: dict[Any, float] = {}
        for _, answer, w in cast:
            totals[answer] = totals.get(answer, 0.0) + w
        ranked = sorted(totals.values(), reverse=True)
        if len(ranked) > 1 and ranked[0] == ranked[1]:
            cases.append((records, weights))
    return cases


@pytest.mark.parametrize("method", ["majority", "weighted"])
def test_tally_breaks_every_tie_towards_the_answer_voted_first(method: str) -> None:
    shuffle = random.Random(11).shuffle
    for records, weights in tie_cases(method):
        cast = [
            (r["index"], r["value"], weights.get(r["branch"], 1.0))
            for r in records
            if r["status"] == "ok" and r["value"] is not None
        ]
        expected = tie_winner(cast)
        arrived = list(records)
        shuffle(arrived)  # records come in finish order, not index order
        result = tally(arrived, method=method, weights=weights)  # type: ignore[arg-type]
        assert (result["winner"], result["tie"]) == (expected, True), records
        assert result == tally(records, method=method, weights=weights)  # type: ignore[arg-type]


def test_tally_breaks_every_best_score_tie_towards_the_lowest_voter_index() -> None:
    rng = random.Random("ties-best_score")
    checked = 0
    while checked < 200:
        n = rng.randint(2, 8)
        scores = [rng.choice([0.2, 0.5, 0.9]) for _ in range(n)]
        best = max(scores)
        if scores.count(best) < 2:
            continue
        records = [record(f"v{i}", i, {"voter": i, "score": s}) for i, s in enumerate(scores)]
        rng.shuffle(records)
        result = tally(records, method="best_score")
        assert result["winner"] == {"voter": scores.index(best), "score": best}, scores
        assert result["tie"] is True
        checked += 1


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


def test_a_voter_named_voter_is_one_voter_among_others() -> None:
    """The mode comes from the voters' shape, never from a name the user chose."""
    graph = create_voting_graph({"voter": lambda s: "from voter", "other": lambda s: "from other"})
    results = graph.compile().invoke({"input": "x"})["results"]
    assert [(r["branch"], r["value"]) for r in results] == [
        ("voter", "from voter"),
        ("other", "from other"),
    ]


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

    def voters(
        self,
        answers: list[Any],
        finished: list[int],
        latencies: tuple[float, ...] = LATENCIES,
        cancelled: list[int] | None = None,
    ) -> Any:
        async def voter(state: Any, config: RunnableConfig) -> Any:
            index = config["metadata"]["lgp_index"]
            try:
                await asyncio.sleep(latencies[index])
            except asyncio.CancelledError:
                if cancelled is not None:
                    cancelled.append(index)
                raise
            finished.append(index)
            return answers[index]

        return voter

    @pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
    def test_a_decided_majority_stops_the_remaining_voters(self, mode: str) -> None:
        finished: list[int] = []
        cancelled: list[int] = []
        # The slow voters would take 30 s: only being stopped ends them in time.
        voters = self.voters(["yes"] * 3 + ["no"] * 2, finished, (0.1, 0.1, 0.1, 30, 30), cancelled)
        graph = create_voting_graph(voters, n=5, early_stop=True).compile()

        async def run() -> tuple[dict[str, Any], list[int]]:
            state = await graph.ainvoke({"input": 1})
            return state, sorted(cancelled)  # before asyncio.run's clean-up cancels anything

        if mode == "invoke":
            state = graph.invoke({"input": 1})
            cancelled_by_the_run = sorted(cancelled)
        else:
            state, cancelled_by_the_run = asyncio.run(run())
        assert cancelled_by_the_run == [3, 4]  # stopped, not awaited nor left running
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
        """Voters 0 and 2 say "a", then voter 1 says "b" (it waits for them: the order is
        fixed, not left to timers on a loaded machine); the two still voting are stopped."""
        answers = ["a", "b", "a", "a", "a"]
        finished: list[int] = []
        agreed = asyncio.Event()

        async def voter(state: Any, config: RunnableConfig) -> str:
            index = config["metadata"]["lgp_index"]
            if index == 1:
                await agreed.wait()
            elif index >= 3:
                await asyncio.sleep(600)
            finished.append(index)
            if {0, 2} <= set(finished):
                agreed.set()
            return answers[index]

        outcome = asyncio.run(
            create_voting_graph(voter, n=5, method="unanimity", early_stop=True)
            .compile()
            .ainvoke({"input": 1})
        )["output"]
        assert outcome["winner"] is None and outcome["cancelled"] == 2
        assert sorted(finished) == [0, 1, 2]

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
        from langgraph_parallel.graphs._vote_watch import VoteWatch

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
