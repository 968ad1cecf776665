"""Data-dependent initialization of `WeightNormalization`: batch statistics, the checks a batch
must pass, an undo journal, two temporary changes to the wrapped layer, and the wrapper's init
methods (the `DataDependentInit` mixin).

Example:

>>> mean, variance = unit_moments(np.array([[0.0, 1.0], [2.0, 1.0]], "float32"))
>>> ops.convert_to_numpy(has_spread(mean, variance)).tolist()  # the second unit is constant
[True, False]
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Sequence

import keras
import numpy as np
from keras import ops

__all__ = [
    "DataDependentInit",
    "INIT_EPSILON",
    "InitJournal",
    "batch_problem",
    "has_spread",
    "is_eager",
    "replica_mean_weights",
    "unit_moments",
    "without_activation",
]

# Added to the pre-activation variance during data-dependent init (as in the paper's code
# and tensorflow-addons).
INIT_EPSILON = 1e-10
# A unit whose pre-activation varies by less than this fraction of its mean over the init
# batch is constant there (float32 rounding), as is one with variance <= INIT_EPSILON.
_CONSTANT_RTOL = 1e-6


def unit_moments(units) -> tuple:
    """Mean and variance over the first axis of `(examples, *unit_shape)` values.

    Two passes (as `tf.nn.moments`): `E[t^2] - E[t]^2` cancels badly in float32.
    """
    units = ops.convert_to_tensor(units)  # a NumPy array minus a torch tensor fails
    mean = ops.mean(units, axis=0)
    return mean, ops.mean(ops.square(units - mean), axis=0)


def has_spread(mean, variance):
    """Per unit: whether the pre-activation varies over the init batch (False for NaN)."""
    threshold = ops.maximum(INIT_EPSILON, ops.square(_CONSTANT_RTOL * mean))
    return ops.greater(variance, threshold)


def batch_problem(layer_name: str, inputs, mean, variance) -> str | None:
    """The one-line error if data init on this batch would write nonsense, else None.

    Warns about units that are constant on the batch (they keep their `g` and bias).

    Example:

    >>> batch_problem("wn", np.zeros((0, 3)), np.zeros(2), np.zeros(2)).split(". ")[-1]
    'Received: inputs of shape (0, 3) to this layer'
    """
    shape = tuple(inputs.shape)
    mean, variance = ops.convert_to_numpy(mean), ops.convert_to_numpy(variance)
    spread = ops.convert_to_numpy(has_spread(mean, variance))
    if 0 in shape:
        problem = "the batch is empty"
    elif not ops.convert_to_numpy(ops.all(ops.isfinite(inputs))):
        problem = "its inputs hold NaN or inf values"
    elif not (np.isfinite(mean).all() and np.isfinite(variance).all()):
        problem = "its pre-activation statistics are not finite (the values overflow)"
    elif not spread.any():
        problem = (
            "every output channel is constant over the batch (a constant batch, or a "
            "single example?), so there is no spread to normalize"
        )
    else:
        if not spread.all():
            warnings.warn(
                f"WeightNormalization layer '{layer_name}': {int((~spread).sum())} of "
                f"{spread.size} output channels are constant over the init batch (dead "
                "units); they keep their `g` and bias.",
                stacklevel=3,
            )
        return None
    return (
        f"`data_init` cannot initialize WeightNormalization layer '{layer_name}' from this "
        f"batch: {problem}. Received: inputs of shape {shape} to this layer"
    )


class InitJournal:
    """What `data_init` overwrote, so that a layer refusing the batch can undo it all.

    Example:

    >>> journal = InitJournal()
    >>> v = keras.Variable(1.0)
    >>> journal.save("layer", [v], on_restore=lambda: None)
    >>> _ = v.assign(2.0)
    >>> journal.restore()
    >>> float(v.numpy()), "layer" in journal
    (1.0, False)
    """

    def __init__(self):
        self._saved: list[tuple[object, list, Callable[[], None]]] = []
        # The one-line reason a layer refused the batch (raised by `data_init`).
        self.refusal: str | None = None

    def __contains__(self, layer: object) -> bool:
        """Whether `layer` was already initialized in this pass."""
        return any(saved is layer for saved, _, _ in self._saved)

    def save(
        self, layer: object, variables: Sequence[keras.Variable], on_restore: Callable[[], None]
    ) -> None:
        """Records the values of `variables` before `layer` initializes them."""
        values = [(v, ops.convert_to_numpy(v.value)) for v in variables]
        self._saved.append((layer, values, on_restore))

    def restore(self) -> None:
        """Puts back every recorded value, latest first."""
        for _, values, on_restore in reversed(self._saved):
            for variable, value in values:
                variable.assign(value)
            on_restore()
        self._saved.clear()


@contextlib.contextmanager
def replica_mean_weights(layer: keras.layers.Layer) -> Iterator[None]:
    """Makes `layer.add_weight` default to `aggregation="mean"` within the context.

    The bias is assigned inside a training step; without an aggregation each replica of a
    distributed model would keep its own value.
    """
    add_weight = layer.add_weight

    def add_mean_weight(*args, aggregation="none", **kwargs):
        if aggregation in (None, "none"):
            aggregation = "mean"
        return add_weight(*args, aggregation=aggregation, **kwargs)

    layer.add_weight = add_mean_weight
    try:
        yield
    finally:
        del layer.add_weight


@contextlib.contextmanager
def without_activation(layer: keras.layers.Layer) -> Iterator[None]:
    """Makes `layer` compute its pre-activation output within the context."""
    activation = getattr(layer, "activation", None)
    if activation is None:
        yield
        return
    layer.activation = keras.activations.linear
    try:
        yield
    finally:
        layer.activation = activation


def is_eager(tensor) -> bool:
    """Whether `tensor` holds a concrete value (not a symbolic graph or traced tensor)."""
    try:
        ops.convert_to_numpy(tensor)
    except Exception:
        return False
    return True


class DataDependentInit:
    """The data-dependent initialization of `WeightNormalization` (a mixin of that class).

    It reads the wrapper's rule, lengths and kernels, and writes the output kernel's `g`,
    the bias and the `initialized` flag: eagerly, from `labkit.data_init`'s pass through the
    model (`_initialize_from`), or inside the first training step (`_initialize_in_training_step`).
    """

    @property
    def _init_index(self) -> int:
        """Which normalized kernel data init sets the lengths of (the output kernel)."""
        return self.kernels.index(self._rule.output_kernel)

    def _init_statistics(self, inputs) -> tuple:
        """Per-unit mean and variance over the batch of the pre-activation `t` that data
        init normalizes: `t = v.x / ||v||` ("paper") or `t = v.x + b0` ("tfa"). Kernels
        other than the output kernel (a depthwise kernel) are used as they are, `g v/||v||`."""
        out = self._init_index
        substitutes = [
            (kernel, self._normalized(i, unit_length=True) if i == out else self._normalized(i))
            for i, kernel in enumerate(self.kernel_variables)
            if self.init_style == "paper" or i != out
        ]
        bias = self._bias
        if self.init_style == "paper" and bias is not None:
            substitutes.append((bias, ops.zeros(bias.shape, bias.dtype)))
        with without_activation(self.layer):
            t = self._call_wrapped(inputs, substitutes, {"training": False})
        unit_shape = tuple(self._gs[out].shape)
        return unit_moments(self._rule.units_last(self.layer, ops.cast(t, "float32"), unit_shape))

    def _current_init_values(self) -> tuple:
        """The output kernel's `g` and the bias (per unit; zeros without one), in float32."""
        g = ops.cast(self._gs[self._init_index].value, "float32")
        bias = self._bias
        if bias is None:
            return g, ops.zeros(g.shape)
        return g, self._rule.bias_as_units(self.layer, ops.cast(bias.value, "float32"), g.shape)

    def _init_values(self, mean, variance) -> tuple:
        """`g = 1 / std(t)`, `b = -mean(t) / std(t)`; constant units keep their own."""
        scale = ops.rsqrt(variance + INIT_EPSILON)
        current_g, current_b = self._current_init_values()
        spread = has_spread(mean, variance)
        g = ops.where(spread, scale, current_g)
        b = ops.where(spread, ops.multiply(-mean, scale), current_b)
        return g, b

    def _assign_init(self, g, b) -> None:
        self._gs[self._init_index].assign(g)
        bias = self._bias
        if bias is not None:
            bias.assign(ops.cast(self._rule.units_as_bias(self.layer, b, bias.shape), bias.dtype))
        self.initialized.assign(1.0)

    def _initialize_from(self, inputs, journal: InitJournal) -> None:
        """Eager, unconditional init from this batch (used by `labkit.data_init`): checks
        the statistics first, and records in `journal` what it overwrites, or why it
        refuses the batch (raised by `data_init`, outside Keras' call-error wrapping). A
        layer called twice in one pass initializes on its first call."""
        if journal.refusal is not None or self in journal:
            return
        mean, variance = self._init_statistics(inputs)
        journal.refusal = batch_problem(self.name, inputs, mean, variance)
        if journal.refusal is not None:
            return
        known = self._known_initialized
        variables = [self._gs[self._init_index], self.initialized]
        variables += [self._bias] if self._bias is not None else []
        journal.save(self, variables, on_restore=lambda: setattr(self, "_known_initialized", known))
        self._assign_init(*self._init_values(mean, variance))
        self._known_initialized = True

    def _initialize_in_training_step(self, inputs) -> None:
        """Init on the first training batch, from inside `fit` (TensorFlow, PyTorch)."""
        if keras.backend.backend() == "jax":
            raise RuntimeError(
                f"WeightNormalization layer '{self.name}' uses `data_init=True`, which on "
                "the JAX backend must run before training: Keras' JAX train step discards "
                "assignments to trainable variables. Call `labkit.data_init(model, x_batch)` "
                "once before `fit`, or wrap the layer with `data_init=False`. (A `fit` that "
                "fails on JAX leaves the model without its weights: build it again first.)"
            )
        g, b = ops.cond(
            ops.greater(self.initialized.value, 0.5),
            self._current_init_values,
            lambda: self._init_values(*self._init_statistics(inputs)),
        )
        # Assign outside the branch: under MirroredStrategy a synchronized update may not
        # sit inside control flow.
        self._assign_init(g, b)
        if is_eager(g):
            self._known_initialized = True

    def load_own_variables(self, store):
        super().load_own_variables(store)
        self._known_initialized = (not self.data_init) or bool(
            ops.convert_to_numpy(self.initialized.value) > 0.5
        )
