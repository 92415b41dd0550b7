"""`langgraph-parallel`: list, run and draw the templates, with a live view of every branch.

    langgraph-parallel list
    langgraph-parallel run TEMPLATE [--input JSON | --input-file PATH] [--model SPEC]
                                    [--max-concurrency K|auto]
                                    [--thread ID [--resume | --retry-failed]]
                                    [--json]
    langgraph-parallel graph TEMPLATE

Bad use prints one line and exits with status 2; a run that fails exits with 1.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import json
import os
import secrets
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from langgraph_parallel.engine.fleet import LIMITS_URL_ENV, fleet_limits
from langgraph_parallel.engine.redact import redact
from langgraph_parallel.errors import InvalidInputError
from langgraph_parallel.templates import TEMPLATES, Template

DEFAULT_DB = Path(".langgraph-parallel") / "threads.sqlite"


class UsageError(Exception):
    """Bad use of the command: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="langgraph-parallel", description="Run parallel LangGraph templates.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands.add_parser("list", help="list the templates")
    run = commands.add_parser(
        "run",
        help="run a template with a live view of its branches",
        add_help=False,
        epilog="`run TEMPLATE --help` also shows the template's input.",
    )
    run.add_argument("template", help="a name from `langgraph-parallel list`")
    run.add_argument(
        "-h", "--help", action=_RunHelp, help="show this help and the template's input"
    )
    given = run.add_mutually_exclusive_group()
    given.add_argument("--input", help="the input as a JSON object (default: the example)")
    given.add_argument("--input-file", type=Path, help="a file holding the input JSON object")
    run.add_argument(
        "--model", help="e.g. openai:gpt-4o-mini or simulated (default: see docs/models.md)"
    )
    run.add_argument(
        "--max-concurrency",
        type=_max_concurrency,
        metavar="K|auto",
        help="most branches running at once; 'auto' finds the provider's capacity from its 429s",
    )
    run.add_argument("--thread", help="keep the run in a SQLite thread (see --db) under this id")
    run.add_argument("--resume", action="store_true", help="continue --thread where it stopped")
    run.add_argument(
        "--retry-failed",
        action="store_true",
        help="re-run only the failed branches of --thread's finished run, then the join",
    )
    run.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"thread database ({DEFAULT_DB})")
    run.add_argument("--json", action="store_true", help="print one JSON document, no live view")
    draw = commands.add_parser("graph", help="print a template's mermaid diagram")
    draw.add_argument("template")
    limits = commands.add_parser(
        "limits", help="show every adaptive limit a fleet of processes shares through Redis"
    )
    limits.add_argument(
        "--url", help=f"the Redis server (default: ${LIMITS_URL_ENV}), e.g. redis://localhost:6379"
    )
    limits.add_argument("--json", action="store_true", help="print one JSON document")
    return parser


class _RunHelp(argparse.Action):
    """`run TEMPLATE --help`: the command's help, then the template's input keys."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        name = getattr(namespace, "template", None)
        template = None if name is None else _template(name)  # an unknown name: status 2
        parser.print_help()
        if template is not None:
            print()
            print(_input_help(template))
        parser.exit()


def _input_help(template: Template) -> str:
    """A template's input keys (type, bounds, description, example) and two ways to run it."""
    keys = template.inputs()
    width = max(len(k.name) for k in keys)
    lines = [f"input of {template.name} (a JSON object for --input or --input-file):"]
    for key in keys:
        example = f" e.g. {key.example_text()}" if key.example is not None else ""
        lines.append(f"  {key.name:<{width}}  {key.summary()}. {key.description}{example}")
    lines.append("examples:")
    lines.append(
        f"  langgraph-parallel run {template.name} --input '{json.dumps(template.example)}'"
    )
    lines.append(f"  langgraph-parallel run {template.name} --input-file {template.example_file}")
    return "\n".join(lines)


def _list() -> None:
    """Each template: name, pattern, description, then its input keys with an example."""
    width = max(len(n) for n in TEMPLATES)
    for template in TEMPLATES.values():
        print(f"{template.name:<{width}}  {template.pattern:<24} {template.description}")
        keys = template.inputs()
        name_width = max(len(k.name) for k in keys)
        summary_width = max(len(k.summary()) for k in keys)
        for key in keys:
            example = f"e.g. {key.example_text()}" if key.example is not None else ""
            line = f"    {key.name:<{name_width}}  {key.summary():<{summary_width}}  {example}"
            print(line.rstrip())


