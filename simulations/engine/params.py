"""Parameter declarations: one per parameter, driving validation, controls, OpenAPI and CLI."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["int", "float", "choice", "bool", "int_list"]

SEED_MAX = 2**32 - 1
_INT_RE = re.compile(r"^[+-]?[0-9]+$")


class ParamError(ValueError):
    """A parameter value a reader sent that we refuse, with a message naming the fix."""

    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.name = name
        self.message = message


def _fmt(x: float | int | None) -> str:
    """Format a bound the way a person would type it (no trailing .0)."""
    if x is None:
        return ""
    if float(x).is_integer():
        return str(int(x))
    return f"{x:g}"


@dataclass(frozen=True)
class Param:
    """One simulation parameter: everything the UI, the API and the validator need."""

    name: str
    kind: Kind
    default: Any
    label: str
    help: str = ""
    min: float | None = None
    max: float | None = None
    step: float | None = None
    unit: str = ""
    choices: tuple[str, ...] = ()
    scale: Literal["linear", "log"] = "linear"
    max_items: int = 10
    choice_labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind in ("int", "float", "int_list") and (self.min is None or self.max is None):
            raise TypeError(f"parameter {self.name}: numeric kinds need min and max")
        if self.kind == "choice" and not self.choices:
            raise TypeError(f"parameter {self.name}: a choice needs choices")
        if self.scale == "log" and (self.min is None or self.min <= 0):
            raise TypeError(f"parameter {self.name}: a log scale needs min > 0")
        # The default must itself be valid, or every page would start broken.
        self.parse(self.to_query(self.default))

    # -- describing -------------------------------------------------------------------
    def describe(self) -> str:
        """The allowed values in words: 'a whole number between 1 and 500'."""
        lo, hi = _fmt(self.min), _fmt(self.max)
        match self.kind:
            case "int":
                return f"a whole number between {lo} and {hi}"
            case "float":
                return f"a number between {lo} and {hi}"
            case "bool":
                return "0 or 1"
            case "choice":
                return "one of " + ", ".join(self.choices)
            case "int_list":
                return (
                    f"a comma-separated list of up to {self.max_items} whole numbers "
                    f"between {lo} and {hi}"
                )
        raise AssertionError(self.kind)  # pragma: no cover

    def error(self, detail: str = "") -> ParamError:
        msg = f"{self.name} must be {self.describe()}"
        if detail:
            msg += f" ({detail})"
        return ParamError(self.name, msg)

    # -- parsing ----------------------------------------------------------------------
    def parse(self, raw: Any) -> Any:
        """Turn a raw value (usually a query-string text) into a valid value, or raise."""
        if isinstance(raw, str):
            raw = raw.strip()
        match self.kind:
            case "int":
                value = self._parse_int(raw)
                self._check_range(value, raw)
                return value
            case "float":
                value = self._parse_float(raw)
                self._check_range(value, raw)
                return value
            case "bool":
                if isinstance(raw, bool):
                    return raw
                text = str(raw).lower()
                if text in ("1", "true", "on", "yes"):
                    return True
                if text in ("0", "false", "off", "no"):
                    return False
                raise self.error(f"got {str(raw)[:40]!r}")
            case "choice":
                if raw in self.choices:
                    return raw
                raise self.error(f"got {str(raw)[:40]!r}")
            case "int_list":
                items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
                if not items or len(items) > self.max_items:
                    raise self.error(f"got {len(items)} items")
                values = tuple(self._parse_int(x.strip() if isinstance(x, str) else x)
                               for x in items)
                for v in values:
                    self._check_range(v, raw)
                return values
        raise AssertionError(self.kind)  # pragma: no cover

    def _parse_int(self, raw: Any) -> int:
        if isinstance(raw, bool):
            raise self.error(f"got {raw!r}")
        if isinstance(raw, int):
            return raw
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        text = str(raw)
        if len(text) > 20 or not _INT_RE.match(text):
            raise self.error(f"got {text[:40]!r}")
        return int(text)

    def _parse_float(self, raw: Any) -> float:
        if isinstance(raw, bool):
            raise self.error(f"got {raw!r}")
        if isinstance(raw, int | float):
            value = float(raw)
        else:
            text = str(raw)
            if len(text) > 40 or not text.isascii() or "_" in text:
                raise self.error(f"got {text[:40]!r}")
            try:
                value = float(text)
            except ValueError:
                raise self.error(f"got {text!r}") from None
        if not math.isfinite(value):
            raise self.error(f"got {raw!r}")
        return value

    def _check_range(self, value: float, raw: Any) -> None:
        assert self.min is not None
        assert self.max is not None
        if not (self.min <= value <= self.max):
            raise self.error(f"got {str(raw)[:40]}")

    # -- serialising ------------------------------------------------------------------
    def to_query(self, value: Any) -> str:
        """The value as it appears in a URL, so that parse(to_query(v)) == v."""
        match self.kind:
            case "bool":
                return "1" if value else "0"
            case "int_list":
                return ",".join(str(int(v)) for v in value)
            case "float":
                return _fmt(value) if float(value).is_integer() else repr(float(value))
            case _:
                return str(value)

    def to_json(self, value: Any) -> Any:
        """The value as it appears in JSON results."""
        if self.kind == "int_list":
            return list(value)
        return value

    def json_schema(self) -> dict[str, Any]:
        """An OpenAPI 3.1 / JSON Schema fragment for this parameter's query value."""
        schema: dict[str, Any] = {"default": self.to_query(self.default)}
        match self.kind:
            case "int":
                schema |= {"type": "integer", "minimum": int(self.min), "maximum": int(self.max)}
            case "float":
                schema |= {"type": "number", "minimum": self.min, "maximum": self.max}
                schema["default"] = self.default
            case "bool":
                schema |= {"type": "integer", "enum": [0, 1]}
                schema["default"] = int(bool(self.default))
            case "choice":
                schema |= {"type": "string", "enum": list(self.choices)}
            case "int_list":
                schema |= {
                    "type": "string",
                    "pattern": r"^\d+(,\d+)*$",
                    "description": self.describe(),
                }
        if self.kind == "int":
            schema["default"] = self.default
        return schema


def check_work(params: Any, factors: tuple[str, str], limit: int) -> None:
    """Refuse a run whose work (the product of two parameters) exceeds `limit`.

    The message names the limit and the fix: the largest value of the second factor
    that fits, given the first.
    """
    a, b = factors
    first, second = getattr(params, a), getattr(params, b)
    if first * second > limit:
        raise ParamError(
            b,
            f"{a} × {b} must be at most {limit:,} (got {first * second:,}): "
            f"lower {b} to {limit // first:,} or fewer",
        )


SEED = Param(
    name="seed",
    kind="int",
    default=42,
    min=0,
    max=SEED_MAX,
    label="Seed",
    help="Random seed: the same parameters and seed always give the same numbers.",
)
