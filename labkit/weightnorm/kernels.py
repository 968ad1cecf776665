"""Which kernels `WeightNormalization` normalizes in each layer type, and over which axes.

Every supported layer type has a `KernelRule`: the names of the kernel variables it can
normalize and those normalized by default, the axes of each kernel that index the layer's
output units (the norm is taken over all the other axes, so every unit gets its own length
`g`, shaped like those axes), and, for data-dependent init, how the layer's output channels
and its bias line up with the units of its output kernel. `rule_for(layer)` picks the rule,
or raises one line saying why the layer cannot be wrapped.

Example:

>>> layer = keras.layers.DepthwiseConv2D(3, depth_multiplier=2)
>>> rule_for(layer).unit_axes(layer, "kernel", rank=4)  # kernel (3, 3, channels, 2)
(2, 3)
"""

from __future__ import annotations

import re

import keras
from keras import ops

from labkit._checks import check, quoted

__all__ = [
    "SUPPORTED_LAYERS",
    "KernelRule",
    "checked_kernels",
    "own_rule",
    "rule_for",
    "unsupported_reason",
]

_CONV = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
_TRANSPOSE = (
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
)
_DEPTHWISE = (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)
_SEPARABLE = (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)
# Attention layers build their kernels in EinsumDense layers of their own.
_ATTENTION = tuple(
    getattr(keras.layers, name)
    for name in ("MultiHeadAttention", "GroupQueryAttention")
    if hasattr(keras.layers, name)
)


class KernelRule:
    """The plain rule (Dense, Conv1D/2D/3D, a custom layer with a `kernel`).

    One kernel, `kernel`, whose last axis holds the output units, which are also the output
    channels of the layer (on its channel axis) and the entries of its bias.
    """

    names: tuple[str, ...] = ("kernel",)
    default: tuple[str, ...] | None = ("kernel",)  # None: normalized only when asked for
    output_kernel: str | None = "kernel"  # the kernel data init sets the lengths of

    def owner(self, layer: keras.layers.Layer):
        """The object that holds the kernel variables (a recurrent layer's cell)."""
        return layer

    def unit_axes(self, layer: keras.layers.Layer, name: str, rank: int) -> tuple[int, ...]:
        """The axes of kernel `name` (of rank `rank`) that index output units, ascending."""
        return (rank - 1,)

    def refusal(self, layer: keras.layers.Layer) -> str | None:
        """Why this layer, though of a supported type, cannot be weight-normalized."""
        return None

    def data_init_problem(self, layer: keras.layers.Layer, kernels: tuple[str, ...]) -> str | None:
        """Why data-dependent init is not meaningful for this layer, or None."""
        if self.output_kernel not in kernels:
            return f"its output kernel `{self.output_kernel}` is not normalized"
        return None

    def units_last(self, layer: keras.layers.Layer, outputs, unit_shape: tuple[int, ...]):
        """The layer's outputs as `(examples, *unit_shape)`: one column per output unit."""
        rank = len(outputs.shape)
        if getattr(layer, "data_format", "channels_last") == "channels_first" and rank > 2:
            outputs = ops.moveaxis(outputs, 1, -1)
        return ops.reshape(outputs, (-1, *unit_shape))

    def bias_as_units(self, layer: keras.layers.Layer, bias, unit_shape: tuple[int, ...]):
        """The bias as one value per output unit (shaped like the lengths `g`)."""
        return ops.reshape(bias, unit_shape)

    def units_as_bias(self, layer: keras.layers.Layer, values, bias_shape: tuple[int, ...]):
        """One value per output unit, shaped as the layer's bias."""
        return ops.reshape(values, bias_shape)


class TransposeRule(KernelRule):
    """Conv1D/2D/3DTranspose: the kernel is `(*kernel_size, filters, input channels)`."""

    def unit_axes(self, layer, name, rank):
        return (rank - 2,)


class DepthwiseRule(KernelRule):
    """DepthwiseConv1D/2D: the kernel is `(*kernel_size, channels, depth_multiplier)`.

    Output channel `c * depth_multiplier + m` is computed from `kernel[..., c, m]` alone, so
    each `(c, m)` pair is a unit with its own norm over the kernel's spatial axes.
    """

    def unit_axes(self, layer, name, rank):
        return (rank - 2, rank - 1)


class SeparableRule(KernelRule):
    """SeparableConv1D/2D: a depthwise kernel (a norm per `(channel, multiplier)` pair), then
    a pointwise kernel `(1, ..., channels * multiplier, filters)` (a norm per filter)."""

    names = ("depthwise_kernel", "pointwise_kernel")
    default = names
    output_kernel = "pointwise_kernel"

    def unit_axes(self, layer, name, rank):
        return (rank - 2, rank - 1) if name == "depthwise_kernel" else (rank - 1,)


