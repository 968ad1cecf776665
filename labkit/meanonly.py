"""Mean-only batch normalization for Keras 3 (Salimans & Kingma, 2016, section 4).

`MeanOnlyBatchNormalization` subtracts each channel's minibatch mean in training and a moving
average of those means at inference, and adds a learned bias; unlike batch normalization it
never divides by a standard deviation. The paper puts it after a weight-normalized layer (whose
own bias it replaces) and before the nonlinearity: weight normalization fixes the scale of the
pre-activations, mean-only batch normalization their mean.
"""

from __future__ import annotations

import keras
from keras import constraints, initializers, ops, regularizers

from labkit._checks import check, is_int, is_number

__all__ = ["MeanOnlyBatchNormalization"]


@keras.saving.register_keras_serializable(package="labkit")
class MeanOnlyBatchNormalization(keras.layers.Layer):
    """Subtracts the per-channel mean of its inputs and adds a learned bias.

    **During training** (`fit`, or a call with `training=True`) each channel of the batch has
    its own minibatch mean `mean(batch)` subtracted, and the layer returns
    `batch - mean(batch) + beta`; the moving mean is updated as
    `moving_mean = moving_mean * momentum + mean(batch) * (1 - momentum)`.

    **During inference** (`predict`, `evaluate`, or `training=False`, the default) it returns
    `batch - moving_mean + beta`.

    Nothing is divided by a standard deviation: the scale of each channel is left to the layer
    before (the paper pairs this layer with `labkit.WeightNormalization`, which fixes that
    scale through `g`). As with `keras.layers.BatchNormalization`, a layer set to
    `trainable = False` runs in inference mode, and the statistics are computed in float32
    under mixed precision.

    Args:
        axis: The channel axis, whose entries each get their own mean (e.g. `1` after a
            `Conv2D` with `data_format="channels_first"`).
        momentum: Momentum of the moving mean, in [0, 1].
        center: Whether to add the learned bias `beta` (the layer's only trainable weight).
        beta_initializer: Initializer for `beta`.
        moving_mean_initializer: Initializer for the moving mean.
        beta_regularizer: Optional regularizer for `beta`.
        beta_constraint: Optional constraint for `beta`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Reference:
        Salimans & Kingma, *Weight Normalization: A Simple Reparameterization to Accelerate
        Training of Deep Neural Networks*, 2016 (arXiv:1602.07868), section 4.

    Example:

    >>> layer = MeanOnlyBatchNormalization(momentum=0.5)
    >>> x = ops.convert_to_tensor([[1.0, 10.0], [3.0, 30.0]])
    >>> ops.convert_to_numpy(layer(x, training=True)).tolist()
    [[-1.0, -10.0], [1.0, 10.0]]
    >>> ops.convert_to_numpy(layer.moving_mean).tolist()  # 0.5 * 0 + 0.5 * mean
    [1.0, 10.0]
    >>> ops.convert_to_numpy(layer(x)).tolist()  # inference: the moving mean
    [[0.0, 0.0], [2.0, 20.0]]
    """

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        center: bool = True,
        beta_initializer="zeros",
        moving_mean_initializer="zeros",
        beta_regularizer=None,
        beta_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check("axis", axis, is_int(axis), "an integer")
        in_range = is_number(momentum) and 0.0 <= momentum <= 1.0
        check("momentum", momentum, in_range, "a number in [0, 1]")
        check("center", center, isinstance(center, bool), "a boolean")
        self.axis = axis
        self.momentum = float(momentum)
        self.center = center
        self.beta_initializer = initializers.get(beta_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.beta = None
        self.moving_mean = None

    def build(self, input_shape):
        rank = len(input_shape)
        in_bounds = -rank <= self.axis < rank
        expected = f"an axis of the inputs, in [{-rank}, {rank - 1}] for inputs of rank {rank}"
        check("axis", self.axis, in_bounds, expected)
        axis = self.axis % rank
        channels = input_shape[axis]
        if channels is None:
            raise ValueError(
                f"MeanOnlyBatchNormalization needs a known size on its channel axis {self.axis}. "
                f"Received: inputs of shape {tuple(input_shape)}"
            )
        shape = (channels,)
        if self.center:
            self.beta = self.add_weight(
                shape=shape,
                name="beta",
                initializer=self.beta_initializer,
                regularizer=self.beta_regularizer,
                constraint=self.beta_constraint,
                trainable=True,
                autocast=False,
            )
        self.moving_mean = self.add_weight(
            shape=shape,
            name="moving_mean",
            initializer=self.moving_mean_initializer,
            trainable=False,
            autocast=False,
        )
        self.input_spec = keras.layers.InputSpec(ndim=rank, axes={self.axis: channels})
        self._reduction_axes = [a for a in range(rank) if a != axis]
        # Per-channel vectors broadcast against the inputs in this shape.
        self._broadcast_shape = [1] * rank
        self._broadcast_shape[axis] = channels

    def compute_output_shape(self, input_shape):
        return input_shape

    def call(self, inputs, training=None):
        # As BatchNormalization: statistics in float32 even for float16/bfloat16 inputs.
        compute_dtype = keras.backend.result_type(inputs.dtype, "float32")
        inputs = ops.cast(inputs, compute_dtype)
        if training and self.trainable:
            mean = ops.mean(inputs, axis=self._reduction_axes)
            moving_mean = ops.cast(self.moving_mean, compute_dtype)
            self.moving_mean.assign(
                ops.cast(moving_mean * self.momentum + mean * (1.0 - self.momentum), "float32")
            )
        else:
            mean = ops.cast(self.moving_mean, compute_dtype)
        shift = -mean
        if self.center:
            shift = shift + ops.cast(self.beta, compute_dtype)
        outputs = inputs + ops.reshape(shift, self._broadcast_shape)
        return ops.cast(outputs, self.compute_dtype)

    def get_config(self):
        config = {
            "axis": self.axis,
            "momentum": self.momentum,
            "center": self.center,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "beta_constraint": constraints.serialize(self.beta_constraint),
        }
        return {**super().get_config(), **config}
