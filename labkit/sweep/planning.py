"""Planning a batch of notebook runs: grids of parameter values, checked and expanded into runs.

A `Run` is one combination of parameter values and the id that names its folder. The id is a
readable label (the parameters the sweep varies) then a digest of every parameter value; the
digest alone identifies the run, so a later sweep finds it whatever the label says.

Example:

>>> runs = plan_sweep("notebooks/weight_norm.ipynb", {"model": ["regular", "weightnorm"]})
>>> [run.run_id for run in runs]
['model=regular-9b2cfef5', 'model=weightnorm-053bd4d9']
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import nbformat
import yaml

from labkit.notebook_contract import validate_notebook_parameters
from labkit.sweep.parameters import (
    OUTPUT_DIR_PARAMETER,
    existing_notebook,
    notebook_parameters,
    parse_value,
)

__all__ = [
    "MAX_RUNS",
    "Run",
    "default_validator",
    "expand_grid",
    "load_grid_file",
    "load_yaml_mapping",
    "params_digest",
    "parse_seeds",
    "plan_sweep",
    "run_id",
]

# More runs than this in one plan is a typo (`--seeds 0-100000000`), not a sweep.
MAX_RUNS = 100_000


@dataclasses.dataclass(frozen=True)
class Run:
    """One combination of parameter values, and the id that names its folder."""

    run_id: str
    params: dict[str, Any]


def params_digest(params: Mapping[str, Any]) -> str:
    """Returns the 8-hex-digit digest of a run's parameter values: what identifies the run.

    It covers every value, with names sorted, so neither order nor labels change it.

    Example:

    >>> params_digest({"model": "regular", "seed": 0, "epochs": 10})
    '1833b3c1'
    """
    canonical = json.dumps(params, sort_keys=True, default=str)
    return hashlib.sha1(canonical.encode()).hexdigest()[:8]


def run_id(params: Mapping[str, Any], label_names: Iterable[str] = ()) -> str:
    """Returns a stable id for a run: a readable label, then a digest of all its parameters.

    The digest (`params_digest`) only changes when a value does; `label_names` picks the
    parameters shown in front (a sweep shows those it varies).

    Example:

    >>> run_id({"model": "regular", "seed": 0, "epochs": 10}, label_names=["model", "seed"])
    'model=regular,seed=0-1833b3c1'
    """
    digest = params_digest(params)
    label = ",".join(f"{name}={_label_value(params[name])}" for name in label_names)
    return f"{label[:80]}-{digest}" if label else digest


def _label_value(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, bool) else str(value)
    return re.sub(r"[^\w.+-]", "_", text)


def parse_seeds(text: str) -> list[int]:
    """Parses a seed list: comma-separated integers and inclusive ranges.

    Example:

    >>> parse_seeds("0-2,7")
    [0, 1, 2, 7]
    """
    seeds: dict[int, None] = {}
    for item in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", item)
        if match is None or (match[2] is not None and int(match[2]) < int(match[1])):
            raise ValueError(
                "Invalid seeds: expected comma-separated integers or ranges like `0-4`. "
                f"Received: `seeds={text!r}`"
            )
        first, last = int(match[1]), int(match[2] or match[1])
        if len(seeds) + last - first + 1 > MAX_RUNS:
            raise ValueError(
                f"Invalid seeds: expected at most {MAX_RUNS} seeds. Received: `seeds={text!r}`"
            )
        seeds.update(dict.fromkeys(range(first, last + 1)))
    return list(seeds)


def load_grid_file(path: str | os.PathLike) -> dict[str, Any]:
    """Reads a YAML grid: a mapping of parameter names to a list of values, or one value.

    Example:

    >>> Path("grid.yaml").write_text("model: [regular, weightnorm]\\nepochs: 10\\n")
    >>> load_grid_file("grid.yaml")
    {'model': ['regular', 'weightnorm'], 'epochs': 10}
    """
    return load_yaml_mapping(path, "grid", "values")


def load_yaml_mapping(path: str | os.PathLike, kind: str, expected: str) -> dict[str, Any]:
    """Reads a YAML file that maps parameter names to `expected` things; `kind` names the file.

    Example:

    >>> load_yaml_mapping("space.yaml", "space", "distributions")
    {'learning_rate': {'type': 'float', 'low': 0.0001, 'high': 0.1, 'log': True}}
    """
    if not Path(path).is_file():
        raise FileNotFoundError(
            f"{kind.capitalize()} file not found. Received: `{kind}={str(path)!r}`"
        )
    try:
        mapping = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ValueError(
            f"The {kind} file is not valid YAML: {_one_line(error)}. "
            f"Received: `{kind}={str(path)!r}`"
        ) from None
    if not isinstance(mapping, dict):
        raise ValueError(
            f"A {kind} file must map parameter names to {expected}. "
            f"Received: a {type(mapping).__name__} in `{path}`"
        )
    return mapping


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (YAML requires unique keys;
    PyYAML would keep the last value silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            with contextlib.suppress(TypeError):  # an unhashable key is the base class's error
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _one_line(error: Exception) -> str:
    """A YAML error as one line: what is wrong and where."""
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        return f"{error.problem} (line {mark.line + 1}, column {mark.column + 1})"
    return " ".join(str(error).split())


def expand_grid(grid: Mapping[str, Iterable[Any]]) -> list[dict[str, Any]]:
    """Returns every combination of the grid's values, the last name varying fastest.

    Example:

    >>> expand_grid({"model": ["regular", "weightnorm"], "seed": [0, 1]})[:2]
    [{'model': 'regular', 'seed': 0}, {'model': 'regular', 'seed': 1}]
    """
    return [dict(zip(grid, values)) for values in itertools.product(*grid.values())]


def default_validator(notebook: str | os.PathLike) -> Callable[[dict[str, Any]], None] | None:
    """Returns labkit's own parameter check when `notebook` imports labkit, else None.

    Example:

    >>> validator = default_validator("notebooks/weight_norm.ipynb")
    >>> validator({"optimizer": "foo"})
    Traceback (most recent call last):
    ValueError: Invalid value for `optimizer`: expected one of 'adam', 'sgd', 'rmsprop', ...
    """
    cells = nbformat.read(existing_notebook(notebook), as_version=4).cells
    if not any(cell.cell_type == "code" and "labkit" in cell.source for cell in cells):
        return None
    return validate_notebook_parameters


def check_grid(notebook: str | os.PathLike, grid: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Checks a grid's names and values against the notebook's parameters; returns the axes.

    Every name must be a notebook parameter other than `output_dir`, and every value must parse
    to its type. Each axis is a list of distinct values.

    Example:

    >>> check_grid("notebooks/weight_norm.ipynb", {"epochs": "3", "seed": [0, 1]})
    {'epochs': [3], 'seed': [0, 1]}
    """
    types = notebook_parameters(notebook)
    if not types:
        raise ValueError(
            f"The notebook has no cell tagged `parameters`, so it cannot be swept. "
            f"Received: `notebook={str(notebook)!r}`"
        )
    axes = {}
    for name, values in grid.items():
        if name not in types:
            raise ValueError(
                f"Unknown parameter `{name}` for {Path(notebook).name}. "
                f"Expected one of: {', '.join(types)}. Received: `{name}`"
            )
        if name == OUTPUT_DIR_PARAMETER:
            raise ValueError(
                f"`{name}` is set to each run's own folder; set the runs folder (`--out`) "
                f"instead. Received: `{name}={values!r}`"
            )
        values = values if isinstance(values, (list, tuple)) else [values]
        if not values:
            raise ValueError(f"Parameter `{name}` needs at least one value. Received: `{name}=[]`")
        axes[name] = list(dict.fromkeys(parse_value(name, value, types[name]) for value in values))
    count = math.prod(len(values) for values in axes.values())
    if count > MAX_RUNS:
        raise ValueError(
            f"A sweep may hold at most {MAX_RUNS} runs. Received: a grid of {count} runs "
            f"({' x '.join(str(len(values)) for values in axes.values())})"
        )
    return axes


def plan_sweep(
    notebook: str | os.PathLike,
    grid: Mapping[str, Any],
    *,
    validator: Callable[[dict[str, Any]], None] | None = None,
) -> list[Run]:
    """Checks a grid against the notebook's parameters and expands it into runs.

    Every name must be a notebook parameter and every value must parse to its type; `validator`,
    when given, then sees each combination and raises ValueError to reject one. Nothing runs.

    Example:

    >>> notebook = "notebooks/weight_norm.ipynb"
    >>> runs = plan_sweep(notebook, {"model": "weightnorm", "data_init": ["true", "false"]},
    ...                   validator=default_validator(notebook))
    >>> [run.params for run in runs]
    [{'model': 'weightnorm', 'data_init': True}, {'model': 'weightnorm', 'data_init': False}]
    """
    axes = check_grid(notebook, grid)
    combinations = expand_grid(axes)
    if validator is not None:
        for params in combinations:
            validator(params)
    varying = [name for name, values in axes.items() if len(values) > 1]
    return [Run(run_id(params, varying), params) for params in combinations]
