"""The paper's data-dependent initialization of its CIFAR-10 ConvNet, as the authors run it.

The authors' `train.py` initializes once, before the first step, from 500 training images
(`initfun(trainx_white[:500])`): one forward pass in which every normalized layer sets its
scale and bias from the statistics of its pre-activations, layer after layer, each seeing
the already-initialized outputs of the layers before it. That pass runs with Lasagne's
`deterministic=False`, like a training step: the Gaussian input noise and dropout are on,
and mean-only batch normalization subtracts the batch mean, so the scales are fit to what
the layers see in training. The moving averages of batch normalization are not updated by it.

`paper_data_init` does the same in Keras: it reuses `labkit.data_init` for the
`WeightNormalization` layers and initializes `InitScale` layers (the normal
parameterization) in the same forward pass, runs that pass in training mode, and puts the
moving statistics of every batch-normalization layer back afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras
from keras import ops

from labkit._keras_compat import flatten_layers
from labkit.meanonly import MeanOnlyBatchNormalization
from labkit.paper.scale import InitScale
from labkit.weightnorm import WeightNormalization, data_init

__all__ = ["paper_data_init", "PAPER_INIT_EXAMPLES"]

# `initfun(trainx_white[:500])` in the authors' train.py.
PAPER_INIT_EXAMPLES = 500
_BATCH_STATISTICS = (keras.layers.BatchNormalization, MeanOnlyBatchNormalization)


def paper_data_init(model: keras.Model, x_batch) -> keras.Model:
    """Initializes a `build_paper_convnet` model from a batch of training images, as the
    authors' code does (see the module docstring).

    Every `WeightNormalization` layer with `data_init=True` and every `InitScale` layer sets
    its scale and bias so that its pre-activations start with zero mean (where it has a bias)
    and unit variance over `x_batch`, in one forward pass in training mode (noise and dropout
    on, batch statistics used). The moving means and variances of batch-normalization layers
    are left as they were. A model without such layers (`"batchnorm"`, which the authors do
    not initialize from data) is returned unchanged.

    If a layer refuses the batch (empty, NaN or inf, constant), every layer is put back as it
    was and a one-line `ValueError` names the layer.

    Args:
        model: A built model, e.g. from `build_paper_convnet`.
        x_batch: Training images (the authors use 500, `PAPER_INIT_EXAMPLES`).

    Returns:
        The same model, initialized.

    Example:

    >>> model = build_paper_convnet("weightnorm")
    >>> paper_data_init(model, x_train[:PAPER_INIT_EXAMPLES])
    """
    layers = list(flatten_layers(model))
    weight_normalized = [
        layer for layer in layers if isinstance(layer, WeightNormalization) and layer.data_init
    ]
    scales = [layer for layer in layers if isinstance(layer, InitScale)]
    if not weight_normalized and not scales:
        return model
    # The pass runs in training mode, which would move the batch-norm statistics: put them back.
    moving = _values(
        [layer for layer in layers if isinstance(layer, _BATCH_STATISTICS)], trainable=False
    )
    before = _values(scales)
    pass_ = _TrainingPass(model)
    try:
        with _initializing(scales):
            if weight_normalized:
                data_init(pass_, x_batch)  # initializes the InitScale layers on the way
            else:
                pass_(x_batch)
            refusals = [layer.refusal for layer in scales if layer.refusal is not None]
        if refusals:
            raise ValueError(refusals[0])
    except BaseException:
        _restore(before)  # `data_init` puts its own layers back
        raise
    finally:
        _restore(moving)
    return model


class _TrainingPass(keras.layers.Layer):
    """Calls `model` in training mode, whatever `training` it is called with (`data_init`
    calls its model with `training=False`)."""

    def __init__(self, model: keras.Model):
        super().__init__(name=f"{model.name}_init_pass")
        self.inner = model

    def call(self, inputs, training=None):
        return self.inner(inputs, training=True)


@contextlib.contextmanager
def _initializing(scales: list[InitScale]) -> Iterator[None]:
    for layer in scales:
        layer.initializing, layer.refusal = True, None
    try:
        yield
    finally:
        for layer in scales:
            layer.initializing, layer.refusal = False, None


def _values(layers: list[keras.layers.Layer], trainable: bool | None = None) -> list[tuple]:
    """Each variable of `layers` (only those whose `trainable` matches, if given) and a copy
    of its value."""
    return [
        (variable, ops.convert_to_numpy(variable.value))
        for layer in layers
        for variable in layer.weights
        if trainable is None or variable.trainable == trainable
    ]


def _restore(saved: list[tuple]) -> None:
    for variable, value in saved:
        variable.assign(value)
