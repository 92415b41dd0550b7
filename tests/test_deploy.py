"""docs/deploy.md: the example service on PostgreSQL, the LangGraph server's Dockerfile made
offline, and the model of served templates chosen through an env file."""

from __future__ import annotations

import asyncio
import copy
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from service import ROOT, Client, offline_env, running_service

ENV_EXAMPLE = ROOT / "examples" / ".env.example"
CONFIG = json.loads((ROOT / "langgraph.json").read_text())
LANGGRAPH = Path(sys.executable).parent / "langgraph"
TEXT = "I loved the food but the service was slow"


@pytest.fixture(scope="module")
def service(postgres_uri: str) -> Iterator[Client]:
    """examples/service.py as its docs run it, on the test PostgreSQL and a free port."""
    with running_service(offline_env(DATABASE_URL=postgres_uri)) as client:
        yield client


def _graph(checkpointer: Any) -> Any:
    """The service's graph (the same template and model) on another checkpointer."""
    from langgraph_parallel.templates import TEMPLATES

    template = TEMPLATES["classify-vote"]
    return template.build(model="simulated").builder.compile(checkpointer=checkpointer)


def _saved(uri: str, request_id: str) -> tuple[Any, int]:
    """A request's thread as a new saver reads it from PostgreSQL, and its checkpoint rows."""
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver

    with PostgresSaver.from_conn_string(uri) as saver:
        state = _graph(saver).get_state({"configurable": {"thread_id": request_id}})
    with psycopg.connect(uri) as connection:
        (rows,) = connection.execute(
            "SELECT count(*) FROM checkpoints WHERE thread_id = %s", (request_id,)
        ).fetchone()  # type: ignore[misc]
    return state, rows


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _a_real_vote(output: dict[str, Any]) -> None:
    assert output["winner"] in {"positive", "negative", "neutral"}
    assert output["cast"] == 5 and output["failed"] == 0
    assert [v["status"] for v in output["votes"]] == ["ok"] * 5


def test_the_service_runs_the_template_on_a_postgresql_thread_per_request_id(
    service: Client, postgres_uri: str
) -> None:
    status, reply = service("POST", "/runs/deploy-first", {"text": TEXT})
    assert status == 200, reply
    assert reply["request_id"] == "deploy-first"
    assert reply["status"] == "done" and reply["resumed"] is False
    _a_real_vote(reply["output"])

    # The checkpoint is in PostgreSQL: a new saver and graph read the run back.
    state, rows = _saved(postgres_uri, "deploy-first")
    assert state.next == () and state.values["text"] == TEXT
    assert _json(state.values["output"]) == reply["output"]
    assert rows > 0

    # The same id again: its stored output, and nothing runs (no new checkpoint).
    status, again = service("POST", "/runs/deploy-first", {"text": "something else"})
    assert (status, again) == (200, reply)
    assert _saved(postgres_uri, "deploy-first")[1] == rows
    assert service("GET", "/runs/deploy-first") == (200, reply)

    # Another id is another thread.
    status, _ = service("POST", "/runs/deploy-second", {"text": "Awful, never again"})
    assert status == 200
    assert _saved(postgres_uri, "deploy-second")[0].values["text"] == "Awful, never again"
    assert _saved(postgres_uri, "deploy-first")[0].values["text"] == TEXT

    status, missing = service("GET", "/runs/deploy-never-sent")
    assert status == 404 and missing["error"] == "no run with this request id"


def test_the_service_resumes_a_run_that_was_cut_off(service: Client, postgres_uri: str) -> None:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    config = {"configurable": {"thread_id": "deploy-cut-off"}}

    async def cut_off() -> Any:
        """The five votes are saved, the tally never ran: what a restart mid-run leaves."""
        async with AsyncPostgresSaver.from_conn_string(postgres_uri) as saver:
            await saver.setup()
            graph = _graph(saver)
            await graph.ainvoke({"text": TEXT}, config, interrupt_before=["tally"])
            return await graph.aget_state(config)

    before = asyncio.run(cut_off())
    assert before.next == ("tally",) and "output" not in before.values
    assert service("GET", "/runs/deploy-cut-off") == (
        200,
        {"request_id": "deploy-cut-off", "status": "unfinished", "output": None},
    )

    status, reply = service("POST", "/runs/deploy-cut-off", b"")  # the body is not needed
    assert status == 200, reply
    assert (reply["status"], reply["resumed"]) == ("done", True)
    _a_real_vote(reply["output"])
    after, _ = _saved(postgres_uri, "deploy-cut-off")
    assert after.next == ()
    # The votes cast before the cut were kept, not cast again (their timings are the same).
    assert after.values["results"] == before.values["results"]


