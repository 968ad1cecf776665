"""The tutorial's two ConvNets as runs: their names, display labels and colours, in one place.

Models, run folders, tables, live figures and reports all name a ConvNet `"regular"` or
`"weightnorm"`, label it "Regular ConvNet" or "WeightNorm ConvNet", and draw it in the tutorial's
red or blue. This module depends on nothing, so any other may use it.

Example:

>>> from labkit.variants import RUN_COLORS, RUN_LABELS, run_name
>>> name = run_name(weight_norm=True)
>>> name, RUN_LABELS[name], RUN_COLORS[name]
('weightnorm', 'WeightNorm ConvNet', '#1f77b4')
"""

from __future__ import annotations

__all__ = ["REGULAR", "WEIGHTNORM", "VARIANTS", "RUN_LABELS", "RUN_COLORS", "run_name"]

REGULAR = "regular"
WEIGHTNORM = "weightnorm"
VARIANTS = (REGULAR, WEIGHTNORM)
RUN_LABELS = {REGULAR: "Regular ConvNet", WEIGHTNORM: "WeightNorm ConvNet"}
# The tutorial drew the regular ConvNet in red and the WeightNorm ConvNet in blue.
RUN_COLORS = {REGULAR: "#d62728", WEIGHTNORM: "#1f77b4"}


def run_name(weight_norm: bool) -> str:
    """The run (and model) name of the tutorial's ConvNet with or without weight normalization.

    Example:

    >>> run_name(weight_norm=False)
    'regular'
    """
    return WEIGHTNORM if weight_norm else REGULAR
