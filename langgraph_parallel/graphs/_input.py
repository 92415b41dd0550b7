"""Checks of what a graph is given: node names, state schemas, input values."""

from __future__ import annotations

import difflib
import threading
from collections.abc import Collection, Mapping, Sequence
from types import UnionType
from typing import (
    Annotated,
    Any,
    NotRequired,
    Required,
    Union,
    get_args,
    get_origin,
)

from langchain_core.runnables import RunnableConfig
from langgraph.constants import CONFIG_KEY_CHECKPOINTER
from langgraph.graph import END, START
from pydantic import ConfigDict, TypeAdapter, ValidationError
from typing_extensions import TypedDict, get_type_hints, is_typeddict

from langgraph_parallel.errors import InvalidInputError
from langgraph_parallel.state.schemas import DefaultInput

_RESERVED_CHARS = ("|", ":")
_typeddict: Any = TypedDict  # built at run time from the caller's schema


def check_name(name: object, *, what: str) -> str:
    """Check a node name; return it."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"{what} must be a non-empty string, got {name!r}")
    if name in (START, END):
        raise ValueError(f"{what} {name!r} is reserved by LangGraph; choose another name")
    for char in _RESERVED_CHARS:
        if char in name:
            raise ValueError(
                f"{what} {name!r} contains {char!r}, which LangGraph reserves; choose another name"
            )
    return name


def check_reserved(names: Collection[str], reserved: Mapping[str, str], *, what: str) -> None:
    """Reject names a graph keeps for its own nodes (`reserved`: name -> the node's role).

    As LangGraph's `StateGraph.add_node` rejects its own reserved names, with the fix.
    """
    for name in names:
        if name in reserved:
            raise ValueError(
                f"{what} {name!r} is reserved for {reserved[name]}; rename it "
                f"(e.g. {name + '_1'!r})"
            )


def _strip_required(hint: Any) -> Any:
    while get_origin(hint) in (NotRequired, Required):
        hint = get_args(hint)[0]
    return hint


def _is_required(key: str, hint: Any, schema: type[Any]) -> bool:
    # With `from __future__ import annotations`, `__required_keys__` cannot see
    # `NotRequired[...]` in string annotations; the resolved hint can.
    if get_origin(hint) is NotRequired:
        return False
    return get_origin(hint) is Required or key in schema.__required_keys__


def has_reducer(hint: Any) -> bool:
    """Whether a state annotation carries a reducer (`Annotated[T, reducer]`)."""
    hint = _strip_required(hint)
    return get_origin(hint) is Annotated and callable(hint.__metadata__[-1])


class StateSpec:
    """The full state of a graph: the caller's keys plus the package's keys.

    Args:
        user_schema: The caller's `TypedDict`, or `None` for `DefaultInput`.
        package: The package's keys for this kind of graph (a `TypedDict`).
        outputs: Keys of `user_schema` the graph writes, each with what writes it (e.g.
            "branch 'a'"), for error messages; all other keys are inputs.
        graph: The factory's name, for error messages.
    """

    def __init__(
        self,
        user_schema: type[Any] | None,
        package: type[Any],
        *,
        outputs: Mapping[str, str] | None = None,
        graph: str,
    ) -> None:
        schema = DefaultInput if user_schema is None else user_schema
        if not (isinstance(schema, type) and is_typeddict(schema)):
            raise TypeError(
                f"{graph}: state_schema must be a TypedDict class, got {schema!r}; "
                "declare your input keys as `class MyState(TypedDict): ...`"
            )
        raw_hints = get_type_hints(schema, include_extras=True)
        self._hints = {k: _strip_required(h) for k, h in raw_hints.items()}
        package_hints = {
            k: _strip_required(h) for k, h in get_type_hints(package, include_extras=True).items()
        }
        for key, hint in self._hints.items():
            if key in package_hints and hint != package_hints[key]:
                raise ValueError(
                    f"{graph}: state key {key!r} is reserved by langgraph-parallel "
                    f"({package.__name__}); rename it in {schema.__name__}"
                )
        outputs = outputs or {}
        for key, writer in outputs.items():
            if key not in self._hints:
                close = difflib.get_close_matches(key, list(self._hints), n=1)
                hint = f"did you mean {close[0]!r}? If not, " if close else ""
                raise ValueError(
                    f"{graph}: {writer} has writes={key!r}, which names no key of "
                    f"{schema.__name__}; {hint}add `{key}: ...` to it "
                    f"(keys: {', '.join(self._hints) or 'none'})"
                )
        self.package_keys = frozenset(package_hints)
        self.input_keys = tuple(
            k for k in self._hints if k not in outputs and k not in package_hints
        )
        self._required = frozenset(
            k for k in self.input_keys if _is_required(k, raw_hints[k], schema)
        )
        self._adapters: dict[str, TypeAdapter[Any] | None] = {}
        self._adapters_lock = threading.Lock()
        name = schema.__name__
        self.state: type[Any] = _typeddict(name, {**self._hints, **package_hints}, total=False)
        self.input: type[Any] = (
            schema
            if len(self.input_keys) == len(self._hints)
            else _typeddict(
                f"{name}Input", {k: self._hints[k] for k in self.input_keys}, total=False
            )
        )
        self.schema_name = name

    def has_reducer(self, key: str) -> bool:
        """Whether the caller's key `key` has a reducer."""
        return has_reducer(self._hints[key])

    def _adapter(self, key: str) -> TypeAdapter[Any] | None:
        if key not in self._adapters:
            with self._adapters_lock:
                hint = self._hints[key]
                try:
                    adapter: TypeAdapter[Any] | None = (
                        None
                        if hint is Any or has_reducer(hint)
                        else TypeAdapter(hint, config=ConfigDict(strict=True))
                    )
                except Exception:  # a type pydantic cannot check: accept any value
                    adapter = None
                self._adapters[key] = adapter
        return self._adapters[key]

    def check_input(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """Check the input keys of `state`; return them.

        Raises:
            InvalidInputError: A required key is missing, or a key has the wrong type.
        """
        missing = sorted(k for k in self._required if k not in state)
        if missing:
            wanted = ", ".join(f"{k!r}: <{_type_name(self._hints[k])}>" for k in missing)
            raise InvalidInputError(
                f"input is missing key(s) {', '.join(map(repr, missing))} required by "
                f"{self.schema_name}; invoke the graph with {{{wanted}, ...}}"
            )
        for key in self.input_keys:
            if key in state and (adapter := self._adapter(key)) is not None:
                try:
                    adapter.validate_python(state[key])
                except ValidationError as exc:
                    raise InvalidInputError(
                        _misfit(key, self._hints[key], state[key], exc)
                    ) from None
        return {k: state[k] for k in self.input_keys if k in state}


def _misfit(key: str, hint: Any, value: Any, exc: ValidationError) -> str:
    """Why `value` does not fit `hint`: its type, or (the type right) the bound it breaks."""
    error = exc.errors()[0]
    text = repr(value)
    shown = text if len(text) <= 60 else f"{text[:57]}..."
    wanted = _type_name(hint)
    if str(error["type"]).endswith("_type") or error["loc"]:  # a wrong type, or inside one
        where = "".join(f"[{part!r}]" for part in error["loc"])
        return (
            f"input key {key!r} should be {wanted}, got {type(value).__name__} {shown}"
            f"{f': at {where}, ' if where else ': '}{error['msg'][0].lower()}{error['msg'][1:]}"
        )
    message = str(error["msg"])  # e.g. "String should have at least 1 character"
    bound = "should" + message.split("should", 1)[1] if "should" in message else message
    return f"input key {key!r} is {shown}, out of bounds: it {bound} ({wanted})"


def _type_name(hint: Any) -> str:
    """`hint` as Python writes it, without `Annotated` metadata: `list[str]`, not the repr."""
    if get_origin(hint) is Annotated:
        return _type_name(get_args(hint)[0])
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, UnionType):
        return " | ".join("None" if a is type(None) else _type_name(a) for a in args)
    if origin is not None and args and hasattr(origin, "__name__"):
        return f"{origin.__name__}[{', '.join(_type_name(a) for a in args)}]"
    return getattr(hint, "__name__", None) or repr(hint).replace("typing.", "")


def checkpointer_of(config: RunnableConfig | None) -> Any:
    """The checkpointer the running graph saves to, or `None`.

    Read at run time, not when the graph is built: a graph compiled without one inherits its
    parent's as a subgraph, and `langgraph dev` gives every graph one.
    """
    return (config or {}).get("configurable", {}).get(CONFIG_KEY_CHECKPOINTER)


def check_saveable(
    values: Sequence[tuple[str, Any]], config: RunnableConfig | None, error: type[ValueError]
) -> None:
    """Raise `error`, naming the value, if the graph's checkpointer could not save one of them.

    Without a checkpointer anything goes. LangGraph itself would only fail when saving, deep
    in a run, with a bare `TypeError` that names neither the value nor the fix. The batch is
    serialised once; values are tried one by one only when that fails.
    """
    serde = getattr(checkpointer_of(config), "serde", None)
    if serde is None:
        return
    try:
        serde.dumps_typed([value for _, value in values])
        return
    except Exception:
        pass
    for label, value in values:
        try:
            serde.dumps_typed(value)
        except Exception as exc:
            raise error(
                f"{label} ({type(value).__name__}) cannot be saved by the checkpointer "
                f"({type(exc).__name__}: {exc}); use plain data (dicts, lists, strings, "
                "numbers) or Pydantic models, or compile without a checkpointer"
            ) from None
