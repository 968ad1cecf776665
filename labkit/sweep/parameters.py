"""A notebook's parameters: their types, read from its `parameters` cell, and values parsed to them.

Example:

>>> types = notebook_parameters("notebooks/weight_norm.ipynb")
>>> parse_value("epochs", "10", types["epochs"])
10
"""

from __future__ import annotations

import ast
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import papermill

__all__ = [
    "OUTPUT_DIR_PARAMETER",
    "existing_notebook",
    "notebook_defaults",
    "notebook_parameters",
    "parse_value",
]

# The parameter a batch run sets to each run's own folder, when the notebook has it.
OUTPUT_DIR_PARAMETER = "output_dir"

_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
_EXPECTED = {
    "bool": "a bool (true/false, yes/no, 1/0)",
    "int": "an int",
    "float": "a finite float",
    "str": "a str",
}


def existing_notebook(notebook: str | os.PathLike) -> Path:
    """Returns `notebook` as a `Path`, or raises `FileNotFoundError` if it is not a file.

    Example:

    >>> existing_notebook("notebooks/weight_norm.ipynb").name
    'weight_norm.ipynb'
    """
    if not Path(notebook).is_file():
        raise FileNotFoundError(f"Notebook not found. Received: `notebook={str(notebook)!r}`")
    return Path(notebook)


def notebook_parameters(notebook: str | os.PathLike) -> dict[str, str | None]:
    """Returns the names of a notebook's parameters mapped to their type.

    The type is the annotation (`epochs: int = 10`) or type comment (`# type: int`) when the
    `parameters` cell declares one, else the type of the default value; one of "bool", "int",
    "float", "str", a union of them (`Union[int, str]` or `int | str`, given as `"int | str"`),
    or None when neither says.

    Example:

    >>> notebook_parameters("notebooks/weight_norm.ipynb")["epochs"]
    'int'
    """
    inferred = papermill.inspect_notebook(str(existing_notebook(notebook)))
    return {name: _parameter_type(parameter) for name, parameter in inferred.items()}


def notebook_defaults(notebook: str | os.PathLike) -> dict[str, Any]:
    """Returns the default value of each of a notebook's parameters, typed as `parse_value` types
    a value given for it; defaults that are not literals, and `output_dir`, are left out.

    Example:

    >>> notebook_defaults("notebooks/weight_norm.ipynb")["epochs"]
    10
    """
    inferred = papermill.inspect_notebook(str(existing_notebook(notebook)))
    defaults = {}
    for name, parameter in inferred.items():
        if name == OUTPUT_DIR_PARAMETER:
            continue
        try:
            value = ast.literal_eval(parameter["default"])
            defaults[name] = parse_value(name, value, _parameter_type(parameter))
        except (ValueError, SyntaxError, TypeError):
            continue
    return defaults


def _parameter_type(parameter: Mapping[str, str]) -> str | None:
    declared = _union(parameter["inferred_type_name"])
    if declared:
        return declared
    try:
        default = ast.literal_eval(parameter["default"])
    except (ValueError, SyntaxError):
        return None
    name = type(default).__name__
    return name if name in _EXPECTED else None


def parse_value(name: str, value: Any, type_name: str | None) -> Any:
    """Converts a command-line string or YAML value to the parameter's type.

    Strings are parsed (bools accept true/false, yes/no, 1/0); values that are already typed, as
    YAML gives them, must match. Floats must be finite: `nan` and `inf` are refused. A union
    (`"int | str"`) takes the first of its types that the value parses as. A parameter of
    unknown type takes a Python literal, or the string.

    Example:

    >>> parse_value("data_init", "no", "bool")
    False
    >>> parse_value("learning_rate", "1e-3", "float")
    0.001
    >>> parse_value("steps_per_execution", "32", "int | str")
    32
    """
    if type_name not in _CONVERTERS and type_name is not None and "|" in type_name:
        members = type_name.split(" | ")
    else:
        members = [type_name]
    for member in members:
        try:
            return _CONVERTERS.get(member, _to_literal)(value)
        except ValueError:
            continue
    expected = " or ".join(_EXPECTED[member] for member in members)
    raise ValueError(
        f"Invalid value for `{name}`: expected {expected}. Received: `{name}={value!r}`"
    )


def _union(declared: str) -> str | None:
    """`"int"`, `"Union[int, str]"` or `"int | str"` as `"int"` or `"int | str"`; None unless
    every member is a type `parse_value` knows."""
    text = declared.strip()
    if text.startswith("Union[") and text.endswith("]"):
        text = text[len("Union[") : -1].replace(",", "|")
    members = [member.strip() for member in text.split("|")]
    if not all(member in _EXPECTED for member in members):
        return None
    return " | ".join(members)


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _BOOLEANS:
        return _BOOLEANS[value.strip().lower()]
    raise ValueError(value)


def _to_int(value: Any) -> int:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return int(value)
    raise ValueError(value)


def _to_float(value: Any) -> float:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        number = float(value)
        if math.isfinite(number):
            return number
    raise ValueError(value)


def _to_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise ValueError(value)


def _to_literal(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


_CONVERTERS = {"bool": _to_bool, "int": _to_int, "float": _to_float, "str": _to_str}
