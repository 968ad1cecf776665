"""The `WeightNormalization` wrapper layer (Salimans & Kingma, 2016).

It reparameterizes a layer's kernels as `w = g * v / ||v||`; which kernels, and over which
axes, is `labkit.weightnorm.kernels`' business, and the model-level helpers (`data_init`,
`apply_weight_norm`, `remove_weight_norm`) live in `labkit.weightnorm.models`.

Example:

>>> wn = WeightNormalization(keras.layers.Dense(4), data_init=False)
>>> wn(np.ones((2, 3))).shape
(2, 4)
"""

from __future__ import annotations

import copy
import gc
import inspect
import warnings
import weakref
from collections.abc import Sequence

import keras
from keras import ops

from labkit._checks import check, check_choice
from labkit._keras_compat import AutocastScope, get_stateless_scope
from labkit.weightnorm.initialization import DataDependentInit, InitJournal, replica_mean_weights
from labkit.weightnorm.kernels import checked_kernels, rule_for

__all__ = ["WeightNormalization"]

# Added under the square root of the sum of squares, so a zero kernel gives w = 0, not NaN.
_NORM_EPSILON = 1e-12
_INIT_STYLES = ("paper", "tfa")
# Each wrapped layer -> a weak reference to the wrapper that owns it (one owner per layer).
_OWNERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _forwarded(name: str) -> property:
    """An attribute of the wrapped layer, read and written through the wrapper (what
    `Bidirectional` reads of a recurrent layer: `go_backwards`, `return_sequences`, ...)."""

    def get(self):
        return getattr(self.layer, name)

    def set_(self, value):
        setattr(self.layer, name, value)

    return property(get, set_, doc=f"The wrapped layer's `{name}`.")


