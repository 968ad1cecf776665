"""The tutorial's LeNet-style ConvNet: regular, weight-normalized, or with batch statistics."""

from __future__ import annotations

from collections.abc import Callable

import keras

from labkit.meanonly import MeanOnlyBatchNormalization
from labkit.variants import (
    BATCHNORM,
    NORMALIZATION_RUNS,
    WEIGHTNORM,
    WEIGHTNORM_MEANONLY,
    checked_normalization,
)
from labkit.weightnorm import WeightNormalization

__all__ = ["build_convnet"]


def build_convnet(
    weight_norm: bool | None = None,
    num_classes: int = 10,
    input_shape: tuple[int, ...] = (32, 32, 3),
    data_init: bool = True,
    name: str | None = None,
    init_style: str = "paper",
    normalization: str | None = None,
) -> keras.Sequential:
    """Builds the tutorial's ConvNet, optionally with every Conv2D and Dense layer normalized.

    Conv2D(6, 5, relu) · MaxPool(2) · Conv2D(16, 5, relu) · MaxPool(2) · Flatten ·
    Dense(120, relu) · Dense(84, relu) · Dense(num_classes, softmax). On CIFAR-10 shapes the
    regular model has 62,006 parameters; the WeightNorm model adds one `g` per output unit.

    `normalization` says what happens to each Conv2D and Dense layer (the output layer too, as in
    the paper's code):

    - `"none"`: nothing (the tutorial's regular ConvNet).
    - `"weightnorm"`: wrapped in `WeightNormalization` (the tutorial's WeightNorm ConvNet).
    - `"batchnorm"`: without its bias and activation, followed by `BatchNormalization`, then
      the activation.
    - `"weightnorm+meanonly"`: the paper's combination (Salimans & Kingma, section 4): wrapped
      in `WeightNormalization` without its bias and activation, followed by
      `MeanOnlyBatchNormalization` (whose `beta` is the bias), then the activation.

    Args:
        weight_norm: Short for `normalization="weightnorm"` (`True`) or `"none"` (`False`);
            given with `normalization`, the two must agree.
        num_classes: Units of the softmax layer.
        input_shape: Shape of one image, channels last.
        data_init: Passed to `WeightNormalization` (ignored without it).
        name: Model name; defaults to the run name (`labkit.variants.run_name`): `"regular"`,
            `"weightnorm"`, `"batchnorm"` or `"weightnorm_meanonly"`.
        init_style: Passed to `WeightNormalization` (ignored without it):
            `"paper"` or `"tfa"` (tensorflow-addons' data-dependent init, which the
            tutorial's numbers come from).
        normalization: One of `"none"`, `"weightnorm"`, `"batchnorm"`,
            `"weightnorm+meanonly"`; `None` (the default) is what `weight_norm` says, else
            `"none"`.

    Returns:
        An uncompiled, built `keras.Sequential`.

    Example:

    >>> model = build_convnet(weight_norm=True, init_style="tfa")
    >>> model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    >>> build_convnet(normalization="weightnorm+meanonly").name
    'weightnorm_meanonly'
    """
    normalization = checked_normalization(weight_norm, normalization)

    def wrap(layer: keras.layers.Layer) -> WeightNormalization:
        return WeightNormalization(layer, data_init=data_init, init_style=init_style)

    def normalized(layer: Callable[..., keras.layers.Layer], activation: str) -> list:
        """The layer, normalized, with `activation` applied last."""
        if normalization == BATCHNORM:
            batch_statistics = [layer(use_bias=False), keras.layers.BatchNormalization()]
        elif normalization == WEIGHTNORM_MEANONLY:
            batch_statistics = [wrap(layer(use_bias=False)), MeanOnlyBatchNormalization()]
        else:
            plain = layer(activation=activation)
            return [wrap(plain) if normalization == WEIGHTNORM else plain]
        return [*batch_statistics, keras.layers.Activation(activation)]

    def conv(filters: int) -> Callable[..., keras.layers.Layer]:
        return lambda **options: keras.layers.Conv2D(filters, 5, **options)

    def dense(units: int) -> Callable[..., keras.layers.Layer]:
        return lambda **options: keras.layers.Dense(units, **options)

    return keras.Sequential(
        [
            keras.Input(shape=tuple(input_shape)),
            *normalized(conv(6), "relu"),
            keras.layers.MaxPooling2D(2, 2),
            *normalized(conv(16), "relu"),
            keras.layers.MaxPooling2D(2, 2),
            keras.layers.Flatten(),
            *normalized(dense(120), "relu"),
            *normalized(dense(84), "relu"),
            *normalized(dense(num_classes), "softmax"),
        ],
        name=name or NORMALIZATION_RUNS[normalization],
    )
