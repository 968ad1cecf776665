"""Planning a search: its space, fixed parameters, seeds and objective, checked before any trial.

Every name must be a notebook parameter, every value must parse to its type, and each
distribution must suit its parameter (a `float` range for an `int` parameter is refused). For a
notebook that imports labkit, labkit's own validation then sees every combination of the
fixed values with the ends of each range and every choice, so a value the notebook would refuse
fails here, in one line, before anything runs; such a notebook must also train one model per run
(`model` one of its variants), since a trial's value is that model's.

A trial's parameters become one run per seed, in the sweep's folder layout (`labkit.sweep`).

Example:

>>> plan = plan_search("notebooks/weight_norm.ipynb",
...                    {"learning_rate": {"type": "float", "low": 1e-4, "high": 0.1, "log": True}},
...                    {"model": "weightnorm", "epochs": "3"}, objective="val_accuracy", seeds=2)
>>> [run.run_id for run in plan.runs({"learning_rate": 0.01})]
['learning_rate=0.01,seed=0-…', 'learning_rate=0.01,seed=1-…']
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Mapping
from typing import Any

from optuna.distributions import BaseDistribution, distribution_to_json

from labkit._checks import check, check_choice, is_int
from labkit.notebook_contract import notebook_runs
from labkit.results import METRIC_ORDER
from labkit.search.options import DIRECTIONS
from labkit.search.space import Dimension, parse_dimension
from labkit.sweep import Run, default_validator, notebook_parameters
from labkit.sweep.parameters import parse_value
from labkit.sweep.planning import check_grid, expand_grid, run_id
from labkit.variants import VARIANTS

__all__ = ["SearchPlan", "default_direction", "plan_search", "search_validator"]

SEED_PARAMETER = "seed"


@dataclasses.dataclass(frozen=True)
class SearchPlan:
    """What a search runs: the notebook, the space, the fixed values, the seeds, the objective.

    Args:
        notebook: The notebook, as given.
        dimensions: The searched parameters, checked, by name.
        fixed: The values of the parameters held fixed.
        seeds: The seeds each trial runs with; empty when the search does not set `seed`.
        objective: The metric the notebook records per epoch that the search optimizes.
        direction: `"maximize"` or `"minimize"`.
    """

    notebook: str
    dimensions: dict[str, Dimension]
    fixed: dict[str, Any]
    seeds: tuple[int, ...]
    objective: str
    direction: str

    @property
    def space(self) -> dict[str, BaseDistribution]:
        """The Optuna distributions, by parameter name.

        Example:

        >>> list(plan.space)
        ['learning_rate']
        """
        return {name: dimension.distribution() for name, dimension in self.dimensions.items()}

    def runs(self, params: Mapping[str, Any]) -> list[Run]:
        """The runs of a trial with `params`: one per seed, labelled by what the search varies.

        Example:

        >>> plan.runs({"learning_rate": 0.01})[0].params
        {'model': 'weightnorm', 'epochs': 3, 'learning_rate': 0.01, 'seed': 0}
        """
        base = {**self.fixed, **params}
        if not self.seeds:
            return [Run(run_id(base, list(self.dimensions)), base)]
        labels = [*self.dimensions, SEED_PARAMETER]
        runs = [{**base, SEED_PARAMETER: seed} for seed in self.seeds]
        return [Run(run_id(params, labels), params) for params in runs]

    def to_json(self) -> dict[str, Any]:
        """What identifies the search, as JSON values (kept in the study to check a resume).

        Example:

        >>> plan.to_json()["objective"]
        'val_accuracy'
        """
        return {
            "notebook": self.notebook,
            "space": {name: distribution_to_json(d) for name, d in self.space.items()},
            "fixed": self.fixed,
            "seeds": list(self.seeds),
            "objective": self.objective,
            "direction": self.direction,
        }


def default_direction(objective: str) -> str:
    """How to optimize a metric when not told, as Keras' callbacks decide: losses go down.

    Example:

    >>> default_direction("val_loss"), default_direction("val_accuracy")
    ('minimize', 'maximize')
    """
    return "minimize" if "loss" in objective else "maximize"


def search_validator(notebook: str | os.PathLike) -> Callable[[dict[str, Any]], None] | None:
    """labkit's parameter check, plus one model per run, when `notebook` imports labkit.

    Example:

    >>> search_validator("notebooks/weight_norm.ipynb")({"model": "both"})
    Traceback (most recent call last):
    ValueError: Invalid value for `model`: expected one of 'regular', 'weightnorm' ...
    """
    if default_validator(notebook) is None:
        return None
    return _check_one_model


def _check_one_model(values: dict[str, Any]) -> None:
    runs = notebook_runs(values)  # validates every value
    model = values.get("model", "both")
    check(
        "model",
        model,
        len(runs) == 1,
        f"one of {', '.join(map(repr, VARIANTS))} in a search, "
        "which scores one model per run (set it with `-p model ...` or search over it)",
    )


def plan_search(
    notebook: str | os.PathLike,
    space: Mapping[str, Any],
    fixed: Mapping[str, Any] | None = None,
    *,
    objective: str,
    direction: str | None = None,
    seeds: int | None = None,
) -> SearchPlan:
    """Checks a search against the notebook's parameters; nothing runs.

    Args:
        notebook: The parameterized notebook.
        space: The searched parameters' distributions, as a space file gives them.
        fixed: Parameters held fixed, one value each (strings are parsed to the type).
        objective: A metric the notebook records per epoch, such as `val_accuracy`.
        direction: `"maximize"` or `"minimize"`; None picks by name (`default_direction`).
        seeds: Runs each trial with seeds 0 to `seeds - 1` and scores their mean; None leaves
            `seed` to the notebook (or `fixed`).

    Raises:
        ValueError: one line naming what is wrong and what is allowed.

    Example:

    >>> plan = plan_search("notebooks/weight_norm.ipynb", {"optimizer": ["adam", "sgd"]},
    ...                    {"model": "weightnorm"}, objective="val_accuracy")
    >>> plan.direction
    'maximize'
    """
    fixed = dict(fixed or {})
    check("objective", objective, isinstance(objective, str) and objective, "a metric's name")
    direction = default_direction(objective) if direction is None else direction
    check_choice("direction", direction, DIRECTIONS)
    if seeds is not None:
        check("seeds", seeds, is_int(seeds) and seeds >= 1, "an integer >= 1 (seeds 0 to N-1)")
    if not space:
        raise ValueError("A search needs at least one parameter to search. Received: `space={}`")
    dimensions = {name: parse_dimension(name, entry) for name, entry in space.items()}
    for name in dimensions:
        if name in fixed:
            raise ValueError(
                f"Parameter `{name}` is both searched and fixed; keep one. Received: "
                f"`-p {name} {fixed[name]}`"
            )
    if seeds is not None and SEED_PARAMETER in {*dimensions, *fixed}:
        raise ValueError("Give seeds with `--seeds`, or search or fix `seed`, not both.")
    types = notebook_parameters(notebook)
    for name, dimension in dimensions.items():
        if name in types:  # an unknown name is check_grid's to report
            dimension.check_kind(types[name])
    seed_values = {SEED_PARAMETER: sorted({0, seeds - 1})} if seeds is not None else {}
    # Names, `output_dir` and every value's type, checked as the sweep checks a grid.
    axes = check_grid(
        notebook,
        {
            **{name: [value] for name, value in fixed.items()},
            **{name: dimension.edge_values() for name, dimension in dimensions.items()},
            **seed_values,
        },
    )
    for name, dimension in dimensions.items():
        value_type = dimension.value_type(types[name])
        dimension = dimension.with_values(
            functools.partial(parse_value, name, type_name=value_type)
        )
        dimension.check_range()
        dimensions[name] = dimension
    fixed = {name: axes[name][0] for name in fixed}
    validator = search_validator(notebook)
    if validator is not None:
        check_choice("objective", objective, METRIC_ORDER)
        edges = {name: dimension.edge_values() for name, dimension in dimensions.items()}
        for params in expand_grid(
            {**{name: [value] for name, value in fixed.items()}, **edges, **seed_values}
        ):
            validator(params)
    return SearchPlan(
        notebook=str(notebook),
        dimensions=dimensions,
        fixed=fixed,
        seeds=tuple(range(seeds)) if seeds is not None else (),
        objective=objective,
        direction=direction,
    )