def _limits(args: argparse.Namespace) -> int:
    """The shared limits in Redis: name, limit, places held, processes, 429s, round trip."""
    url = args.url or os.environ.get(LIMITS_URL_ENV, "").strip()
    if not url:
        raise UsageError(f"no Redis to read: pass --url redis://HOST:PORT or set {LIMITS_URL_ENV}")
    flag = "--url" if args.url else LIMITS_URL_ENV
    try:
        found = fleet_limits(url)
    except ValueError as exc:
        raise UsageError(str(exc).replace("shared=", f"{flag}=")) from None
    except Exception as exc:  # redis.ConnectionError and kin: one line, what and where
        raise UsageError(f"cannot read the limits at {redact(url)}: {exc}") from None
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    if not found:
        print(f"no shared limits at {redact(url)} yet")
        return 0
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(highlight=False, width=None if _tty(sys.stdout) else 100_000)
    table = Table("limit", "allows", "in flight", "processes", "429s", "successes", "round trip")
    for limit in found:
        trip = limit["round_trip"]
        table.add_row(
            escape(limit["name"]),
            f"{limit['limit']}" + (" (slow start)" if limit["slow_start"] else ""),
            str(limit["in_flight"]),
            str(limit["processes"]),
            str(limit["rejections"]),
            str(limit["successes"]),
            "-" if trip is None else f"{trip:.2f}s",
        )
    console.print(table)
    return 0


def _template(name: str) -> Template:
    if name in TEMPLATES:
        return TEMPLATES[name]
    close = difflib.get_close_matches(name, TEMPLATES, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise UsageError(f"unknown template {name!r}; {hint}choose one of: {', '.join(TEMPLATES)}")


def _input(args: argparse.Namespace, template: Template) -> dict[str, Any] | None:
    if args.resume and args.retry_failed:
        raise UsageError(
            "--resume finishes a stopped run, --retry-failed re-runs a finished "
            "run's failures: give one of them"
        )
    for flag, given in (("--resume", args.resume), ("--retry-failed", args.retry_failed)):
        if not given:
            continue
        if not args.thread:
            raise UsageError(f"{flag} continues a thread: give its id with --thread")
        if args.input is not None or args.input_file is not None:
            raise UsageError(f"{flag} continues with the thread's own input; drop --input")
        return None
    if args.input_file is not None:
        try:
            text = args.input_file.read_text()
        except FileNotFoundError:
            raise UsageError(f"--input-file: no such file: {args.input_file}") from None
        except OSError as exc:
            raise UsageError(
                f"--input-file: cannot read {args.input_file}: {exc.strerror}"
            ) from None
        source = f"--input-file {args.input_file}"
    elif args.input is not None:
        text, source = args.input, "--input"
    else:
        return dict(template.example)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{source} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise UsageError(f"{source} must be a JSON object, got {_json_kind(value)}")
    return value


def _json_kind(value: Any) -> str:
    """What JSON calls the type of a parsed value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else type(value).__name__


@dataclass
class _Row:
    """One branch, as its progress events describe it.

    `started` and `ended` are the engine's own times (`BranchEvent.at`, minus `elapsed` for
    the start), so the span and the work summed from them come from one clock.
    """

    branch: str
    index: int
    status: str = "waiting"
    started: float = field(default_factory=time.time)
    elapsed: float | None = None
    ended: float | None = None
    retries: int = 0
    error: str = ""
    earlier: bool = False
    """It ran in an earlier run of the thread (no events in this one): not in the speedup."""


def _max_concurrency(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"must be a whole number of at least 1, or 'auto'; got {text!r}"
        )
    return value


def _error_text(error: dict[str, str] | None) -> str:
    """A record's error in one line (`Type: message`); `""` for none."""
    return f"{error['type']}: {error['message']}" if error else ""


