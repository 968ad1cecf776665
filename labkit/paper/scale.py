"""`InitScale`: the paper's data-dependent init for the normal parameterization.

Salimans & Kingma (2016, section 3) note that their data-dependent initialization also
applies to a network without weight normalization. Their CIFAR-10 code does it with an
`InitLayer` (`openai/weightnorm`, `lasagne/nn.py`, used by `no_norm`): the layer before it
loses its bias, and its kernel becomes `s * W` with a per-channel scale `s` that is *not*
trained; the init sets `s = 1 / std(W.x)` and the new bias to `-mean(W.x) / std(W.x)`, so
every pre-activation starts with zero mean and unit variance, like weight normalization's.

Since `s` multiplies a linear layer's output channel by channel, `conv(x, s * W) = s * conv(x, W)`:
`InitScale` applies `y = s * x + b` after a bias-free layer, which computes the same outputs and
gradients as the authors' form (Adam then steps `W` in its own units, so a channel's effective
step in `s * W` is `s` times larger, as in their code).
"""

from __future__ import annotations

import keras
from keras import ops

from labkit._checks import check, is_int

__all__ = ["InitScale"]

# Added to the variance when the init divides by the standard deviation.
_EPSILON = 1e-10


@keras.saving.register_keras_serializable(package="labkit")
class InitScale(keras.layers.Layer):
    """Multiplies each channel by a fixed scale and adds a trained bias: `y = s * x + b`.

    `s` (`scale`, not trainable) starts at 1 and `b` (`bias`) at 0, so the layer starts as
    the identity. `labkit.paper.paper_data_init` sets both from a batch, once, before
    training: `s = 1 / std(x)` and `b = -mean(x) / std(x)` per channel, where the statistics
    are taken over every axis but `axis`. A channel that is constant over that batch keeps
    its `s` and `b`.

    Args:
        axis: The channel axis.
        **kwargs: Base layer keyword arguments, such as `name`.

    Example:

    >>> layer = InitScale()
    >>> x = ops.convert_to_tensor([[1.0, 10.0], [3.0, 30.0]])
    >>> layer.initialize(x)
    >>> ops.convert_to_numpy(layer(x)).round(3).tolist()
    [[-1.0, -1.0], [1.0, 1.0]]
    """

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        check("axis", axis, is_int(axis), "an integer")
        self.axis = axis
        self.scale = None
        self.bias = None
        # Set by `paper_data_init` for one eager forward pass, and why the init refused it.
        self.initializing = False
        self.refusal: str | None = None

    def build(self, input_shape):
        rank = len(input_shape)
        expected = f"an axis of the inputs, in [{-rank}, {rank - 1}] for inputs of rank {rank}"
        check("axis", self.axis, -rank <= self.axis < rank, expected)
        axis = self.axis % rank
        channels = input_shape[axis]
        self.scale = self.add_weight(
            shape=(channels,), name="scale", initializer="ones", trainable=False, autocast=False
        )
        self.bias = self.add_weight(
            shape=(channels,), name="bias", initializer="zeros", trainable=True, autocast=False
        )
        self._reduction_axes = [a for a in range(rank) if a != axis]
        self._broadcast_shape = [1] * rank
        self._broadcast_shape[axis] = channels

    def compute_output_shape(self, input_shape):
        return input_shape

    def call(self, inputs):
        if self.initializing and self.refusal is None:
            # Recorded, not raised: `paper_data_init` raises it outside Keras' call wrapping.
            self.refusal = self._assign_init(inputs)
        scale = ops.reshape(ops.cast(self.scale, inputs.dtype), self._broadcast_shape)
        bias = ops.reshape(ops.cast(self.bias, inputs.dtype), self._broadcast_shape)
        return inputs * scale + bias

    def initialize(self, inputs) -> None:
        """Sets `s` and `b` so that `inputs` come out with zero mean and unit variance per
        channel (eagerly; `paper_data_init` does it for every layer in one forward pass).

        Raises:
            ValueError: the inputs hold NaN or inf, or every channel is constant over them.
        """
        if not self.built:
            self.build(tuple(inputs.shape))
        problem = self._assign_init(inputs)
        if problem is not None:
            raise ValueError(problem)

    def _assign_init(self, inputs) -> str | None:
        """Sets `s` and `b` from `inputs`, or returns the one-line reason it cannot."""
        x = ops.cast(inputs, "float32")
        shape = tuple(x.shape)
        if not bool(ops.convert_to_numpy(ops.all(ops.isfinite(x)))):
            problem = "its inputs hold NaN or inf values"
        else:
            mean = ops.mean(x, axis=self._reduction_axes)
            centered = x - ops.reshape(mean, self._broadcast_shape)
            variance = ops.mean(ops.square(centered), axis=self._reduction_axes)
            spread = ops.greater(variance, _EPSILON)
            if bool(ops.convert_to_numpy(ops.any(spread))):
                scale = ops.rsqrt(variance + _EPSILON)
                self.scale.assign(ops.where(spread, scale, self.scale.value))
                self.bias.assign(ops.where(spread, -mean * scale, self.bias.value))
                return None
            problem = "every channel is constant over the batch, so there is no spread to normalize"
        return (
            f"`paper_data_init` cannot initialize InitScale layer '{self.name}': {problem}. "
            f"Received: inputs of shape {shape}"
        )

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
