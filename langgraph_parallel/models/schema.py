"""Make a value that satisfies a JSON schema: the simulated model's structured output."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

_WORDS = [
    "river",
    "signal",
    "harbor",
    "lantern",
    "orbit",
    "meadow",
    "quartz",
    "ember",
    "summit",
    "canyon",
    "glacier",
    "willow",
    "beacon",
    "copper",
    "delta",
    "falcon",
    "granite",
    "horizon",
    "island",
    "juniper",
]


class SchemaFiller:
    """Builds values for a JSON schema from a seeded random source.

    Free-text strings start with `marker` so nobody mistakes them for real output;
    enums, numbers and formats stay valid for the schema.

    Args:
        schema: The root schema (its `$defs`/`definitions` resolve `$ref`s).
        rng: The random source; the same seed gives the same values.
        bias: An optional preferred choice for enums (index into the enum), so that
            several samples mostly agree, as a real model's samples would.
        marker: What free-text strings start with.
    """

    def __init__(
        self,
        schema: Mapping[str, Any],
        rng: random.Random,
        *,
        bias: int | None = None,
        marker: str = "[simulated]",
    ) -> None:
        self.root = schema
        self.rng = rng
        self.bias = bias
        self.marker = marker

    def fill(
        self, schema: Mapping[str, Any] | None = None, *, name: str = "value", depth: int = 0
    ) -> Any:
        """A value for `schema` (default: the root schema)."""
        schema = self.root if schema is None else schema
        if "$ref" in schema:
            return self.fill(self._resolve(schema["$ref"]), name=name, depth=depth)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return self._choose(list(schema["enum"]))
        for key in ("anyOf", "oneOf"):
            if key in schema:
                options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
                return self.fill(options[0], name=name, depth=depth)
        if "allOf" in schema:
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                part = self._resolve(part["$ref"]) if "$ref" in part else part
                merged = _merge(merged, part)
            return self.fill(merged, name=name, depth=depth)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None:
            kind = "object" if "properties" in schema else "string"
        return getattr(self, f"_{kind}", self._string)(schema, name, depth)

    def _resolve(self, ref: str) -> Mapping[str, Any]:
        node: Any = self.root
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        return node  # type: ignore[no-any-return]

    def _choose(self, options: list[Any]) -> Any:
        if self.bias is not None and self.rng.random() < 0.75:
            return options[self.bias % len(options)]
        return self.rng.choice(options)

    def _object(self, schema: Mapping[str, Any], name: str, depth: int) -> dict[str, Any]:
        properties = schema.get("properties", {})
        required = set(schema.get("required", properties))
        return {
            key: self.fill(sub, name=key, depth=depth + 1)
            for key, sub in properties.items()
            if key in required or depth < 2
        }

    def _array(self, schema: Mapping[str, Any], name: str, depth: int) -> list[Any]:
        low = schema.get("minItems", 1 if depth < 3 else 0)
        high = max(low, min(schema.get("maxItems", low + 2), low + 5))
        items = schema.get("items", {"type": "string"})
        singular = name[:-1] if name.endswith("s") else name
        return [
            self.fill(items, name=singular, depth=depth + 1)
            for _ in range(self.rng.randint(low, high))
        ]

    def _string(self, schema: Mapping[str, Any], name: str, depth: int) -> str:
        fmt = schema.get("format")
        if fmt == "date-time":
            return f"2026-01-{self.rng.randint(10, 28)}T09:00:00Z"
        if fmt == "date":
            return f"2026-01-{self.rng.randint(10, 28)}"
        if fmt == "email":
            return f"{self.rng.choice(_WORDS)}@example.com"
        if fmt in ("uri", "url"):
            return f"https://example.com/{self.rng.choice(_WORDS)}/{self.rng.randint(1, 999)}"
        words = " ".join(self.rng.choice(_WORDS) for _ in range(self.rng.randint(2, 5)))
        text = f"{self.marker} {name.replace('_', ' ')}: {words}"
        low, high = schema.get("minLength", 0), schema.get("maxLength")
        if high is not None and len(text) > high:
            text = text[:high]
        return text.ljust(low, "x")

    def _integer(self, schema: Mapping[str, Any], name: str, depth: int) -> int:
        low, high = _bounds(schema, 0, 10)
        return self.rng.randint(int(-(-low // 1)), int(high // 1))

    def _number(self, schema: Mapping[str, Any], name: str, depth: int) -> float:
        low, high = _bounds(schema, 0.0, 1.0)
        return round(self.rng.uniform(low, high), 3)

    def _boolean(self, schema: Mapping[str, Any], name: str, depth: int) -> bool:
        return self.rng.random() < 0.5

    def _null(self, schema: Mapping[str, Any], name: str, depth: int) -> None:
        return None


def _bounds(schema: Mapping[str, Any], low: float, high: float) -> tuple[float, float]:
    step = 1 if schema.get("type") == "integer" else 1e-3
    lo = schema.get(
        "minimum", schema["exclusiveMinimum"] + step if "exclusiveMinimum" in schema else None
    )
    hi = schema.get(
        "maximum", schema["exclusiveMaximum"] - step if "exclusiveMaximum" in schema else None
    )
    if lo is None and hi is None:
        return low, high
    if lo is None:
        return min(low, hi - (high - low)), hi
    if hi is None:
        return lo, lo + (high - low)
    return lo, hi


def _merge(left: dict[str, Any], right: Mapping[str, Any]) -> dict[str, Any]:
    merged = {**left, **right}
    if "properties" in left or "properties" in right:
        merged["properties"] = {**left.get("properties", {}), **right.get("properties", {})}
        merged["required"] = [*left.get("required", []), *right.get("required", [])]
    return merged