class _Progress:
    """Branch rows, updated from the graph's `branch` events."""

    def __init__(self, unit_nodes: Sequence[str] = ()) -> None:
        self.rows: dict[tuple[tuple[str, ...], str, int], _Row] = {}
        self.limit: dict[str, Any] | None = None  # the adaptive limit's last state
        self.unit_nodes = set(unit_nodes)
        self.title = ""
        """What the live view's table is titled: the template and its model."""
        self.phases: list[str] = []
        """The graph's own nodes running now (a planner, a join), for the live view."""

    def waiting(self, branches: Sequence[tuple[str, int]]) -> None:
        """Rows for units known before they start: they show as waiting until they do."""
        for branch, index in branches:
            self.rows.setdefault(((), branch, index), _Row(branch, index))

    def task(self, event: dict[str, Any]) -> None:
        """A `tasks` stream event: the graph's own nodes running now, in the live view."""
        name = event.get("name", "")
        if name in self.unit_nodes or name.startswith("__"):
            return
        if "result" in event or "error" in event:
            if name in self.phases:
                self.phases.remove(name)
        elif name not in self.phases:
            self.phases.append(name)

    def update(self, namespace: tuple[str, ...], event: dict[str, Any]) -> None:
        if event.get("limit"):
            self.limit = dict(event["limit"])
        key = (namespace, event["branch"], event["index"])
        row = self.rows.setdefault(key, _Row(event["branch"], event["index"]))
        kind, at = event["event"], event.get("at", time.time())
        if kind == "start":
            row.status, row.started = "running", at
        elif kind == "retry":
            row.status, row.retries = "retrying", row.retries + 1
        elif kind in ("finish", "error"):
            row.status = event.get("status", "ok" if kind == "finish" else "error")
            row.elapsed = event.get("elapsed") or 0.0
            row.ended, row.started = at, at - row.elapsed
            row.error = _error_text(event.get("error"))

    def add_earlier(self, records: Sequence[dict[str, Any]]) -> None:
        """Rows for the records of the final state that sent no event in this run."""
        seen = {
            (branch, index)
            for (ns, branch, index), row in self.rows.items()
            if not ns and row.status != "waiting"  # a row made waiting never started here
        }
        for record in records:
            if (record["branch"], record["index"]) in seen:
                continue
            row = _Row(record["branch"], record["index"], record["status"], earlier=True)
            row.elapsed, row.retries = record["elapsed"], record["attempts"] - 1
            row.error = _error_text(record.get("error"))
            self.rows[((), record["branch"], record["index"])] = row

    def ran(self) -> list[_Row]:
        """The rows of the branches that ended in this run (not in an earlier one)."""
        return [r for r in self.rows.values() if r.ended is not None and not r.earlier]

    def timing(self) -> tuple[float, float]:
        """The work summed over the branches that ran in this run, and its span.

        Both come from the engine's clock, so work / span never exceeds the branches
        that ran: each branch's time lies inside the span.
        """
        ran = self.ran()
        if not ran:
            return 0.0, 0.0
        span = max(r.ended or 0.0 for r in ran) - min(r.started for r in ran)
        return sum(r.elapsed or 0.0 for r in ran), span

    def succeeded(self) -> bool:
        """Whether any branch ended well (true when no branch ran at all)."""
        return not self.rows or any(r.status == "ok" for r in self.rows.values())

    def ordered(self) -> list[tuple[str, _Row]]:
        """Rows in branch order, each with its label (`name`, or `name[i]` when repeated)."""
        rows = sorted(self.rows.items(), key=lambda item: (item[0][0], item[1].index))
        repeated = len({row.branch for _, row in rows}) < len(rows)
        return [(f"{r.branch}[{r.index}]" if repeated else r.branch, r) for _, r in rows]

    def table(self) -> Any:
        from rich.markup import escape
        from rich.table import Table

        table = Table(show_edge=False, pad_edge=False, title=escape(self.title) or None)
        for column in ("branch", "status", "elapsed", "retries", "error"):
            table.add_column(
                column, justify="right" if column in ("elapsed", "retries") else "left"
            )
        style = {"ok": "green", "error": "red", "timeout": "red", "cancelled": "yellow"}
        for label, row in self.ordered():
            elapsed = row.elapsed if row.elapsed is not None else time.time() - row.started
            shown = "" if row.status == "waiting" else f"{elapsed:.2f}s"
            if row.earlier:
                shown += " (earlier run)"
            status = f"[{style.get(row.status, 'cyan')}]{row.status}[/]"
            table.add_row(escape(label), status, shown, str(row.retries), escape(row.error))
        captions = [f"running: {', '.join(self.phases)}"] if self.phases else []
        if self.limit is not None:
            captions.append(self.caption())
        if captions:
            table.caption = "\n".join(captions)
        return table

    def caption(self) -> str:
        """The adaptive limit's state, for the table and the summary."""
        limit = self.limit or {}
        where = ""
        if limit.get("shared"):
            where = f" shared by {limit.get('processes')} process(es) (fleet-wide figures)"
        elif "shared" in limit:
            where = " (its fleet's Redis is out of reach: this process alone)"
        return (
            f"adaptive limit {limit.get('limit')}{where}: {limit.get('in_flight')} in flight, "
            f"{limit.get('rejections')} rejected (429)"
        )