class RecurrentRule(KernelRule):
    """SimpleRNN, GRU, LSTM, ConvLSTM1D/2D/3D, `keras.layers.RNN` with such a cell: the cell's
    `kernel` and `recurrent_kernel`, each with a norm per gate column (their last axis)."""

    names = ("kernel", "recurrent_kernel")
    default = names
    output_kernel = None

    def owner(self, layer):
        return layer.cell

    def refusal(self, layer):
        cell = layer.cell
        if hasattr(cell, "kernel_initializer") and hasattr(cell, "recurrent_initializer"):
            return None
        return (
            f"its cell `{type(cell).__name__}` has no `kernel` and `recurrent_kernel`; wrap an "
            "RNN layer with one cell (e.g. LSTM) instead"
        )

    def data_init_problem(self, layer, kernels):
        return "the paper advises against data-dependent init for recurrent layers"


class EmbeddingRule(KernelRule):
    """Embedding, on request (`kernels=("embeddings",)`): one norm per row (token)."""

    names = ("embeddings",)
    default = None
    output_kernel = None

    def unit_axes(self, layer, name, rank):
        return (0,)

    def data_init_problem(self, layer, kernels):
        return "an embedding is a lookup table, with no pre-activation to normalize"


class EinsumDenseRule(KernelRule):
    """EinsumDense: a norm per output unit, over every kernel axis that is not an output axis.

    The kernel's output axes are its letters that appear in the output of the equation
    (e.g. `"abc,cde->abde"`: `d` and `e`; the norm is over `c`).
    """

    def unit_axes(self, layer, name, rank):
        kernel, output, _ = _einsum_specs(layer.equation)
        return tuple(i for i, letter in enumerate(kernel) if letter in output)

    def refusal(self, layer):
        kernel, output, _ = _einsum_specs(layer.equation)
        if all(letter in output for letter in kernel):
            return (
                f"every axis of its kernel ('{kernel}' in `equation='{layer.equation}'`) is an "
                "output axis, so there is no axis to take a norm over"
            )
        return None

    def data_init_problem(self, layer, kernels):
        kernel, output, _ = _einsum_specs(layer.equation)
        units = "".join(letter for letter in kernel if letter in output)
        if layer.bias_axes is not None and sorted(layer.bias_axes) != sorted(units):
            return (
                f"its bias (`bias_axes='{layer.bias_axes}'`) does not hold one value per "
                f"output unit (axes '{units}')"
            )
        return None

    def units_last(self, layer, outputs, unit_shape):
        kernel, output, left_elided = _einsum_specs(layer.equation)
        rank = len(outputs.shape)
        offset = rank - len(output) if left_elided else 0
        units = [offset + output.index(letter) for letter in kernel if letter in output]
        others = [axis for axis in range(rank) if axis not in units]
        return ops.reshape(ops.transpose(outputs, others + units), (-1, *unit_shape))

    def bias_as_units(self, layer, bias, unit_shape):
        kernel_units, bias_letters = _einsum_unit_letters(layer)
        bias = ops.reshape(bias, [unit_shape[kernel_units.index(c)] for c in bias_letters])
        return ops.transpose(bias, [bias_letters.index(c) for c in kernel_units])

    def units_as_bias(self, layer, values, bias_shape):
        kernel_units, bias_letters = _einsum_unit_letters(layer)
        values = ops.transpose(values, [kernel_units.index(c) for c in bias_letters])
        return ops.reshape(values, bias_shape)


def _einsum_specs(equation: str) -> tuple[str, str, bool]:
    """`(kernel letters, output letters, whether "..." leads the output)` of an equation in
    one of the forms EinsumDense accepts ("ab,bc->ac", "...b,bc->...c", "ab...,bc->ac...")."""
    # As EinsumDense reads it: "..." stands for "0", at the start or the end of input and output.
    pattern = r"0?[a-zA-Z]+0?,([a-zA-Z]+)->(0?)([a-zA-Z]+)0?"
    match = re.fullmatch(pattern, equation.replace("...", "0"))
    if match is None:
        raise ValueError(
            f"WeightNormalization cannot read the EinsumDense equation. Received: "
            f"`equation='{equation}'`"
        )
    return match.group(1), match.group(3), match.group(2) == "0"


def _einsum_unit_letters(layer) -> tuple[str, str]:
    """The output-unit letters in kernel order, and the bias letters in output order."""
    kernel, output, _ = _einsum_specs(layer.equation)
    units = "".join(letter for letter in kernel if letter in output)
    return units, "".join(letter for letter in output if letter in units)


