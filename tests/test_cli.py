"""The command line, the way a user calls it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from langgraph_parallel import cli
from langgraph_parallel.templates import TEMPLATES


def call(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_names_every_template(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = call(capsys, "list")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == list(TEMPLATES)


def test_graph_prints_the_mermaid_diagram(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = call(capsys, "graph", "code-review")
    assert code == 0 and "graph TD;" in out
    for node in ("security", "performance", "style", "documentation"):
        assert f"__start__ -.-> {node};" in out and f"{node} --> aggregator;" in out
    assert "aggregator --> __end__;" in out


def test_run_shows_the_result_timings_speedup_usage_and_the_simulated_note(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = call(capsys, "run", "code-review")
    assert code == 0
    assert out.startswith("code-review (sectioning)")
    assert "from 4 of 4 reviewers" in out
    for row in ("security", "performance", "style", "documentation"):
        assert re.search(rf"{row}\s+│ ok\s+│\s+\d+\.\d\ds │\s+0 │", out), row
    assert re.search(
        r"branches: \d+\.\d\ds of work done in \d+\.\d\ds, \d+\.\dx from running at once", out
    )
    assert re.search(r"tokens: [\d,]+ \([\d,]+ in, [\d,]+ out\)", out)
    assert "offline simulated model (marked [simulated])" in out


def test_json_is_one_machine_readable_document(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = call(capsys, "run", "classify-vote", "--json", "--input", '{"text": "great"}')
    assert code == 0 and err == ""
    doc = json.loads(out)
    assert doc["template"] == "classify-vote" and doc["input"] == {"text": "great"}
    assert doc["output"]["cast"] == 5
    assert [(b["branch"], b["status"]) for b in doc["branches"]] == [
        (f"voter_{i}", "ok") for i in range(1, 6)
    ]
    assert doc["simulated_model"] is True and doc["usage"]["total_tokens"] > 0
    assert doc["speedup"] > 1 and doc["branch_seconds"] >= doc["branch_span_seconds"] > 0


def test_a_failing_branch_shows_as_failed_with_its_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = call(capsys, "run", "morning-briefing", "--input", '{"city": "Atlantis"}')
    assert code == 0
    assert re.search(r"weather\s+│ error\s+│", out) and "LookupError" in out  # the column may wrap
    assert (
        "- weather: unavailable (error: the simulated weather service has no station in Atlantis)"
        in out
    )
    code, out, _ = call(
        capsys, "run", "morning-briefing", "--json", "--input", '{"city": "Atlantis"}'
    )
    weather = json.loads(out)["branches"][0]
    assert (weather["branch"], weather["status"]) == ("weather", "error")
    assert (
        weather["error"] == "LookupError: the simulated weather service has no station in Atlantis"
    )


def test_input_file_and_max_concurrency(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "input.json"
    path.write_text(json.dumps({"queries": ["a", "b", "c", "d"], "top_k": 2}))
    code, out, _ = call(
        capsys, "run", "multi-search", "--input-file", str(path), "--max-concurrency", "1", "--json"
    )
    doc = json.loads(out)
    assert code == 0 and len(doc["output"]) == 2 and len(doc["branches"]) == 4
    # one at a time: the branches' span is their summed work, not the longest one
    assert doc["branch_span_seconds"] >= 0.95 * doc["branch_seconds"]


def test_a_thread_is_kept_in_sqlite_and_can_be_resumed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "threads.sqlite"
    code, first, _ = call(
        capsys, "run", "multi-search", "--thread", "t1", "--db", str(db), "--json"
    )
    assert code == 0 and db.exists()
    code, again, _ = call(
        capsys, "run", "multi-search", "--thread", "t1", "--db", str(db), "--resume", "--json"
    )
    assert code == 0
    assert json.loads(again)["output"] == json.loads(first)["output"]
    code, _, err = call(
        capsys, "run", "multi-search", "--thread", "nope", "--db", str(db), "--resume"
    )
    assert code == 2 and "no thread 'nope'" in err


def test_retry_failed_reruns_only_the_failed_branches_of_a_thread(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from langgraph_parallel.templates import _simulated

    thread = ["--thread", "t1", "--db", str(tmp_path / "threads.sqlite"), "--json"]
    city = ["--input", '{"city": "Atlantis"}']
    code, out, _ = call(capsys, "run", "morning-briefing", *city, *thread)
    first = json.loads(out)
    assert code == 0 and [b["status"] for b in first["branches"]] == ["error", "ok", "ok"]
    monkeypatch.setattr(_simulated, "UNKNOWN_CITY", "Lemuria")  # the station is back
    code, out, _ = call(capsys, "run", "morning-briefing", "--retry-failed", *thread)
    again = json.loads(out)
    assert code == 0
    assert [(b["branch"], b["status"]) for b in again["branches"]] == [("weather", "ok")]
    assert "unavailable" in first["output"] and "unavailable" not in again["output"]
    assert "Atlantis harbour" in again["output"]  # the kept news branch is in the new briefing
    code, _, err = call(capsys, "run", "morning-briefing", "--retry-failed", *thread)
    assert code == 2 and "nothing failed in thread 't1'" in err


BAD_USE = [
    (
        ["run", "morning-brief"],
        "unknown template 'morning-brief'; did you mean 'morning-briefing'?",
    ),
    (["run", "code-review", "--input", "{not json"], "--input is not valid JSON"),
    (["run", "code-review", "--input", "[1, 2]"], "--input must be a JSON object, got list"),
    (["run", "code-review", "--input-file", "/no/such/file.json"], "--input-file: no such file"),
    (
        ["run", "code-review", "--input", '{"source": "x"}'],
        "unknown key(s) 'source'; it takes: code, language",
    ),
    (["run", "morning-briefing", "--input", "{}"], "missing key(s) 'city'"),
    (
        ["run", "morning-briefing", "--input", '{"city": 7}'],
        "input key 'city' should be str, got int 7",
    ),
    (["run", "code-review", "--model", "claude-3"], "--model: unknown model 'claude-3'"),
    (["run", "multi-search", "--model", "simulated"], "multi-search uses no model"),
    (
        ["run", "code-review", "--max-concurrency", "0"],
        "--max-concurrency: must be a whole number of at least 1, or 'auto'; got '0'",
    ),
    (["run", "code-review", "--max-concurrency", "two"], "or 'auto'; got 'two'"),
    (["run", "code-review", "--resume"], "--resume continues a thread"),
    (["run", "code-review", "--retry-failed"], "--retry-failed continues a thread"),
    (
        ["run", "code-review", "--thread", "t", "--resume", "--retry-failed"],
        "give one of them",
    ),
    (["run", "code-review", "--input", "{}", "--input-file", "x"], "not allowed with argument"),
    (["graph", "nope"], "unknown template 'nope'"),
    (["fly"], "invalid choice: 'fly'"),
    ([], "the following arguments are required: command"),
]


@pytest.mark.parametrize(
    ("argv", "message"), BAD_USE, ids=[" ".join(a) or "nothing" for a, _ in BAD_USE]
)
def test_bad_use_is_one_clear_line_and_exit_status_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = call(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("langgraph-parallel: error: ")
    assert message in err
    assert "Traceback" not in err


def test_a_run_that_fails_is_one_line_and_exit_status_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from langgraph_parallel import create_fanout_graph
    from langgraph_parallel.templates import Template

    def boom(state: Any) -> Any:
        raise RuntimeError("the only source is down")

    broken = create_fanout_graph({"only": boom}, lambda s: None, min_successes=1).compile()
    monkeypatch.setattr(Template, "build", lambda self, **options: broken)
    code, out, err = call(capsys, "run", "multi-search", "--input", '{"input": 1}')
    assert code == 1 and out == ""
    assert err.startswith(
        "langgraph-parallel: run failed: BranchFailuresError: only 0 branch(es) succeeded"
    )
    assert err.count("\n") == 1 and "Traceback" not in err


def test_the_live_view_shows_a_row_per_branch(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # makes rich treat the captured stderr as a terminal
    code, _, err = call(capsys, "run", "code-review")
    assert code == 0
    for name in ("security", "performance", "style", "documentation"):
        assert name in err
    assert "status" in err and "retries" in err


def test_progress_counts_retries_and_keeps_branch_order() -> None:
    progress = cli._Progress()
    for event in (
        {"event": "start", "branch": "b", "index": 1},
        {"event": "start", "branch": "a", "index": 0},
        {"event": "retry", "branch": "b", "index": 1, "attempt": 2},
        {"event": "retry", "branch": "b", "index": 1, "attempt": 3},
        {"event": "finish", "branch": "b", "index": 1, "status": "ok", "elapsed": 0.5},
        {
            "event": "error",
            "branch": "a",
            "index": 0,
            "status": "timeout",
            "elapsed": 1.0,
            "error": {"type": "NodeTimeoutError", "message": "too slow"},
        },
    ):
        progress.update((), {"kind": "branch", **event})
    rows = progress.ordered()
    assert [(label, r.status, r.retries, r.error) for label, r in rows] == [
        ("a", "timeout", 0, "NodeTimeoutError: too slow"),
        ("b", "ok", 2, ""),
    ]


def test_the_installed_command_and_python_dash_m_work() -> None:
    script = Path(sys.executable).parent / "langgraph-parallel"
    for command in ([str(script), "list"], [sys.executable, "-m", "langgraph_parallel", "list"]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "morning-briefing" in done.stdout


def test_max_concurrency_auto_shows_the_adaptive_limit(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from langgraph_parallel.testing import FakeOpenAIServer

    with FakeOpenAIServer(latency=0.2, capacity=2) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        argv = ["run", "code-review", "--model", "openai:fake", "--max-concurrency", "auto"]
        code, out, _ = call(capsys, *argv, "--json")
        doc = json.loads(out)
        assert code == 0 and all(b["status"] == "ok" for b in doc["branches"])
        assert server.peak_in_flight <= 2  # four reviewers, a provider that takes two
        limit = doc["adaptive_limit"]
        assert limit["rejections"] == server.counts.get(429, 0) and limit["limit"] >= 1
        code, out, _ = call(capsys, *argv)
        assert code == 0
        assert re.search(r"adaptive limit \d+: \d+ in flight, \d+ rejected \(429\)", out)