@asynccontextmanager
async def _checkpointer(args: argparse.Namespace) -> AsyncIterator[Any]:
    if not args.thread:
        yield None
        return
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    args.db.parent.mkdir(parents=True, exist_ok=True)
    async with AsyncSqliteSaver.from_conn_string(str(args.db)) as saver:
        yield saver


def _jsonable(value: Any) -> Any:
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return value.model_dump()
    if hasattr(value, "content") and hasattr(value, "type"):  # a LangChain message
        return {"type": value.type, "content": value.content}
    return repr(value)


def _render(output: Any) -> Any:
    """The template's output as readable text or a table, never raw JSON."""
    from rich.markup import escape
    from rich.table import Table

    if isinstance(output, str):
        return escape(output)
    if isinstance(output, dict) and {"winner", "agreement", "cast"} <= output.keys():
        from langgraph_parallel.templates.classify_vote import headline

        return escape(headline(output))  # type: ignore[arg-type]
    if isinstance(output, dict) and {"content", "blocked"} <= output.keys():
        if output["blocked"]:
            return escape(f"BLOCKED ({output['reason']})\n{output['content'] or ''}".rstrip())
        content = output["content"]
        return escape(str(content) if content is not None else f"no content: {output['reason']}")
    if output is None:
        return "(no output)"
    rows = output if isinstance(output, list) else [output]
    if rows and all(isinstance(row, dict) for row in rows):
        columns = list(dict.fromkeys(key for row in rows for key in row))
        table = Table(show_edge=False, pad_edge=False)
        for column in columns:
            table.add_column(escape(column), overflow="fold")
        for row in rows:
            table.add_row(*(escape(_cell(row.get(c))) for c in columns))
        return table
    return escape("\n".join(_cell(row) for row in rows))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return "; ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_cell(v)}" for k, v in value.items())
    return str(value)


async def _continuation(
    args: argparse.Namespace, graph: Any, config: dict[str, Any], value: Any
) -> Any:
    """What to run on the thread: the input, `None` to resume, or a retry command.

    A thread holds one template's run: a new input on it would mix with the earlier run's
    keys and records (LangGraph keeps a thread's state), so that is refused.
    """
    snapshot = await graph.aget_state(config)
    owner = (snapshot.metadata or {}).get("lgp_template") if snapshot.values else None
    if owner is not None and owner != args.template:
        raise UsageError(
            f"thread {args.thread!r} holds a run of {owner}, not {args.template}; "
            "give another --thread id"
        )
    if not (args.resume or args.retry_failed):
        if snapshot.values:
            raise UsageError(
                f"thread {args.thread!r} already holds a run; continue it with --resume or "
                "--retry-failed, or give a new --thread id to start afresh"
            )
        return value
    flag = "--resume" if args.resume else "--retry-failed"
    if not snapshot.values:
        raise UsageError(f"{flag}: no thread {args.thread!r} in {args.db}")
    if args.resume:
        if not snapshot.next:
            raise UsageError(
                f"--resume: thread {args.thread!r} has finished, so there is nothing to "
                "resume; --retry-failed re-runs its failed branches, a new --thread runs again"
            )
        return None
    from langgraph_parallel.graphs import retry_command

    try:
        command = retry_command(graph, snapshot)
    except ValueError as exc:
        raise UsageError(f"--retry-failed: {exc}") from None
    if command is None:
        raise UsageError(f"--retry-failed: nothing failed in thread {args.thread!r}")
    return command