# Looked up in order: the first entry whose classes the layer is an instance of.
_RULES: tuple[tuple[tuple[type, ...], KernelRule], ...] = (
    (_SEPARABLE, SeparableRule()),
    (_DEPTHWISE, DepthwiseRule()),
    (_TRANSPOSE, TransposeRule()),
    ((keras.layers.EinsumDense,), EinsumDenseRule()),
    ((keras.layers.Embedding,), EmbeddingRule()),
    ((keras.layers.RNN,), RecurrentRule()),
    ((keras.layers.Dense, *_CONV), KernelRule()),
)
# The layer types with a rule of their own (documented in the table in docs/layer.md).
SUPPORTED_LAYERS: tuple[type, ...] = (
    keras.layers.Dense,
    keras.layers.EinsumDense,
    *_CONV,
    *_TRANSPOSE,
    *_DEPTHWISE,
    *_SEPARABLE,
    keras.layers.SimpleRNN,
    keras.layers.GRU,
    keras.layers.LSTM,
    keras.layers.ConvLSTM1D,
    keras.layers.ConvLSTM2D,
    keras.layers.ConvLSTM3D,
    keras.layers.Embedding,
)


_NO_KERNEL = "it has no kernel"


def unsupported_reason(layer: keras.layers.Layer) -> str | None:
    """Why `layer` cannot be weight-normalized, or None if it can.

    Example:

    >>> unsupported_reason(keras.layers.BatchNormalization())
    'it has no kernel'
    """
    name = type(layer).__name__
    if isinstance(layer, keras.Model):
        return (
            "it is a model; `labkit.apply_weight_norm(model)` wraps the layers of a Sequential "
            "or functional model, and a subclassed model's code must wrap its own"
        )
    if isinstance(layer, (keras.layers.Wrapper, keras.layers.Bidirectional)):
        inner = type(getattr(layer, "layer", getattr(layer, "forward_layer", layer))).__name__
        return (
            f"wrap the layer inside it instead: `{type(layer).__name__}("
            f"WeightNormalization({inner}(...)))`"
        )
    if isinstance(layer, _ATTENTION):
        return (
            "it creates its kernels in EinsumDense layers of its own; weight-normalize those "
            "in an attention layer of your own"
        )
    if hasattr(layer, "state_size") and not isinstance(layer, keras.layers.RNN):  # a cell
        return f"it is an RNN cell; wrap the RNN layer: `WeightNormalization(RNN({name}(...)))`"
    if getattr(layer, "quantization_mode", None) is not None:
        return (
            f"it is quantized (`{layer.quantization_mode}`); wrap the float layer and quantize "
            "the layer that `remove()` returns"
        )
    if getattr(layer, "lora_enabled", False):
        return "LoRA is enabled on it (its kernel is `kernel + a @ b`); wrap it before that"
    rule = own_rule(layer)
    if rule is not None:
        return rule.refusal(layer)
    if hasattr(layer, "kernel_initializer"):  # a custom layer with a `kernel`
        return None
    return _NO_KERNEL


def own_rule(layer: keras.layers.Layer) -> KernelRule | None:
    """The rule of a supported layer type, or None (a custom or an unsupported layer).

    Example:

    >>> type(own_rule(keras.layers.SeparableConv1D(4, 3))).__name__
    'SeparableRule'
    """
    return next((rule for classes, rule in _RULES if isinstance(layer, classes)), None)


def rule_for(layer: keras.layers.Layer) -> KernelRule:
    """The rule for `layer`'s type; raises one `ValueError` line if it cannot be wrapped.

    A layer of no supported type that has a `kernel_initializer` gets the plain rule (its
    kernel's last axis holds the output units).

    Example:

    >>> layer = keras.layers.Conv2DTranspose(4, 3)
    >>> rule_for(layer).unit_axes(layer, "kernel", rank=4)  # (3, 3, filters, channels)
    (2,)
    """
    reason = unsupported_reason(layer)
    if reason == _NO_KERNEL:
        supported = ", ".join(cls.__name__ for cls in SUPPORTED_LAYERS)
        reason += f" (supported: {supported}, or a layer whose `kernel` has its output units last)"
    if reason is not None:
        name = type(layer).__name__
        raise ValueError(
            f"WeightNormalization cannot wrap `{name}` layer '{layer.name}': {reason}. "
            f"Received: `layer={name}`"
        )
    return own_rule(layer) or KernelRule()


def checked_kernels(rule: KernelRule, layer: keras.layers.Layer, kernels) -> tuple[str, ...]:
    """Validates `kernels` against what `layer` has; returns the names in canonical order.

    Example:

    >>> layer = keras.layers.LSTM(3)
    >>> checked_kernels(rule_for(layer), layer, ["recurrent_kernel"])
    ('recurrent_kernel',)
    """
    owner = type(layer).__name__
    if kernels is None:
        if rule.default is None:
            raise ValueError(
                f"WeightNormalization normalizes `{owner}` only on request: pass "
                f"`kernels={rule.names!r}`. Received: `kernels=None`"
            )
        return rule.default
    valid = (
        isinstance(kernels, (list, tuple))
        and len(kernels) > 0
        and len(set(kernels)) == len(kernels)
        and all(name in rule.names for name in kernels)
    )
    names = quoted(rule.names)
    expected = f"a non-empty list of distinct names from {names} (the kernels of `{owner}`)"
    check("kernels", kernels, valid, expected)
    return tuple(name for name in rule.names if name in kernels)
