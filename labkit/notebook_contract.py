"""The contract between a labkit notebook's `parameters` cell and the runs it trains.

A labkit notebook's parameters are `model` (which ConvNets), `live` (where the live figure
goes) and any `ExperimentParams` field but `run_name`; `normalization`, when set, picks the
ConvNets instead of `model` (`NOTEBOOK_NORMALIZATIONS`); `model`'s `"regular"` and
`"weightnorm"` are the normalizations `"none"` and `"weightnorm"` (`weight_norm=False/True`).
`notebook_runs` turns their values into validated runs; the notebook, the slider panel and
`labkit sweep` (before it starts any notebook) all go through it, so a bad value fails the same
way everywhere and before any data is loaded.

Example:

>>> from labkit.notebook_contract import notebook_runs
>>> [run.run_name for run in notebook_runs({"model": "both", "epochs": 3, "live": "off"})]
['regular', 'weightnorm']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from labkit._checks import check, check_choice
from labkit.data import check_archive
from labkit.live.environment import requested_mode
from labkit.params import ExperimentParams
from labkit.variants import NORMALIZATIONS, VARIANTS, WEIGHTNORM, normalization_of

__all__ = [
    "MODEL_CHOICES",
    "NOTEBOOK_NORMALIZATIONS",
    "NOTEBOOK_DEFAULTS",
    "tutorial_runs",
    "notebook_runs",
    "validate_notebook_parameters",
]

MODEL_CHOICES = ("both", *VARIANTS)
# A notebook's `normalization`: empty (the ConvNets `model` names), one, or "all" of them.
NOTEBOOK_NORMALIZATIONS = ("", *NORMALIZATIONS, "all")
# The notebook-only parameters' defaults, then every `ExperimentParams` default it passes on
# (a notebook's own `normalization` is empty, which lets `model` pick).
NOTEBOOK_DEFAULTS = {"model": "both", "live": "auto"} | {
    f.name: f.default for f in dataclasses.fields(ExperimentParams) if f.name != "run_name"
}


def tutorial_runs(model: str = "both", **params) -> list[ExperimentParams]:
    """The runs a notebook asks for: the regular ConvNet, the WeightNorm one, or both; or, when
    `normalization` is set, the ConvNet with that normalization, or with each (`"all"`).

    Args:
        model: `"both"`, `"regular"` or `"weightnorm"`; `"both"` when `normalization` is set.
        **params: Any other `ExperimentParams` field, shared by the runs; `normalization` may
            also be `"all"`.

    Example:

    >>> [p.run_name for p in tutorial_runs("both", epochs=1)]
    ['regular', 'weightnorm']
    >>> [p.run_name for p in tutorial_runs(normalization="all")]
    ['regular', 'weightnorm', 'batchnorm', 'weightnorm_meanonly']
    """
    check_choice("model", model, MODEL_CHOICES)
    normalization = params.pop("normalization", None) or ""
    check_choice("normalization", normalization, NOTEBOOK_NORMALIZATIONS)
    if normalization:
        check("model", model, model == "both", "'both' when `normalization` picks the ConvNets")
        picked = NORMALIZATIONS if normalization == "all" else (normalization,)
    else:
        variants = VARIANTS if model == "both" else (model,)
        picked = [normalization_of(variant == WEIGHTNORM) for variant in variants]
    return [ExperimentParams.from_dict({**params, "normalization": n}) for n in picked]


def notebook_runs(values: Mapping[str, Any]) -> list[ExperimentParams]:
    """The runs a labkit notebook's parameter values ask for; names it does not know are ignored.

    `model` picks the ConvNets (see `tutorial_runs`), `live` (and the `LABKIT_LIVE` environment
    variable it defers to) is checked against `labkit.live.LIVE_MODES`, `diagnostics` (the live
    weight-norm diagnostics) must be a boolean, every `ExperimentParams`
    field is validated, `output_dir` must be a folder that can be written or created, and the
    offline archive CIFAR-10 would be read from (`archive`, else `LABKIT_CIFAR10_ARCHIVE`) a file.

    Raises:
        ValueError: one line naming the parameter and what is allowed.

    Example:

    >>> [run.run_name for run in notebook_runs({"model": "both", "epochs": 3, "live": "off"})]
    ['regular', 'weightnorm']
    """
    fields = set(NOTEBOOK_DEFAULTS) - {"model", "live"}
    known = {name: value for name, value in values.items() if name in fields}
    requested_mode(values.get("live"), name="live")
    if "diagnostics" in values:
        diagnostics = values["diagnostics"]
        check("diagnostics", diagnostics, isinstance(diagnostics, bool), "a boolean")
    runs = tutorial_runs(values.get("model", "both"), **known)
    runs[0].check_output_dir()  # the runs share it
    check_archive(runs[0].archive, runs[0].dataset)  # and the data
    return runs


def validate_notebook_parameters(values: Mapping[str, Any]) -> None:
    """Checks the values of a labkit notebook's parameters; names it does not know are ignored.

    Raises:
        ValueError: one line naming the parameter and what is allowed.

    Example:

    >>> validate_notebook_parameters({"optimizer": "adam", "epochs": 3})
    """
    notebook_runs(values)