async def _run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.live import Live
    from rich.markup import escape

    from langgraph_parallel.models import is_simulated, resolve_model

    template = _template(args.template)
    value = _input(args, template)
    options: dict[str, Any] = {}
    simulated_model = False
    model_text = None
    if template.takes_model:
        try:
            model = resolve_model(args.model)
        except (ValueError, TypeError) as exc:
            raise UsageError(f"--model: {exc}") from None
        options["model"] = model
        simulated_model = is_simulated(model)
        model_text = _model_text(model)
    elif args.model:
        raise UsageError(f"{template.name} uses no model; drop --model")
    if args.max_concurrency is not None:
        options["max_concurrency"] = args.max_concurrency
    err = Console(stderr=True, highlight=False)
    # No colouring of numbers in two pieces; piped to a file, no line folded at 80 columns.
    out = Console(soft_wrap=True, highlight=False, width=None if _tty(sys.stdout) else 100_000)
    final: dict[str, Any] = {}
    if not args.thread:  # every run can be resumed after Ctrl-C: a thread of its own
        args.thread = f"{template.name}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    config: dict[str, Any] = {
        "configurable": {"thread_id": args.thread},
        "metadata": {"lgp_template": template.name},  # kept in each checkpoint
    }
    started = time.perf_counter()
    graph = template.build(**options)
    plan = getattr(graph.builder, "plan", None)  # a factory's graph: its units are known
    progress = _Progress(plan.nodes if plan else ())
    progress.title = f"{template.name}, model: {model_text}" if model_text else template.name
    progress.waiting([(label, i) for i, label in enumerate(plan.labels if plan else ())])

    if value is not None:
        schema = graph.get_input_jsonschema()
        known = schema.get("properties", {})
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise UsageError(
                f"input does not fit {template.name}: unknown key(s) "
                f"{', '.join(map(repr, unknown))}; it takes: {', '.join(known)}"
            )
        missing = [key for key in schema.get("required", ()) if key not in value]
        if missing:
            raise UsageError(
                f"input does not fit {template.name}: missing key(s) "
                f"{', '.join(map(repr, missing))}; e.g. --input '{json.dumps(template.example)}' "
                f"(see run {template.name} --help)"
            )
    run_with: Any = value
    failure: Exception | None = None
    async with _checkpointer(args) as saver:
        if saver is not None:
            graph = graph.builder.compile(checkpointer=saver, name=template.name)
            run_with = await _continuation(args, graph, config, value)
        live = Live(progress.table(), console=err, refresh_per_second=8, transient=True)
        show = not args.json and err.is_terminal
        try:
            if show:
                live.start()
            stream = graph.astream(
                run_with, config, stream_mode=["custom", "values", "tasks"], subgraphs=True
            )
            async for namespace, mode, data in stream:
                if mode == "custom" and isinstance(data, dict) and data.get("kind") == "branch":
                    progress.update(namespace, data)
                elif mode == "tasks" and not namespace:
                    progress.task(data)
                elif mode == "values" and not namespace:
                    final = data
                    if plan and not plan.labels and isinstance(data.get("plan"), list):
                        progress.waiting([(plan.nodes[0], i) for i in range(len(data["plan"]))])
                if show:
                    live.update(progress.table())
        except InvalidInputError as exc:
            raise UsageError(f"input does not fit {template.name}: {exc}") from None
        except Exception as exc:  # the run failed: still show what the branches did
            failure = exc
        finally:
            if show:
                live.stop()
    wall = time.perf_counter() - started
    progress.add_earlier(final.get("results") or ())
    rows = [row for _, row in progress.ordered()]
    busy, span = progress.timing()
    usage = final.get("usage")
    output = None if failure else final.get("output")
    problem = _problem(failure, progress, "see `branches`" if args.json else "see the table")
    if args.json:
        document = {
            "template": template.name,
            "input": value,
            "thread": args.thread,
            "output": output,
            "error": problem,
            "branches": [
                {
                    "branch": r.branch,
                    "index": r.index,
                    "status": r.status,
                    "elapsed": None if r.elapsed is None else round(r.elapsed, 4),
                    "retries": r.retries,
                    "error": r.error or None,
                    "earlier_run": r.earlier,
                }
                for r in rows
            ],
            "wall_seconds": round(wall, 4),
            "branch_seconds": round(busy, 4),
            "branch_span_seconds": round(span, 4),
            "speedup": round(busy / span, 2) if span else None,
            "usage": usage,
            "adaptive_limit": progress.limit,
            "simulated_model": simulated_model,
            "model": model_text,
        }
        print(json.dumps(document, indent=2, default=_jsonable))
        return 1 if problem else 0
    out.print(f"[bold]{template.name}[/]: {template.pattern}")
    if model_text:
        out.print(f"model: {escape(model_text)}")
    if failure is None:  # the join ran: its output, even when no branch succeeded
        out.print(_render(output))
    out.print()
    if rows:
        progress.title = ""  # the header above says it
        out.print(progress.table())
    ran = len(progress.ran())
    if span >= 0.01 and ran > 1:  # a shorter span is too small to say anything
        out.print(
            f"{ran} branches: {busy:.2f}s of work done in {span:.2f}s, {busy / span:.1f}x from "
            f"running them at once; whole run {wall:.2f}s"
        )
    if usage:
        out.print(
            f"tokens: {usage['total_tokens']:,} ({usage['input_tokens']:,} in, "
            f"{usage['output_tokens']:,} out)"
        )
    if simulated_model:
        out.print(
            "[yellow]note:[/] answers come from the offline simulated model (marked "
            r"\[simulated]); set OPENAI_API_KEY or pass --model to use a real one."
        )
    if template.offline_sources:
        out.print(r"[yellow]note:[/] data sources are offline simulations (marked \[simulated]).")
    failed = [r for r in progress.ran() if r.status != "ok"]
    if failed and not problem and not args.json:
        out.print(
            f"[yellow]note:[/] {len(failed)} branch(es) did not succeed; re-run only those "
            f"with: {escape(_again(args, '--retry-failed'))}"
        )
    if problem:
        print(f"langgraph-parallel: run failed: {problem}", file=sys.stderr)
        return 1
    return 0