def test_the_service_refuses_bad_input_and_frees_the_id(service: Client) -> None:
    status, reply = service("POST", "/runs/deploy-bad", {"text": ""})
    assert status == 400 and "'text'" in reply["error"]
    assert service("GET", "/runs/deploy-bad")[0] == 404  # no thread left behind
    assert service("POST", "/runs/deploy-bad", b"not json")[0] == 400
    assert service("POST", "/runs/deploy-bad", ["a list"])[0] == 400
    assert service("GET", "/elsewhere")[0] == 404
    assert service("PUT", "/runs/deploy-bad")[0] == 405
    status, reply = service("POST", "/runs/deploy-bad", {"text": TEXT})
    assert status == 200 and reply["resumed"] is False
    _a_real_vote(reply["output"])


# -- the LangGraph server image -----------------------------------------------------------

GUARD = """\
import os, sys

def _no_network(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname",
                 "socket.sendto", "socket.sendmsg"):
        with open(os.environ["NETWORK_LOG"], "a") as log:
            log.write(f"{event} {args!r}\\n")
        raise OSError(f"{event} blocked by tests/test_deploy.py")

sys.addaudithook(_no_network)
"""


def _langgraph(
    tmp: Path, *args: str, analytics: bool = False
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """The `langgraph` CLI in this checkout, with no docker on PATH and every socket
    connection or name lookup blocked and logged."""
    guard, bin_dir = tmp / "guard", tmp / "empty-bin"
    guard.mkdir(exist_ok=True)
    bin_dir.mkdir(exist_ok=True)
    (guard / "sitecustomize.py").write_text(GUARD)
    attempts = tmp / "network.log"
    attempts.unlink(missing_ok=True)
    env = offline_env(PATH=str(bin_dir), PYTHONPATH=str(guard), NETWORK_LOG=str(attempts))
    if not analytics:
        env["LANGGRAPH_CLI_NO_ANALYTICS"] = "1"
    done = subprocess.run(
        [str(LANGGRAPH), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    return done, attempts.read_text().splitlines() if attempts.exists() else []


def test_langgraph_dockerfile_needs_neither_docker_nor_the_network(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    done, attempts = _langgraph(tmp_path, "dockerfile", str(out / "Dockerfile"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert attempts == []
    assert sorted(p.name for p in out.iterdir()) == ["Dockerfile"]
    dockerfile = (out / "Dockerfile").read_text()

    # A LangGraph API image for langgraph.json's Python, with this package installed from ".".
    assert dockerfile.startswith(f"FROM langchain/langgraph-api:{CONFIG['python_version']}\n")
    (deps,) = re.findall(r"^ADD \. (/deps/\S+)$", dockerfile, re.M)
    assert re.search(r"pip install .*-e \.", dockerfile)
    assert dockerfile.rstrip().endswith(f"WORKDIR {deps}")

    # Every graph of langgraph.json, by name, at its path inside the image.
    (graphs,) = re.findall(r"^ENV LANGSERVE_GRAPHS='(.*)'$", dockerfile, re.M)
    served = json.loads(graphs)
    assert list(served) == list(CONFIG["graphs"]) and len(served) == 7
    for name, entry in CONFIG["graphs"].items():
        assert served[name]["path"] == f"{deps}/{entry['path'].removeprefix('./')}"

    # No settings or secrets baked in: those come at run time.
    assert not re.search(r"OPENAI|LICENSE|DATABASE|REDIS", dockerfile)


def test_the_dockerignore_is_the_one_the_docs_show_and_keeps_secrets_out() -> None:
    docs = (ROOT / "docs" / "deploy.md").read_text()
    (shown,) = re.findall(r"add it first:\n\n```text\n(.*?)```", docs, re.S)
    shipped = (ROOT / ".dockerignore").read_text()
    assert shipped == shown
    assert {".venv", ".env", ".git"} <= set(shipped.split())


def test_the_network_guard_catches_the_clis_usage_report(tmp_path: Path) -> None:
    # Without LANGGRAPH_CLI_NO_ANALYTICS=1 the CLI posts usage analytics in the background
    # (blocked here): why docs/deploy.md sets it, and proof the guard above sees connections.
    done, attempts = _langgraph(
        tmp_path, "dockerfile", str(tmp_path / "Dockerfile"), analytics=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert any(line.startswith("socket.getaddrinfo") for line in attempts), attempts


def test_langgraph_build_and_up_need_docker_and_up_names_the_license_keys(
    tmp_path: Path,
) -> None:
    done, attempts = _langgraph(tmp_path, "build", "-t", "langgraph-parallel-test")
    assert done.returncode != 0
    assert "Docker not installed" in done.stdout + done.stderr
    done, more = _langgraph(tmp_path, "up")
    assert done.returncode != 0
    said = done.stdout + done.stderr
    assert "Docker not installed" in said
    assert "LANGSMITH_API_KEY" in said and "LANGGRAPH_CLOUD_LICENSE_KEY" in said
    assert attempts == more == []


def test_the_compose_sketch_runs_what_the_clis_compose_file_runs() -> None:
    from langgraph_cli.docker import DockerCapabilities, Version, compose_as_dict

    capabilities = DockerCapabilities(Version(27, 0, 0), Version(2, 29, 0), True)
    compose = compose_as_dict(capabilities, port=8123)
    assert {"langgraph-redis", "langgraph-postgres", "langgraph-api"} <= set(compose["services"])
    api = compose["services"]["langgraph-api"]
    assert set(api["environment"]) >= {"REDIS_URI", "POSTGRES_URI"}
    assert api["ports"] == ['"8123:8000"']  # the server listens on 8000 in its container

    # The sketch in docs/deploy.md runs the same services the same way.
    import yaml

    page = (ROOT / "docs" / "deploy.md").read_text()
    (block,) = re.findall(r"^```yaml\n(.*?)^```$", page, re.M | re.S)
    sketch = yaml.safe_load(block)["services"]
    for name in ("langgraph-redis", "langgraph-postgres"):
        assert sketch[name]["image"] == compose["services"][name]["image"]
    assert (
        sketch["langgraph-postgres"]["environment"]
        == (compose["services"]["langgraph-postgres"]["environment"])
    )
    ours = sketch["langgraph-api"]
    assert ours["environment"]["REDIS_URI"] == api["environment"]["REDIS_URI"]
    assert ours["environment"]["DATABASE_URI"] == api["environment"]["POSTGRES_URI"]
    assert ours["ports"] == ["8123:8000"] and ours["env_file"] == ".env"
    assert set(ours["depends_on"]) == set(api["depends_on"])


# -- the model of served templates --------------------------------------------------------


def _env_file(tmp_path: Path, text: str) -> dict[str, str | None]:
    """An env file read as `langgraph dev` reads langgraph.json's "env" file."""
    from dotenv.main import DotEnv

    path = tmp_path / ".env"
    path.write_text(text)
    return dict(DotEnv(dotenv_path=path).dict())


def test_the_env_file_example_chooses_the_model_the_templates_resolve() -> None:
    from dotenv.main import DotEnv

    from langgraph_parallel.models import is_simulated, resolve_model

    values = dict(DotEnv(dotenv_path=ENV_EXAMPLE).dict())
    assert values == {"OPENAI_API_KEY": "sk-your-key"}  # the alternatives are commented out
    model = resolve_model(None, env=values)  # what a template's build() does with os.environ
    assert type(model).__name__ == "ChatOpenAI" and model.model_name == "gpt-4o-mini"
    assert not is_simulated(model)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("OPENAI_API_KEY=sk-test\nOPENAI_MODEL=gpt-4o\n", "gpt-4o"),
        ("OPENAI_BASE_URL=http://localhost:11434/v1\nOPENAI_MODEL=llama3.1\n", "llama3.1"),
        ("OPENAI_API_KEY=sk-test\nLANGGRAPH_PARALLEL_MODEL=openai:gpt-4o\n", "gpt-4o"),
        ("OPENAI_API_KEY=sk-test\nLANGGRAPH_PARALLEL_MODEL=simulated\n", "simulated"),
        ("# nothing set\n", "simulated"),
    ],
)
def test_the_env_file_variables_choose_the_model(tmp_path: Path, text: str, expected: str) -> None:
    from langgraph_parallel.models import is_simulated, resolve_model

    model = resolve_model(None, env={k: v for k, v in _env_file(tmp_path, text).items() if v})
    if expected == "simulated":
        assert is_simulated(model)
    else:
        assert model.model_name == expected and not is_simulated(model)


def test_an_env_file_goes_to_the_server_at_run_time_not_into_the_image() -> None:
    from langgraph_cli.config import config_to_compose, config_to_docker, validate_config

    config = validate_config({**CONFIG, "env": ".env"})  # the snippet in docs/deploy.md
    dockerfile, _ = config_to_docker(ROOT / "langgraph.json", copy.deepcopy(config))
    assert ".env" not in dockerfile  # `langgraph build` / `dockerfile`: not in the image
    compose = config_to_compose(ROOT / "langgraph.json", copy.deepcopy(config))
    assert "env_file: .env" in compose  # `langgraph up`: handed to the server's container
