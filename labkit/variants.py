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


def run_name(weight_norm: bool, normalization: str | None = None) -> str:
    """The run (and model) name of the tutorial's ConvNet with or without weight normalization,
    or of the ConvNet with `normalization` (one of `NORMALIZATIONS`) when that is given.

    Example:

    >>> run_name(weight_norm=False), run_name(False, normalization="weightnorm+meanonly")
    ('regular', 'weightnorm_meanonly')
    """
    if normalization is None:
        return WEIGHTNORM if weight_norm else REGULAR
    return NORMALIZATION_RUNS[normalization]


def normalization_of(weight_norm: bool) -> str:
    """The normalization of the tutorial's ConvNet with or without weight normalization.

    Example:

    >>> normalization_of(weight_norm=True)
    'weightnorm'
    """
    return WEIGHTNORM if weight_norm else "none"


def checked_normalization(weight_norm: bool, normalization: str | None) -> str:
    """`normalization`, or the one `weight_norm` stands for when it is `None` or empty.

    Raises:
        ValueError: `normalization` is not one of `NORMALIZATIONS`, or `weight_norm` is set
            and `normalization` does not weight-normalize.

    Example:

    >>> checked_normalization(True, None), checked_normalization(False, "batchnorm")
    ('weightnorm', 'batchnorm')
    """
    if normalization is None or normalization == "":
        return normalization_of(weight_norm)
    check_choice("normalization", normalization, NORMALIZATIONS)
    agrees = not weight_norm or normalization in WEIGHT_NORMALIZED
    expected = f"one of {quoted(WEIGHT_NORMALIZED)} with `weight_norm=True`"
    check("normalization", normalization, agrees, expected)
    return normalization