def _tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _model_text(model: Any) -> str:
    """Which model a run uses, and where: for the header."""
    from langgraph_parallel.engine.http import provider_key
    from langgraph_parallel.models import is_simulated

    if is_simulated(model):
        return "simulated (offline; its answers are marked [simulated])"
    kind, base_url, name = provider_key(model)
    where = f" at {base_url}" if base_url else ""
    return f"{kind} {name or '(default model)'}{where}"


def _again(args: argparse.Namespace, flag: str) -> str:
    """The command that continues `args.thread` with `flag` (`--resume`, `--retry-failed`)."""
    db = f" --db {args.db}" if args.db != DEFAULT_DB else ""
    return f"langgraph-parallel run {args.template} --thread {args.thread}{db} {flag}"


def _problem(failure: Exception | None, progress: _Progress, where: str) -> str | None:
    """Why the run counts as failed, in one line: its exception, or no branch succeeded."""
    if failure is not None:
        return redact(f"{type(failure).__name__}: {failure}")
    if not progress.succeeded():
        failed = len(progress.rows)
        return f"no branch succeeded ({failed} of {failed} failed); {where} for their errors"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args: argparse.Namespace | None = None
    try:
        args = _parser().parse_args(argv)
        if args.command == "list":
            _list()
            return 0
        if args.command == "graph":
            print(_template(args.template).build().get_graph().draw_mermaid())
            return 0
        if args.command == "limits":
            return _limits(args)
        return asyncio.run(_run(args))
    except UsageError as exc:
        print(f"langgraph-parallel: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = ""
        if args is not None and args.command == "run" and getattr(args, "thread", None):
            again = _again(args, "--resume")
            hint = f"; the branches that finished are saved. Continue with:\n  {again}"
        print(f"langgraph-parallel: interrupted{hint}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 0
    except Exception as exc:  # the run itself failed: say what, without a traceback
        message = redact(f"{type(exc).__name__}: {exc}")
        print(f"langgraph-parallel: run failed: {message}", file=sys.stderr)
        return 1