@keras.saving.register_keras_serializable(package="labkit")
class WeightNormalization(DataDependentInit, keras.layers.Wrapper):
    """Reparameterizes a layer's kernels as `w = g * v / ||v||`.

    Each output unit gets its own length `g`: the norm is taken over every kernel axis that
    does not index output units (the last axis of `Dense` and `Conv`, axis -2 of the
    Conv-Transpose layers, the `(channel, multiplier)` axes of a depthwise kernel, the
    output axes of an `EinsumDense` kernel, the rows of an `Embedding`; the table in `docs/layer.md`
    lists every layer). The wrapped layer is otherwise called unchanged: its strides,
    padding, dilation, activation, bias, masking and dtype policy are honoured exactly. It
    works inside `keras.layers.TimeDistributed` and `keras.layers.Bidirectional`.
    Recurrent layers normalize `kernel` and `recurrent_kernel` by default;
    `kernels=("recurrent_kernel",)` normalizes only the recurrent kernel, as
    tensorflow-addons' `WeightNormalization` does (its checkpoints load into that form).
    `SeparableConv1D/2D` normalize both their kernels, `Embedding` only when asked
    (`kernels=("embeddings",)`). A layer belongs to one wrapper: to share it, call the
    same wrapper twice.

    Without data-dependent init, `g` starts at `||v||`, so a freshly wrapped layer computes
    exactly what the unwrapped layer computes.

    With `data_init=True`, on the first *training* batch the lengths of the output kernel
    and the bias are set from the statistics of the pre-activation `t` over that batch:
    `g = 1 / std(t)` and `bias = -mean(t) / std(t)` per output unit, where
    `std(t) = sqrt(var(t) + 1e-10)`. `init_style` picks `t`:

    - `"paper"` (the default; Salimans & Kingma, 2016, section 3): `t = v.x / ||v||`, so
      `g = ||v|| / std(v.x)` and every unit's pre-activation starts with zero mean and
      unit variance over the batch.
    - `"tfa"` (tensorflow-addons 0.23, which the TensorFlow tutorial used): `t = v.x + b0`
      with the raw kernel and the bias `b0` the layer had before the init, as tfa's "naked
      clone" computes it; tfa starts `g` at ones and multiplies it by `1 / std(t)`. So
      `g = 1 / std(v.x)`, the paper's `g` divided by `||v||`, and (for a zero `b0`) the
      same bias: every unit starts with zero mean but standard deviation `1 / ||v||`
      (about 1.2-1.4 in the tutorial's Conv2D layers, 0.75-0.93 in its Dense layers). Use
      it to reproduce tfa's numbers step for step.

    A layer without a bias gets the scale only. A unit that is constant over the batch (a
    dead unit) keeps its `g` and bias. `labkit.data_init` refuses, with a one-line
    `ValueError` naming the layer and leaving the model as it was, a batch that is empty,
    holds NaN or inf, overflows, or on which every unit of a layer is constant. The init
    runs once (never in `predict`, `evaluate` or a symbolic build) and is saved with the
    model. It happens either

    - explicitly, with `labkit.data_init(model, x_batch)` before training (the paper's
      way; every backend; inside `TimeDistributed` it uses every time step), or
    - automatically, inside the first `fit` step on TensorFlow and PyTorch (inside
      `TimeDistributed` from the first time step of the first batch). A step compiled
      before the init ran keeps a scalar branch per layer. On JAX, Keras discards
      assignments to trainable variables made inside a compiled train step, so there a
      training call raises until `labkit.data_init` has run.

    Under `tf.distribute` strategies each replica computes the statistics of its own part
    of the first batch, and `g` and the bias are set to their means over the replicas (the
    wrapped layer's weights are created with `aggregation="mean"`: pass it unbuilt).

    Data-dependent init is not meaningful for recurrent layers (the paper advises against
    it), an `Embedding`, an `EinsumDense` whose bias does not hold one value per output
    unit, or a `SeparableConv` whose pointwise kernel is not normalized: wrapping one with
    `data_init=True` warns and uses `data_init=False`.

    Norms and batch statistics are computed in float32 under mixed precision.

    Args:
        layer: The layer to wrap (see the table in `docs/layer.md`), or any layer whose `kernel`
            holds the output units on its last axis.
        data_init: Whether to use data-dependent initialization.
        kernels: Names of the wrapped layer's kernel variables to normalize, each with
            its own length variable (the first is `g`, the others `g_<name>`). `None`
            (the default) means the layer type's default kernels.
        init_style: Which data-dependent init: `"paper"` (the default) or `"tfa"`.
        **kwargs: Base layer keyword arguments, such as `name`.

    Example:

    >>> layer = WeightNormalization(keras.layers.Dense(4))
    >>> y = layer(np.ones((2, 3)))
    >>> y.shape
    (2, 4)
    >>> plain = layer.remove()  # a Dense layer with w baked into its kernel
    >>> rows = WeightNormalization(keras.layers.Embedding(10, 4), kernels=("embeddings",),
    ...                            data_init=False)
    """

    go_backwards = _forwarded("go_backwards")
    return_sequences = _forwarded("return_sequences")
    return_state = _forwarded("return_state")
    stateful = _forwarded("stateful")
    zero_output_for_mask = _forwarded("zero_output_for_mask")
    use_cudnn = _forwarded("use_cudnn")

    def __init__(
        self,
        layer: keras.layers.Layer,
        data_init: bool = True,
        kernels: Sequence[str] | None = None,
        init_style: str = "paper",
        **kwargs,
    ):
        # The wrapper reads `v` and `g` in float32; the wrapped layer autocasts for itself.
        kwargs.setdefault("autocast", False)
        super().__init__(layer, **kwargs)
        check("data_init", data_init, isinstance(data_init, bool), "a boolean")
        check_choice("init_style", init_style, _INIT_STYLES)
        if isinstance(layer, WeightNormalization):
            name = type(layer).__name__
            raise ValueError(f"The layer is already weight-normalized. Received: `layer={name}`")
        self._rule = rule_for(layer)
        self.kernels = checked_kernels(self._rule, layer, kernels)
        _claim(layer, self)
        problem = self._rule.data_init_problem(layer, self.kernels) if data_init else None
        if problem is not None:
            warnings.warn(
                f"WeightNormalization: data-dependent init is not supported for "
                f"{type(layer).__name__} layer '{layer.name}' ({problem}); using "
                "`data_init=False`.",
                stacklevel=2,
            )
            data_init = False
        self.data_init = data_init
        self.init_style = init_style
        self.supports_masking = layer.supports_masking
        parameters = inspect.signature(layer.call).parameters
        self._takes_mask, self._takes_training = "mask" in parameters, "training" in parameters
        # Python-side mirror of the `initialized` variable, so that an initialized layer
        # adds no branch to the traced training step.
        self._known_initialized = not data_init
        # Set by `labkit.data_init` for one eager forward pass.
        self._init_journal: InitJournal | None = None

    def build(self, input_shape):
        if self.data_init and not self.layer.built:
            with replica_mean_weights(self.layer):
                self.layer.build(input_shape)
        super().build(input_shape)
        self._build_input_shape = input_shape
        variables = self.kernel_variables
        self._unit_axes = tuple(
            self._rule.unit_axes(self.layer, name, len(v.shape))
            for name, v in zip(self.kernels, variables)
        )
        self._gs = [
            self.add_weight(
                name="g" if i == 0 else f"g_{name}",
                shape=tuple(kernel.shape[a] for a in axes),
                initializer=_KernelNorm(self, i),
                autocast=False,
                aggregation="mean",
            )
            for i, (name, kernel, axes) in enumerate(zip(self.kernels, variables, self._unit_axes))
        ]
        self.initialized = self.add_weight(
            name="initialized",
            shape=(),
            initializer="zeros" if self.data_init else "ones",
            trainable=False,
            autocast=False,
            aggregation="only_first_replica",
        )

    # --- what is normalized ----------------------------------------------------------------

    @property
    def kernel_variables(self) -> list:
        """The wrapped layer's kernel variables `v` that are normalized, in `kernels` order.

        Looked up on each use rather than stored: a list attribute would make Keras track
        them as the wrapper's own variables too (and save them twice).
        """
        owner = self._rule.owner(self.layer)
        return [_find_variable(owner, name, type(self.layer).__name__) for name in self.kernels]

    @property
    def lengths(self) -> list:
        """The length variables `g`, one per normalized kernel (shaped like its units)."""
        return list(self._gs)

    @property
    def g(self) -> keras.Variable:
        """The length variable of the first normalized kernel, one entry per output unit."""
        return self._gs[0]

    @property
    def _bias(self):
        """The wrapped layer's bias variable, or None for a layer without one."""
        bias = getattr(self.layer, "bias", None)
        return bias if isinstance(bias, keras.Variable) else None

    def _squared_norm(self, kernel, index: int):
        """Per-unit sum of squares of kernel `index` plus epsilon, in float32."""
        kernel = ops.cast(kernel, "float32")
        axes = [a for a in range(len(kernel.shape)) if a not in self._unit_axes[index]]
        return ops.sum(ops.square(kernel), axis=axes) + _NORM_EPSILON

    def unit_axes(self, name: str | None = None) -> tuple[int, ...]:
        """The axes of a normalized kernel (default: the first) that index its output units;
        its `g` has their shape, and the norm is over the other axes. Needs a built layer."""
        return self._unit_axes[self.kernels.index(name) if name is not None else 0]

    def kernel_norm(self, kernel, name: str | None = None):
        """Per-unit L2 norm of a kernel, in float32 (shaped like its `g`).

        Args:
            kernel: The kernel's value.
            name: Which normalized kernel it is (default: the first of `kernels`).
        """
        index = self.kernels.index(name) if name is not None else 0
        return ops.sqrt(self._squared_norm(kernel, index))

    def reset_lengths(self) -> None:
        """Sets each `g` to the norm of its kernel `v`, as without data-dependent init.

        The wrapper then computes exactly what the wrapped layer computes with its current
        weights; use it after assigning new kernels to the wrapped layer.

        Example:

        >>> wn = WeightNormalization(keras.layers.Dense(4), data_init=False)
        >>> wn.build((None, 3))
        >>> wn.layer.kernel.assign(np.ones((3, 4)))
        >>> wn.reset_lengths()  # g = sqrt(3) for every unit
        """
        for i, (g, kernel) in enumerate(zip(self._gs, self.kernel_variables)):
            g.assign(ops.sqrt(self._squared_norm(kernel.value, i)))

    def _normalized(self, index: int, unit_length: bool = False):
        """`g * v / ||v||` for kernel `index` (`v / ||v||` if `unit_length`)."""
        kernel = self.kernel_variables[index]
        with AutocastScope(None):  # read v once, in its own (float32) dtype
            v = ops.cast(ops.convert_to_tensor(kernel.value), "float32")
        scale = ops.rsqrt(self._squared_norm(v, index))  # shaped like the units
        if not unit_length:
            scale = ops.multiply(ops.cast(self._gs[index].value, "float32"), scale)
        axes = self._unit_axes[index]
        shape = [v.shape[a] if a in axes else 1 for a in range(len(v.shape))]
        return ops.cast(ops.multiply(v, ops.reshape(scale, shape)), kernel.dtype)

    def normalized_kernels(self, unit_length: bool = False) -> list:
        """Returns `g * v / ||v||` for each normalized kernel (`v / ||v||` if `unit_length`)."""
        return [self._normalized(i, unit_length) for i in range(len(self.kernels))]

    # --- calling -----------------------------------------------------------------------------

    def call(self, inputs, training=None, mask=None, **kwargs):
        if self._init_journal is not None:
            self._initialize_from(inputs, self._init_journal)
        elif training and not self._known_initialized:
            self._initialize_in_training_step(inputs)
        substitutes = list(zip(self.kernel_variables, self.normalized_kernels()))
        kwargs = self._layer_kwargs(training, mask, kwargs)
        return self._call_wrapped(inputs, substitutes, kwargs)

    def _layer_kwargs(self, training, mask, kwargs: dict) -> dict:
        """The keyword arguments for the wrapped layer's call (a mask only if it takes one)."""
        kwargs = {**kwargs, "training": training}
        if mask is not None and self._takes_mask:
            kwargs["mask"] = mask
        return kwargs

    def _call_wrapped(self, inputs, substitutes: Sequence[tuple], kwargs: dict):
        """Calls the wrapped layer with some of its variables replaced by tensors.

        Keras 3 layers read their kernel through a variable, so the normalized kernel is
        substituted with a `StatelessScope`. The scope carries over the enclosing scope's
        mapping (the JAX trainer runs the whole step inside one), and hands back any
        losses and variable updates the wrapped layer made.
        """
        outer = get_stateless_scope()
        scope = keras.StatelessScope(collect_losses=True, initialize_variables=False)
        if outer is not None:
            scope.state_mapping.update(outer.state_mapping)
        for variable, value in substitutes:
            scope.state_mapping[id(variable)] = value
        with scope:
            outputs = self.layer(inputs, **kwargs)
        substituted = {id(variable) for variable, _ in substitutes}
        for variable in self.layer.variables:
            value = scope.get_current_value(variable)
            before = outer.get_current_value(variable) if outer is not None else None
            if value is not None and value is not before and id(variable) not in substituted:
                variable.assign(value)
        for loss in scope.losses:
            self.add_loss(loss)
        return outputs

    def compute_output_shape(self, input_shape, *args, **kwargs):
        return self.layer.compute_output_shape(input_shape, *args, **kwargs)

    def compute_output_spec(self, inputs, training=None, mask=None, **kwargs):
        # The wrapped layer's own spec: its output dtype may differ from the wrapper's.
        kwargs = self._layer_kwargs(training, mask, kwargs)
        if not self._takes_training:
            kwargs.pop("training")
        return self.layer.compute_output_spec(inputs, **kwargs)

    def compute_mask(self, inputs, previous_mask=None):
        return self.layer.compute_mask(inputs, previous_mask)

    @property
    def states(self):
        """The wrapped recurrent layer's states."""
        return self.layer.states

    def reset_state(self) -> None:
        """Resets the states of a stateful wrapped recurrent layer."""
        self.layer.reset_state()

    # --- inference and serialization -------------------------------------------------------

    def remove(self) -> keras.layers.Layer:
        """Returns a new, plain copy of the wrapped layer with `w` baked into its kernels.

        The copy computes the same outputs without any weight-norm cost. The wrapper and
        its model are left untouched.

        Example:

        >>> wn = WeightNormalization(keras.layers.Dense(4), data_init=False)
        >>> _ = wn(np.ones((2, 3)))
        >>> dense = wn.remove()
        """
        if not self.built:
            raise ValueError(
                f"WeightNormalization layer '{self.name}' must be built before `remove()`. "
                "Call it on a batch, or build its model first."
            )
        plain = type(self.layer).from_config(self.layer.get_config())
        plain.build(self._build_input_shape)
        baked = dict(zip(map(id, self.kernel_variables), self.normalized_kernels()))
        for source, target in zip(self.layer.weights, plain.weights):
            # A copy: backends that donate buffers (JAX) must not share them across models.
            target.assign(ops.convert_to_numpy(baked.get(id(source), source.value)))
        return plain

    def get_config(self):
        config = super().get_config()
        config["data_init"] = self.data_init
        config["kernels"] = list(self.kernels)
        config["init_style"] = self.init_style
        config.pop("autocast", None)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = copy.deepcopy(config)
        # `Bidirectional` builds its backward copy from this config with `go_backwards`.
        go_backwards = config.pop("go_backwards", None)
        if go_backwards is not None:
            layer_config = config["layer"]["config"]
            if "go_backwards" not in layer_config:
                raise ValueError(
                    "`Bidirectional` needs a recurrent layer inside WeightNormalization. "
                    f"Received: `layer={config['layer'].get('class_name')}`"
                )
            layer_config["go_backwards"] = go_backwards
        return super().from_config(config, custom_objects=custom_objects)


