"""Weight normalization for Keras 3 (Salimans & Kingma, 2016).

`WeightNormalization` wraps a layer and reparameterizes its kernels as `w = g * v / ||v||`:
the direction `v` (the wrapped layer's own kernel variable) and the per-output-unit length
`g` are trained separately. `data_init`, `apply_weight_norm` and `remove_weight_norm` work on
whole models.

The package, by concern: `kernels` (which variables of each layer type are normalized, over
which axes), `layer` (the wrapper), `initialization` (data-dependent init), `models` (the
model-level helpers).

Example:

>>> from labkit.weightnorm import WeightNormalization, apply_weight_norm
>>> layer = WeightNormalization(keras.layers.Conv2D(16, 5))
>>> model = apply_weight_norm(trained_model)  # same predictions, weight-normalized
"""

from __future__ import annotations

from labkit.weightnorm.layer import WeightNormalization
from labkit.weightnorm.models import apply_weight_norm, data_init, remove_weight_norm

__all__ = ["WeightNormalization", "apply_weight_norm", "data_init", "remove_weight_norm"]
