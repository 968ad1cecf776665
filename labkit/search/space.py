"""A search space: each parameter searched, with its distribution, read from a YAML space file.

A space file maps parameter names to distributions. A number range is `float` (optionally on a
log scale, or in steps) or `int`; a set of values is `categorical`, or just a list:

    learning_rate: {type: float, low: 1.0e-4, high: 0.1, log: true}
    batch_size: {type: int, low: 16, high: 128, step: 16}
    optimizer: {type: categorical, choices: [adam, sgd, rmsprop]}
    data_init: [true, false]

This module checks each entry's shape; `labkit.search.planning` checks the names and values
against the notebook.

Example:

>>> dimension = parse_dimension("learning_rate", {"type": "float", "low": 1e-4, "high": 0.1,
...                                                "log": True})
>>> dimension.distribution()
FloatDistribution(high=0.1, log=True, low=0.0001, step=None)
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from labkit._checks import is_int, is_number, quoted
from labkit.sweep.planning import load_yaml_mapping

__all__ = [
    "FLOAT",
    "INT",
    "CATEGORICAL",
    "KINDS",
    "Dimension",
    "load_space_file",
    "parse_dimension",
]

FLOAT = "float"
INT = "int"
CATEGORICAL = "categorical"
KINDS = (FLOAT, INT, CATEGORICAL)
# The keys each kind of entry may have (`type` and those without a default are required).
_KEYS = {
    FLOAT: ("type", "low", "high", "log", "step"),
    INT: ("type", "low", "high", "log", "step"),
    CATEGORICAL: ("type", "choices"),
}
_REQUIRED = {FLOAT: ("low", "high"), INT: ("low", "high"), CATEGORICAL: ("choices",)}
# The parameter types (see `labkit.sweep.notebook_parameters`) each kind can set; None: unknown.
_PARAMETER_TYPES = {FLOAT: ("float", None), INT: ("int", "float", None)}


def load_space_file(path: str | os.PathLike) -> dict[str, Any]:
    """Reads a YAML space file: a mapping of parameter names to distributions.

    Example:

    >>> load_space_file("space.yaml")
    {'learning_rate': {'type': 'float', 'low': 0.0001, 'high': 0.1, 'log': True}}
    """
    return load_yaml_mapping(path, "space", "distributions")


@dataclasses.dataclass(frozen=True)
class Dimension:
    """One searched parameter: its kind and range (`low`, `high`, `log`, `step`) or `choices`.

    Example:

    >>> Dimension("optimizer", CATEGORICAL, choices=("adam", "sgd")).edge_values()
    ['adam', 'sgd']
    """

    name: str
    kind: str
    low: Any = None
    high: Any = None
    log: bool = False
    step: Any = None
    choices: tuple[Any, ...] = ()

    def edge_values(self) -> list[Any]:
        """The values that stand for the whole range in checks: both ends, or every choice.

        Example:

        >>> Dimension("epochs", INT, low=1, high=20).edge_values()
        [1, 20]
        """
        return list(self.choices) if self.kind == CATEGORICAL else [self.low, self.high]

    def value_type(self, parameter_type: str | None) -> str | None:
        """The type this dimension's values take for a parameter of `parameter_type`.

        Example:

        >>> Dimension("learning_rate", INT, low=1, high=3).value_type("float")
        'int'
        """
        return parameter_type if self.kind == CATEGORICAL else self.kind

    def with_values(self, convert: Callable[[Any], Any]) -> Dimension:
        """A copy whose `low`, `high`, `step` and choices went through `convert(value)`;
        choices that become equal are merged.

        Example:

        >>> Dimension("epochs", INT, low="1", high="20").with_values(int).high
        20
        """
        if self.kind == CATEGORICAL:
            choices = tuple(dict.fromkeys(map(convert, self.choices)))
            return dataclasses.replace(self, choices=choices)
        step = None
        if self.step is not None:
            try:
                step = convert(self.step)
            except ValueError:  # the step is no value of the parameter: say it is the step
                self._fail(self._step_expected())
        return dataclasses.replace(self, low=convert(self.low), high=convert(self.high), step=step)

    def check_kind(self, parameter_type: str | None) -> None:
        """Checks that this kind of distribution suits a parameter of `parameter_type`.

        Raises:
            ValueError: one line naming the parameter and the kinds allowed.

        Example:

        >>> Dimension("epochs", FLOAT, low=1.0, high=5.0).check_kind("int")
        Traceback (most recent call last):
        ValueError: Invalid search space for `epochs`: expected `type: int` or ...
        """
        # A union (`"int | str"`, see `labkit.sweep.parameters.parse_value`) suits a kind one
        # member suits.
        members = parameter_type.split(" | ") if parameter_type else [parameter_type]

        def suits(kind: str) -> bool:
            return any(member in _PARAMETER_TYPES[kind] for member in members)

        if self.kind != CATEGORICAL and not suits(self.kind):
            kinds = [kind for kind in _PARAMETER_TYPES if suits(kind)]
            allowed = " or ".join(f"`type: {kind}`" for kind in [*kinds, CATEGORICAL])
            self._fail(f"{allowed} for a parameter of type {parameter_type}")

    def check_range(self) -> None:
        """Checks `low`, `high`, `log` and `step`, once they have their type (`with_values`).

        Raises:
            ValueError: one line naming the parameter and what is allowed.

        Example:

        >>> Dimension("learning_rate", FLOAT, low=0.0, high=0.1, log=True).check_range()
        Traceback (most recent call last):
        ValueError: Invalid search space for `learning_rate`: expected `low` > 0 on a log scale. ...
        """
        if self.kind == CATEGORICAL:
            return
        is_valid = is_int if self.kind == INT else is_number
        if not (is_valid(self.low) and is_valid(self.high)):
            self._fail(f"`low` and `high` that are {'integers' if self.kind == INT else 'numbers'}")
        if not self.low < self.high:
            self._fail("`low` < `high` (a single value is a fixed parameter: `-p NAME VALUE`)")
        if self.log and self.low <= 0:
            self._fail("`low` > 0 on a log scale")
        if self.step is not None:
            if not (is_valid(self.step) and self.step > 0 and math.isfinite(self.step)):
                self._fail(self._step_expected())
            if self.log and not (self.kind == INT and self.step == 1):
                self._fail("either `log: true` or a `step`, not both")

    def distribution(self) -> BaseDistribution:
        """The Optuna distribution of a checked dimension.

        Example:

        >>> Dimension("epochs", INT, low=1, high=20).distribution()
        IntDistribution(high=20, log=False, low=1, step=1)
        """
        if self.kind == CATEGORICAL:
            return CategoricalDistribution(self.choices)
        if self.kind == INT:
            return IntDistribution(self.low, self.high, log=self.log, step=self.step or 1)
        return FloatDistribution(self.low, self.high, log=self.log, step=self.step)

    def grid_values(self) -> list[Any]:
        """Every value a grid search tries: each choice, or the range walked in steps.

        Example:

        >>> Dimension("learning_rate", FLOAT, low=0.1, high=0.3, step=0.1).grid_values()
        [0.1, 0.2, 0.3]
        """
        if self.kind == CATEGORICAL:
            return list(self.choices)
        if self.log or (self.kind == FLOAT and self.step is None):
            self._fail(
                "a `step` (and no `log: true`), or `type: categorical`, for a grid search, "
                "which tries each value"
            )
        step = self.step or 1
        count = math.floor((self.high - self.low) / step + 1e-9) + 1
        values = [self.low + index * step for index in range(count)]
        return values if self.kind == INT else [round(value, 12) for value in values]

    def _step_expected(self) -> str:
        return f"a `step` > 0{' that is an integer' if self.kind == INT else ''}"

    def _fail(self, expected: str) -> None:
        raise ValueError(
            f"Invalid search space for `{self.name}`: expected {expected}. "
            f"Received: `{self.name}={self._entry()}`"
        )

    def _entry(self) -> dict[str, Any]:
        if self.kind == CATEGORICAL:
            return {"type": CATEGORICAL, "choices": list(self.choices)}
        entry = {"type": self.kind, "low": self.low, "high": self.high}
        if self.log:
            entry["log"] = True
        if self.step is not None:
            entry["step"] = self.step
        return entry


def parse_dimension(name: str, entry: Any) -> Dimension:
    """Reads one entry of a space file: a list of choices, or a mapping with a `type`.

    Only the entry's shape is checked here: its keys, its kind, `log` and the choices.

    Raises:
        ValueError: one line naming the parameter and what is allowed.

    Example:

    >>> parse_dimension("optimizer", ["adam", "sgd"])
    Dimension(name='optimizer', kind='categorical', low=None, high=None, log=False, step=None, \
choices=('adam', 'sgd'))
    """

    def fail(expected: str) -> ValueError:
        return ValueError(
            f"Invalid search space for `{name}`: expected {expected}. Received: `{name}={entry!r}`"
        )

    if isinstance(entry, list):
        entry = {"type": CATEGORICAL, "choices": entry}
    if not isinstance(entry, Mapping):
        raise fail(f"a list of choices, or a mapping with `type` one of {quoted(KINDS)}")
    kind = entry.get("type")
    if kind not in KINDS:
        raise fail(f"`type` one of {quoted(KINDS)}")
    unknown = [key for key in entry if key not in _KEYS[kind]]
    missing = [key for key in _REQUIRED[kind] if key not in entry]
    if unknown or missing:
        raise fail(
            f"the keys {', '.join(_KEYS[kind])} for `type: {kind}`, with "
            f"{' and '.join(_REQUIRED[kind])}"
        )
    if kind == CATEGORICAL:
        choices = entry["choices"]
        if not isinstance(choices, list) or not choices:
            raise fail("a non-empty list of `choices`")
        if not all(
            choice is None or isinstance(choice, (bool, int, float, str)) for choice in choices
        ):
            raise fail("choices that are booleans, numbers, strings or null")
        return Dimension(name, CATEGORICAL, choices=tuple(choices))
    log = entry.get("log", False)
    if not isinstance(log, bool):
        raise fail("`log` true or false")
    return Dimension(
        name, kind, low=entry["low"], high=entry["high"], log=log, step=entry.get("step")
    )