class _KernelNorm(keras.initializers.Initializer):
    """Initializes a `g` to `||v||` (computed when the variable is created, so that it also
    holds when the model is first built inside a stateless scope)."""

    def __init__(self, wrapper: WeightNormalization, index: int):
        self.wrapper = wrapper
        self.index = index

    def __call__(self, shape, dtype=None):
        kernel = self.wrapper.kernel_variables[self.index]
        norm = ops.sqrt(self.wrapper._squared_norm(kernel.value, self.index))
        return ops.cast(norm, dtype or "float32")


def _claim(layer: keras.layers.Layer, wrapper: WeightNormalization) -> None:
    """Records `wrapper` as the owner of `layer`; refuses a layer another wrapper owns (two
    wrappers would each save the layer's variables, and the model would not load)."""

    def owner():
        found = _OWNERS[layer]() if layer in _OWNERS else None
        return found if found is not wrapper else None

    if owner() is not None:
        gc.collect()  # a discarded wrapper may linger in a reference cycle
    if owner() is not None:
        raise ValueError(
            f"Layer '{layer.name}' already belongs to WeightNormalization layer "
            f"'{owner().name}'; a layer can have one wrapper (to share it, call that wrapper "
            f"twice). Received: `layer={type(layer).__name__}`"
        )
    _OWNERS[layer] = weakref.ref(wrapper)


def _find_variable(owner, name: str, layer_name: str) -> keras.Variable:
    # Some layers keep the variable behind a read-only property (e.g. `Dense._kernel`).
    for attribute in (f"_{name}", name):
        variable = getattr(owner, attribute, None)
        if isinstance(variable, keras.Variable):
            return variable
    raise ValueError(
        f"WeightNormalization could not find the `{name}` variable of the wrapped "
        f"`{layer_name}` layer after building it. Received: `layer={layer_name}`"
    )
