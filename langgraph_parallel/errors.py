"""Errors raised at run time by the graphs of this package.

Misuse found while building a graph raises `ValueError` or `TypeError` with the fix in the
message; these are the errors of a run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langgraph_parallel.state.records import BranchResult


class InvalidInputError(ValueError):
    """The graph's input is missing a key the graph needs, or a key has the wrong type."""


class DeadlineExceeded(Exception):
    """A unit was still running (or had not started) when its run's deadline passed.

    It is recorded, with status `"timeout"`. It is raised out of a sync call only when the
    runner could not stop a node at the deadline because blocking code in an async function
    held the event loop: a grace period later (`engine.bridge.DEADLINE_GRACE`) the caller gives
    the node up, and the message names the line the loop is blocked in.
    """


class RemoteError(Exception):
    """A unit's exception, raised on an executor's worker, that could not be sent back.

    Most exceptions cross as themselves; one that does not pickle arrives as this, with
    the original type's name (`type`, also the record's error type) and its message.
    """

    def __init__(self, type: str, message: str) -> None:
        super().__init__(message)
        self.type = type

    def __reduce__(self) -> tuple[Any, ...]:
        return (RemoteError, (self.type, str(self)))


class StructuredOutputError(ValueError):
    """A model gave no valid value for a schema, whichever way it was asked.

    `structured_output` asks the provider's own way, by a tool call, and with the schema in
    the prompt, and sends an invalid answer back once; this names each way tried and why it
    failed, in full.

    Attributes:
        schema: The schema's name (its title).
        failures: One line per way tried: the way, and the cause.
    """

    def __init__(self, schema: str, failures: Sequence[str]) -> None:
        self.schema = schema
        self.failures = list(failures)
        tried = "\n".join(f"- {failure}" for failure in self.failures) or "- no way to ask"
        super().__init__(
            f"the model gave no valid {schema} (asked natively, by a tool call and with the "
            f"schema in the prompt, where the model has each way):\n{tried}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (StructuredOutputError, (self.schema, self.failures))


class InvalidPlanError(ValueError):
    """The planner of an orchestrator graph returned something the workers cannot take."""


def _describe(record: BranchResult) -> str:
    error = record["error"]
    reason = f"{error['type']}: {error['message']}" if error else record["status"]
    return f"{record['branch']}[{record['index']}] ({record['status']}, {reason})"


class BranchFailuresError(RuntimeError):
    """Too few branches succeeded: the graph's error budget (`min_successes`) was not met.

    Every record, failed or not, stays in the graph state (and in the checkpoint, if the graph
    has one), so nothing that finished is lost.

    Attributes:
        failures: The records of the branches that did not succeed.
        successes: How many branches succeeded.
        needed: How many had to succeed.
    """

    def __init__(self, failures: Sequence[BranchResult], *, successes: int, needed: int) -> None:
        self.failures = list(failures)
        self.successes = successes
        self.needed = needed
        listed = "; ".join(_describe(r) for r in self.failures[:10])
        more = f"; and {len(self.failures) - 10} more" if len(self.failures) > 10 else ""
        super().__init__(
            f"only {successes} branch(es) succeeded but min_successes={needed}; "
            f"failed: {listed}{more}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_failures, (self.failures, self.successes, self.needed))


def _rebuild_failures(
    failures: Sequence[BranchResult], successes: int, needed: int
) -> BranchFailuresError:
    return BranchFailuresError(failures, successes=successes, needed=needed)


__all__ = [
    "BranchFailuresError",
    "DeadlineExceeded",
    "InvalidInputError",
    "InvalidPlanError",
    "RemoteError",
    "StructuredOutputError",
]
