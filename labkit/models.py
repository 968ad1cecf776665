"""The tutorial's two LeNet-style ConvNets: a regular one and a weight-normalized one."""

from __future__ import annotations

import keras

from labkit.weightnorm import WeightNormalization

__all__ = ["build_convnet"]


def build_convnet(
    weight_norm: bool = False,
    num_classes: int = 10,
    input_shape: tuple[int, ...] = (32, 32, 3),
    data_init: bool = True,
    name: str | None = None,
    init_style: str = "paper",
) -> keras.Sequential:
    """Builds the tutorial's ConvNet, optionally with every Conv2D and Dense weight-normalized.

    Conv2D(6, 5, relu) · MaxPool(2) · Conv2D(16, 5, relu) · MaxPool(2) · Flatten ·
    Dense(120, relu) · Dense(84, relu) · Dense(num_classes, softmax). On CIFAR-10 shapes the
    regular model has 62,006 parameters; the WeightNorm model adds one `g` per output unit.

    Args:
        weight_norm: Wrap every Conv2D and Dense layer in `WeightNormalization`.
        num_classes: Units of the softmax layer.
        input_shape: Shape of one image, channels last.
        data_init: Passed to `WeightNormalization` (ignored without `weight_norm`).
        name: Model name; defaults to `"weightnorm"` or `"regular"`.
        init_style: Passed to `WeightNormalization` (ignored without `weight_norm`):
            `"paper"` or `"tfa"` (tensorflow-addons' data-dependent init, which the
            tutorial's numbers come from).

    Returns:
        An uncompiled, built `keras.Sequential`.

    Example:

    >>> model = build_convnet(weight_norm=True, init_style="tfa")
    >>> model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    """

    def wrap(layer: keras.layers.Layer) -> keras.layers.Layer:
        if not weight_norm:
            return layer
        return WeightNormalization(layer, data_init=data_init, init_style=init_style)

    return keras.Sequential(
        [
            keras.Input(shape=tuple(input_shape)),
            wrap(keras.layers.Conv2D(6, 5, activation="relu")),
            keras.layers.MaxPooling2D(2, 2),
            wrap(keras.layers.Conv2D(16, 5, activation="relu")),
            keras.layers.MaxPooling2D(2, 2),
            keras.layers.Flatten(),
            wrap(keras.layers.Dense(120, activation="relu")),
            wrap(keras.layers.Dense(84, activation="relu")),
            wrap(keras.layers.Dense(num_classes, activation="softmax")),
        ],
        name=name or ("weightnorm" if weight_norm else "regular"),
    )
