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


@pytest.fixture(autouse=True)
def thread_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every run keeps a thread (so Ctrl-C can be resumed): in the test's own database."""
    db = tmp_path / "default-threads.sqlite"
    monkeypatch.setattr(cli, "DEFAULT_DB", db)
    return db


def call(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_names_every_template_with_its_inputs(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = call(capsys, "list")
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines if not line.startswith(" ")] == list(TEMPLATES)
    for name, template in TEMPLATES.items():
        start = lines.index(next(line for line in lines if line.startswith(name + " ")))
        block = []
        for line in lines[start + 1 :]:
            if not line.startswith(" "):
                break
            block.append(line)
        keys = {line.split()[0]: line for line in block}
        schema = template.build().get_input_jsonschema()
        assert list(keys) == list(schema["properties"]), name
        for key in schema.get("required", ()):
            assert "required" in keys[key], (name, key)
        for key, value in template.example.items():
            assert f"e.g. {json.dumps(value)}" in keys[key], (name, key)
    assert re.search(r"sections\s+int, 1 to 20\s+e\.g\. 4", out)
    assert re.search(r"queries\s+list\[str\], 1 to 50 items, each non-empty, required", out)


def test_run_template_help_shows_its_input_schema(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(["run", "report-writer", "--help"])
    out = capsys.readouterr().out
    assert stopped.value.code == 0
    assert "--max-concurrency" in out  # the command's own help comes first
    assert "input of report-writer" in out
    assert re.search(r"topic\s+str, 1 to 500 characters, required\. The report's subject\.", out)
    assert re.search(r"sections\s+int, 1 to 20\. How many sections \(default 4\)\. e\.g\. 4", out)
    assert "--input-file examples/report-writer.json" in out
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])  # no template named: the command's help only
    assert "input of" not in capsys.readouterr().out


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
    assert out.startswith("code-review: sectioning")
    assert "from 4 of 4 reviewers" in out
    for row in ("security", "performance", "style", "documentation"):
        assert re.search(rf"{row}\s+│ ok\s+│\s+\d+\.\d\ds │\s+0 │", out), row
    assert re.search(
        r"4 branches: \d+\.\d\ds of work done in \d+\.\d\ds, \d\.\dx from running them at once",
        out,
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
    assert doc["error"] is None


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


def test_a_thread_is_kept_in_sqlite_and_a_stopped_run_can_be_resumed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run whose join failed resumes at the join: the branches done are not run again."""
    from langgraph_parallel import create_fanout_graph
    from langgraph_parallel.templates import Template

    calls: list[str] = []
    join_works = False

    def branch(name: str) -> Any:
        def run(state: Any) -> str:
            calls.append(name)
            return name.upper()

        return run

    def join(state: Any) -> str:
        if not join_works:
            raise ConnectionError("the store is down")
        return "+".join(r["value"] for r in state["results"])

    graph = create_fanout_graph({n: branch(n) for n in ("a", "b")}, join).compile()
    monkeypatch.setattr(Template, "build", lambda self, **options: graph)
    db = tmp_path / "threads.sqlite"
    thread = ["--thread", "t1", "--db", str(db), "--json"]
    code, out, _ = call(capsys, "run", "multi-search", "--input", '{"input": 1}', *thread)
    assert code == 1 and db.exists() and json.loads(out)["error"].startswith("ConnectionError")
    join_works = True
    code, out, _ = call(capsys, "run", "multi-search", "--resume", *thread)
    doc = json.loads(out)
    assert code == 0 and doc["output"] == "A+B"
    assert sorted(calls) == ["a", "b"]  # each branch ran once, in the first run
    assert [(b["branch"], b["earlier_run"]) for b in doc["branches"]] == [
        ("a", True),
        ("b", True),
    ]
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
    assert [(b["branch"], b["status"], b["earlier_run"]) for b in again["branches"]] == [
        ("weather", "ok", False),
        ("news", "ok", True),
        ("calendar", "ok", True),
    ]
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
    (["run", "code-review", "--input", "[1, 2]"], "--input must be a JSON object, got an array"),
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


def test_a_run_that_fails_exits_1_and_still_shows_the_branches(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from langgraph_parallel import create_fanout_graph
    from langgraph_parallel.templates import Template

    def boom(state: Any) -> Any:
        raise RuntimeError("the only source is down")

    broken = create_fanout_graph({"only": boom}, lambda s: None, min_successes=1).compile()
    monkeypatch.setattr(Template, "build", lambda self, **options: broken)
    code, out, err = call(capsys, "run", "multi-search", "--input", '{"input": 1}')
    assert code == 1
    assert re.search(r"only\s+│ error\s+│", out) and "RuntimeError: the only source is down" in out
    assert err.startswith(
        "langgraph-parallel: run failed: BranchFailuresError: only 0 branch(es) succeeded"
    )
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_failed_join_exits_1_and_shows_the_branches_that_succeeded(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from langgraph_parallel import create_fanout_graph
    from langgraph_parallel.templates import Template

    def join(state: Any) -> Any:
        raise ValueError("the join cannot read the data")

    branches = {name: (lambda s, n=name: n) for name in ("prices", "news", "filings")}
    broken = create_fanout_graph(branches, join).compile()
    monkeypatch.setattr(Template, "build", lambda self, **options: broken)
    code, out, err = call(capsys, "run", "multi-search", "--input", '{"input": 1}')
    assert code == 1
    for name in branches:
        assert re.search(rf"{name}\s+│ ok\s+│", out), name
    assert err == "langgraph-parallel: run failed: ValueError: the join cannot read the data\n"
    code, out, _ = call(capsys, "run", "multi-search", "--input", '{"input": 1}', "--json")
    doc = json.loads(out)
    assert code == 1 and doc["error"] == "ValueError: the join cannot read the data"
    assert [b["status"] for b in doc["branches"]] == ["ok", "ok", "ok"]


def test_a_run_in_which_no_branch_succeeded_exits_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from langgraph_parallel import create_voting_graph
    from langgraph_parallel.templates import Template

    def voter(state: Any) -> Any:
        raise ConnectionError("the provider is unreachable")

    dead = create_voting_graph([voter] * 3).compile()
    monkeypatch.setattr(Template, "build", lambda self, **options: dead)
    given = ["--input", '{"input": "a review"}']
    code, out, err = call(capsys, "run", "classify-vote", *given)
    assert code == 1
    assert out.count("ConnectionError") == 3  # one row each (the message column may wrap)
    assert err == (
        "langgraph-parallel: run failed: no branch succeeded (3 of 3 failed); "
        "see the table for their errors\n"
    )
    code, out, _ = call(capsys, "run", "classify-vote", *given, "--json")
    assert code == 1
    assert json.loads(out)["error"].endswith("3 of 3 failed); see `branches` for their errors")


def test_speedup_is_measured_on_one_clock_and_never_exceeds_the_branches_that_ran(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The span and each branch's time come from the engine, so no branch outlasts the span."""
    for name in TEMPLATES:
        code, out, _ = call(capsys, "run", name, "--json")
        doc = json.loads(out)
        ran = [b for b in doc["branches"] if not b["earlier_run"]]
        assert code == 0 and len(ran) >= 2, name
        span = doc["branch_span_seconds"]
        assert all(b["elapsed"] <= span + 1e-4 for b in ran), (name, span, ran)  # 4 decimals
        assert doc["branch_seconds"] == pytest.approx(sum(b["elapsed"] for b in ran), abs=1e-3)
        if span:
            assert doc["speedup"] <= len(ran) + 0.01, name


def test_progress_times_come_from_the_events_not_from_when_they_arrive() -> None:
    progress = cli._Progress()
    for event in (
        {"event": "start", "branch": "a", "index": 0, "at": 100.0},
        {"event": "start", "branch": "b", "index": 1, "at": 100.0},
        {"event": "finish", "branch": "a", "index": 0, "status": "ok", "elapsed": 2.0, "at": 102.0},
        {"event": "finish", "branch": "b", "index": 1, "status": "ok", "elapsed": 1.0, "at": 101.0},
    ):
        progress.update((), {"kind": "branch", **event})
    assert progress.timing() == (3.0, 2.0)


def test_every_example_file_runs_and_the_readme_names_only_files_that_exist(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = Path(__file__).parent.parent
    files = sorted((root / "examples").glob("*.json"))
    assert [f.stem for f in files] == sorted(TEMPLATES)
    for path in files:  # each file is the template's built-in example, so both runs agree
        assert json.loads(path.read_text()) == TEMPLATES[path.stem].example, path.name
    for path in files:
        code, out, _ = call(capsys, "run", path.stem, "--input-file", str(path), "--json")
        doc = json.loads(out)
        assert code == 0 and doc["input"] == json.loads(path.read_text()), path.name
        assert all(b["status"] == "ok" for b in doc["branches"]), path.name
    named = re.findall(r"--input-file (\S+\.json)", (root / "README.md").read_text())
    assert named, "the README shows --input-file"
    for name in named:
        assert (root / name).is_file(), f"the README names {name}, which does not exist"


BOUNDS = [
    ('{"topic": "wind", "sections": 0}', "'sections' is 0, out of bounds: it should be greater"),
    ('{"topic": "wind", "sections": -3}', "greater than or equal to 1"),
    ('{"topic": "wind", "sections": 100000}', "less than or equal to 20"),
    ('{"topic": ""}', "'topic' is '', out of bounds: it should have at least 1 character"),
    ('{"topic": 5}', "'topic' should be str, got int 5: input should be a valid string"),
    ('{"sections": 3}', "missing key(s) 'topic'; e.g. --input '{\"topic\": "),
]


@pytest.mark.parametrize(("given", "message"), BOUNDS)
def test_template_inputs_are_checked_against_their_bounds(
    capsys: pytest.CaptureFixture[str], given: str, message: str
) -> None:
    code, out, err = call(capsys, "run", "report-writer", "--input", given)
    assert code == 2 and out == "" and message in err


def test_report_writer_writes_as_many_sections_as_asked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for count in (1, 5):
        given = json.dumps({"topic": "Tidal power", "sections": count})
        code, out, _ = call(capsys, "run", "report-writer", "--input", given, "--json")
        assert code == 0 and len(json.loads(out)["branches"]) == count


def test_list_outputs_are_shown_as_a_table_not_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = call(capsys, "run", "multi-search")
    assert code == 0
    header = out.splitlines()[1]
    assert re.match(r"\s*\w+\s+┃", header) and "url" in header and "score" in header
    assert '"url":' not in out and "[\n" not in out


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


def test_numbers_are_not_coloured_in_pieces(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    code, out, err = call(capsys, "run", "classify-vote")
    assert code == 0 and "\x1b[" in out  # colour is on: the status column is green
    for text in (out, err):
        assert not re.search(r"\d(\x1b\[[0-9;]*m)+[.,]\d|\d[.,](\x1b\[[0-9;]*m)+\d", text)
    assert re.search(r"\d+\.\d\ds", out)


def test_a_finished_thread_has_nothing_to_resume_and_refuses_a_new_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A new input on a used thread would mix with the earlier run's keys and records."""
    thread = ["--thread", "t1", "--db", str(tmp_path / "threads.sqlite")]
    code, _, _ = call(capsys, "run", "morning-briefing", *thread)
    assert code == 0
    code, out, err = call(capsys, "run", "morning-briefing", *thread, "--resume")
    assert code == 2 and out == ""
    assert "thread 't1' has finished, so there is nothing to resume" in err
    code, out, err = call(
        capsys, "run", "morning-briefing", *thread, "--input", '{"city": "Bergen"}'
    )
    assert code == 2 and out == ""
    assert "thread 't1' already holds a run; continue it with --resume or --retry-failed" in err
    code, _, err = call(capsys, "run", "multi-search", *thread, "--resume")
    assert code == 2 and "thread 't1' holds a run of morning-briefing, not multi-search" in err


def test_a_partly_failed_run_says_how_to_rerun_only_the_failures(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    city = ["--input", '{"city": "Atlantis"}']
    code, out, _ = call(capsys, "run", "morning-briefing", *city)
    assert code == 0
    command = out.split("re-run only those with: ")[1].strip()
    assert re.fullmatch(
        r"langgraph-parallel run morning-briefing --thread morning-briefing-\S+ --retry-failed",
        command,
    ), out
    code, out, _ = call(capsys, *command.split()[1:])  # the command, as printed, works
    assert code == 0 and "weather" in out
    db = str(tmp_path / "threads.sqlite")
    code, out, _ = call(capsys, "run", "morning-briefing", *city, "--thread", "t9", "--db", db)
    assert code == 0
    assert (
        f"with: langgraph-parallel run morning-briefing --thread t9 --db {db} --retry-failed" in out
    )


def test_the_header_names_the_model_and_its_endpoint(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from langgraph_parallel.testing import FakeOpenAIServer

    with FakeOpenAIServer(latency=0.0) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        code, out, _ = call(capsys, "run", "guarded-generation", "--model", "openai:local-7b")
        assert code == 0
        assert out.splitlines()[:2] == [
            "guarded-generation: sectioning (guardrail)",
            f"model: openai local-7b at {server.base_url}",
        ]
        code, out, _ = call(capsys, "run", "guarded-generation", "--json")
        assert json.loads(out)["model"] == f"openai gpt-4o-mini at {server.base_url}"
    code, out, _ = call(capsys, "run", "guarded-generation", "--model", "simulated")
    assert out.splitlines()[1].startswith("model: simulated (offline")
    from langchain_anthropic import ChatAnthropic

    other = ChatAnthropic(model="claude-x", base_url="http://127.0.0.1:9/", api_key="k")
    assert cli._model_text(other) == "ChatAnthropic claude-x at http://127.0.0.1:9/"


def test_errors_show_in_full_and_piped_output_is_never_folded(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = call(capsys, "run", "morning-briefing", "--input", '{"city": "Atlantis"}')
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith("weather"))
    assert "LookupError: the simulated weather service has no station in Atlantis" in row
    code, out, _ = call(capsys, "run", "multi-search")
    urls = re.findall(r"https://\S+", out)
    assert urls and all(re.fullmatch(r"https://example\.\w+/[\w/]+", u) for u in urls), urls
    assert all(len(line) > 80 for line in out.splitlines() if "https://" in line)


def test_the_live_view_shows_waiting_branches_and_the_graphs_own_steps() -> None:
    from rich.console import Console

    progress = cli._Progress(["worker"])
    progress.waiting([("worker", i) for i in range(3)])
    progress.task({"id": "1", "name": "planner", "input": {}, "triggers": []})
    progress.task({"id": "2", "name": "worker", "input": {}, "triggers": []})  # a unit: a row
    progress.update((), {"kind": "branch", "event": "start", "branch": "worker", "index": 0})
    console = Console(width=120, record=True)
    console.print(progress.table())
    text = console.export_text()
    assert "running: planner" in text
    statuses = [line.split()[2] for line in text.splitlines() if line.startswith("worker[")]
    assert statuses == ["running", "waiting", "waiting"]
    progress.task({"id": "1", "name": "planner", "result": [], "error": None, "interrupts": []})
    assert progress.phases == []


def test_a_report_writers_planned_sections_show_before_they_start(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[str]] = []
    table = cli._Progress.table

    def spy(self: Any) -> Any:
        seen.append([row.status for _, row in self.ordered()])
        return table(self)

    monkeypatch.setattr(cli._Progress, "table", spy)
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # the live view is on
    code, _, _ = call(
        capsys,
        "run",
        "report-writer",
        "--input",
        '{"topic": "tides", "sections": 5}',
        "--max-concurrency",
        "1",
    )
    assert code == 0
    assert ["waiting"] * 5 in seen  # the plan's sections, before the first one started
    assert any(s.count("ok") == 1 and s.count("waiting") == 3 for s in seen)  # one at a time


def test_ctrl_c_saves_the_finished_branches_and_prints_the_command_that_resumes(
    tmp_path: Path,
) -> None:
    import os
    import signal
    import sqlite3
    import time

    db = tmp_path / "threads.sqlite"
    script = Path(sys.executable).parent / "langgraph-parallel"
    run = [str(script), "run", "report-writer", "--input", '{"topic": "tides", "sections": 8}']
    child = subprocess.Popen(
        [*run, "--max-concurrency", "1", "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "LANGGRAPH_PARALLEL_MODEL": "simulated"},
    )

    def sections_saved() -> int:
        if not db.exists():
            return 0
        with sqlite3.connect(db) as connection:
            try:
                # each finished section writes its edge to the join (the dispatch writes
                # `results` too, so those are not counted)
                rows = connection.execute(
                    "select count(*) from writes where channel = 'branch:to:synthesizer'"
                )
                return int(rows.fetchone()[0])
            except sqlite3.OperationalError:  # no table yet
                return 0

    deadline = time.monotonic() + 60
    while sections_saved() < 2 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.02)
    assert child.poll() is None, "the run ended before it could be interrupted"
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130, err
    command = err.split("Continue with:")[1].strip()
    assert re.fullmatch(
        rf"langgraph-parallel run report-writer --thread report-writer-\S+ --db {db} --resume",
        command,
    ), err
    done = subprocess.run(
        [str(script), *command.split()[1:], "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "LANGGRAPH_PARALLEL_MODEL": "simulated"},
    )
    doc = json.loads(done.stdout)
    assert done.returncode == 0 and len(doc["branches"]) == 8
    assert sum(b["earlier_run"] for b in doc["branches"]) >= 2  # not run again
    assert all(b["status"] == "ok" for b in doc["branches"])


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_template_runs_against_a_local_server_that_ignores_response_format(
    name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first hour with a local server (Ollama, LM Studio): no `response_format`, no tools."""
    from langgraph_parallel.testing import FakeOpenAIServer

    with FakeOpenAIServer(latency=0.0, structured="ignored") as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_MODEL", f"local-{name}")
        code, out, err = call(capsys, "run", name, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["error"] is None, err
    assert all(b["status"] == "ok" for b in doc["branches"]), doc["branches"]
    if TEMPLATES[name].takes_model:
        assert doc["model"] == f"openai local-{name} at {server.base_url}"
        assert doc["simulated_model"] is False and server.count > 0
