"""The tutorial's two ConvNets as runs: their names, display labels and colours, in one place.

Models, run folders, tables, live figures and reports all name a ConvNet `"regular"` or
`"weightnorm"`, label it "Regular ConvNet" or "WeightNorm ConvNet", and draw it in the tutorial's
red or blue. The other normalizations `build_convnet` offers (`NORMALIZATIONS`) get a name, label
and colour here too. This module depends on nothing but `labkit._checks`, so any other may use it.

Example:

>>> from labkit.variants import RUN_COLORS, RUN_LABELS, run_name
>>> name = run_name(weight_norm=True)
>>> name, RUN_LABELS[name], RUN_COLORS[name]
('weightnorm', 'WeightNorm ConvNet', '#1f77b4')
"""

from __future__ import annotations

from labkit._checks import check, check_choice, quoted

__all__ = [
    "REGULAR",
    "WEIGHTNORM",
    "VARIANTS",
    "RUN_LABELS",
    "RUN_COLORS",
    "run_name",
    "BATCHNORM",
    "WEIGHTNORM_MEANONLY",
    "NORMALIZATIONS",
    "WEIGHT_NORMALIZED",
    "NORMALIZATION_RUNS",
    "normalization_of",
    "checked_normalization",
]

REGULAR = "regular"
WEIGHTNORM = "weightnorm"
VARIANTS = (REGULAR, WEIGHTNORM)
BATCHNORM = "batchnorm"
WEIGHTNORM_MEANONLY = "weightnorm+meanonly"
# How `build_convnet` normalizes the ConvNet's layers; "none" is the tutorial's regular ConvNet.
NORMALIZATIONS = ("none", WEIGHTNORM, BATCHNORM, WEIGHTNORM_MEANONLY)
# The normalizations whose Conv2D and Dense layers are weight-normalized.
WEIGHT_NORMALIZED = (WEIGHTNORM, WEIGHTNORM_MEANONLY)
# The run (and model) name of each normalization: a folder name and a TensorFlow scope name.
NORMALIZATION_RUNS = {
    "none": REGULAR,
    WEIGHTNORM: WEIGHTNORM,
    BATCHNORM: BATCHNORM,
    WEIGHTNORM_MEANONLY: "weightnorm_meanonly",
}
RUN_LABELS = {
    REGULAR: "Regular ConvNet",
    WEIGHTNORM: "WeightNorm ConvNet",
    BATCHNORM: "BatchNorm ConvNet",
    NORMALIZATION_RUNS[WEIGHTNORM_MEANONLY]: "WeightNorm + mean-only BN ConvNet",
}
# The tutorial drew the regular ConvNet in red and the WeightNorm ConvNet in blue.
RUN_COLORS = {
    REGULAR: "#d62728",
    WEIGHTNORM: "#1f77b4",
    BATCHNORM: "#2ca02c",
    NORMALIZATION_RUNS[WEIGHTNORM_MEANONLY]: "#9467bd",
}


def run_name(weight_norm: bool | None = None, normalization: str | None = None) -> str:
    """The run (and model) name of the ConvNet with `normalization` (one of `NORMALIZATIONS`),
    or, given only `weight_norm`, of the tutorial's ConvNet with or without weight normalization
    (see `checked_normalization`).

    Example:

    >>> run_name(weight_norm=False), run_name(normalization="weightnorm+meanonly")
    ('regular', 'weightnorm_meanonly')
    """
    return NORMALIZATION_RUNS[checked_normalization(weight_norm, normalization)]


def normalization_of(weight_norm: bool) -> str:
    """The normalization of the tutorial's ConvNet with or without weight normalization.

    Example:

    >>> normalization_of(weight_norm=True)
    'weightnorm'
    """
    return WEIGHTNORM if weight_norm else "none"


def checked_normalization(weight_norm: bool | None, normalization: str | None) -> str:
    """The one normalization that `weight_norm` and `normalization` give together.

    `normalization` is the setting; `weight_norm` is the older shorthand for it: `True` means
    `"weightnorm"` and `False` means `"none"` when `normalization` is `None` or empty, and
    otherwise says whether `normalization` weight-normalizes (`WEIGHT_NORMALIZED`). `None`
    for both is `"none"`, the tutorial's regular ConvNet.

    Raises:
        ValueError: `normalization` is not one of `NORMALIZATIONS`, `weight_norm` is not a
            boolean, or the two disagree (one line naming both).

    Example:

    >>> checked_normalization(True, None), checked_normalization(None, "batchnorm")
    ('weightnorm', 'batchnorm')
    >>> checked_normalization(True, "weightnorm+meanonly")
    'weightnorm+meanonly'
    """
    is_flag = weight_norm is None or isinstance(weight_norm, bool)
    check("weight_norm", weight_norm, is_flag, "a boolean")
    if normalization is None or normalization == "":
        return normalization_of(bool(weight_norm))
    check_choice("normalization", normalization, NORMALIZATIONS)
    if weight_norm is not None:
        agreeing = [n for n in NORMALIZATIONS if (n in WEIGHT_NORMALIZED) == weight_norm]
        expected = f"one of {quoted(agreeing)} with `weight_norm={weight_norm}`"
        check("normalization", normalization, normalization in agreeing, expected)
    return normalization
