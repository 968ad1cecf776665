"""Weight normalization for Keras 3 (Salimans & Kingma, 2016).

`WeightNormalization` wraps a layer with a kernel and reparameterizes that kernel as
`w = g * v / ||v||`: the direction `v` (the wrapped layer's own kernel variable) and the
per-output-channel length `g` are trained separately. `data_init` and `remove_weight_norm`
are the two model-level helpers that go with it.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence

import keras
import numpy as np
from keras import ops

from labkit._checks import check, check_choice, quoted
from labkit._keras_compat import AutocastScope, flatten_layers, get_stateless_scope

__all__ = ["WeightNormalization", "data_init", "remove_weight_norm"]

_RECURRENT_LAYERS = (keras.layers.SimpleRNN, keras.layers.GRU, keras.layers.LSTM)
_TRANSPOSE_LAYERS = (
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
)
# Added under the square root of the sum of squares, so a zero kernel gives w = 0, not NaN.
_NORM_EPSILON = 1e-12
# Added to the pre-activation variance during data-dependent init (as in the paper's code
# and tensorflow-addons).
_INIT_EPSILON = 1e-10
# A channel whose pre-activation varies by less than this fraction of its mean over the
# init batch is constant there (float32 rounding), as is one with variance <= _INIT_EPSILON.
_CONSTANT_RTOL = 1e-6
_INIT_STYLES = ("paper", "tfa")


@keras.saving.register_keras_serializable(package="labkit")
class WeightNormalization(keras.layers.Wrapper):
    """Reparameterizes a layer's kernel as `w = g * v / ||v||`.

    The norm is taken over every kernel axis except the output-channel axis (the last
    axis, or axis -2 for the Conv-Transpose layers), so each output unit gets its own
    length `g`. The wrapped layer is otherwise called unchanged: its strides, padding,
    dilation, activation, bias and dtype policy are honoured exactly. For `SimpleRNN`,
    `GRU` and `LSTM` both `kernel` and `recurrent_kernel` are normalized by default;
    `kernels=("recurrent_kernel",)` normalizes only the recurrent kernel, as
    tensorflow-addons' `WeightNormalization` does (its checkpoints load into that form).

    Without data-dependent init, `g` starts at `||v||`, so a freshly wrapped layer computes
    exactly what the unwrapped layer computes.

    With `data_init=True` (data-dependent initialization), on the first *training* batch
    `g` and the bias are set from the statistics of the pre-activation `t` over that
    batch: `g = 1 / std(t)` and `bias = -mean(t) / std(t)` per output channel, where
    `std(t) = sqrt(var(t) + 1e-10)`. `init_style` picks `t`:

    - `"paper"` (the default; Salimans & Kingma, 2016, section 3): `t = v.x / ||v||`, so
      `g = ||v|| / std(v.x)` and every channel's pre-activation starts with zero mean and
      unit variance over the batch.
    - `"tfa"` (tensorflow-addons 0.23, which the TensorFlow tutorial used): `t = v.x + b0`
      with the raw kernel and the bias `b0` the layer had before the init (zero unless
      its bias initializer says otherwise), as tfa's "naked clone" of the layer computes
      it; tfa starts `g` at ones and multiplies it by `1 / std(t)`. So `g = 1 / std(v.x)`,
      the paper's `g` divided by `||v||`, and (for a zero `b0`) the same bias. Every
      channel still starts with zero mean, but with standard deviation `1 / ||v||`
      instead of 1. For Glorot-uniform kernels `||v||^2` is about
      `2 fan_in / (fan_in + fan_out)`, below 2: in the tutorial's ConvNet the channels
      start with standard deviations of about 1.23 and 1.35 in the two Conv2D layers and
      0.81, 0.93 and 0.75 in the Dense layers, so the softmax starts from logits
      0.75 times as spread as the paper's. Use it to reproduce tfa's numbers step for step.

    A layer without a bias gets the scale only (its mean is left as it is). A channel that
    is constant over the batch (a dead unit, e.g. one whose inputs are all zero there) has
    no spread to normalize: it keeps its `g` and bias, so it computes what it computed
    before the init (tfa would set its `g` to 1e5). `labkit.data_init` refuses, with a
    `ValueError` naming the layer and leaving the whole model as it was, a batch that
    is empty, holds NaN or inf, overflows, or on which every channel of a layer is
    constant (a constant batch, or a single example to a `Dense` layer). The
    initialization runs once: never in `predict`, `evaluate` or a symbolic build, and it
    is saved with the model. It happens either

    - explicitly, with `labkit.data_init(model, x_batch)` before training (the paper's
      way; works on every backend and adds nothing to the training step), or
    - automatically, inside the first `fit` step on TensorFlow and PyTorch. A step that
      TensorFlow compiled before the init ran keeps a scalar branch per layer (a few
      percent on a small model on CPU). On JAX, Keras discards assignments to trainable
      variables made inside a compiled train step, so there a training call raises until
      `labkit.data_init` has run.

    Under `tf.distribute` strategies each replica computes the statistics of its own part
    of the first batch, and `g` and the bias are set to their means over the replicas. For
    this the wrapped layer's weights are created with `aggregation="mean"`, so pass it
    unbuilt (as usual) when training under a strategy with in-`fit` init.

    Recurrent layers do not support data-dependent init (the paper advises against it);
    wrapping one with `data_init=True` warns and uses `data_init=False`.

    Norms and batch statistics are computed in float32 under mixed precision.

    Args:
        layer: The layer to wrap: `Dense`, `Conv1D/2D/3D`, `Conv1D/2D/3DTranspose`,
            `SimpleRNN`, `GRU` or `LSTM` (or any layer whose kernel's last axis holds
            the output channels).
        data_init: Whether to use data-dependent initialization.
        kernels: Names of the wrapped layer's kernel variables to normalize, each with
            its own length variable (the first is `g`, the others `g_<name>`). `None`
            (the default) means `("kernel",)`, and `("kernel", "recurrent_kernel")` for
            recurrent layers, which may also use either name alone.
        init_style: Which data-dependent init: `"paper"` (the default) or `"tfa"`.
        **kwargs: Base layer keyword arguments, such as `name`.

    Example:

    >>> layer = WeightNormalization(keras.layers.Dense(4))
    >>> y = layer(np.ones((2, 3)))
    >>> y.shape
    (2, 4)
    >>> plain = layer.remove()  # a Dense layer with w baked into its kernel
    """

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
        self._check_wrappable(layer)
        self.kernels = _checked_kernels(layer, kernels)
        if data_init and isinstance(layer, _RECURRENT_LAYERS):
            warnings.warn(
                f"WeightNormalization: data-dependent init is not supported for "
                f"{type(layer).__name__} layers; using `data_init=False`.",
                stacklevel=2,
            )
            data_init = False
        self.data_init = data_init
        self.init_style = init_style
        # Python-side mirror of the `initialized` variable, so that an initialized layer
        # adds no branch to the traced training step.
        self._known_initialized = not data_init
        # Set by `labkit.data_init` for one eager forward pass.
        self._init_journal: _InitJournal | None = None

    @staticmethod
    def _check_wrappable(layer: keras.layers.Layer) -> None:
        name = type(layer).__name__
        if isinstance(layer, WeightNormalization):
            raise ValueError(f"The layer is already weight-normalized. Received: `layer={name}`")
        if isinstance(layer, _RECURRENT_LAYERS):
            return
        if not hasattr(layer, "kernel_initializer"):
            raise ValueError(
                f"WeightNormalization needs a layer with a `kernel` (Dense, Conv, "
                f"Conv-Transpose, SimpleRNN, GRU or LSTM); `{name}` has none. "
                f"Received: `layer={name}`"
            )

    def build(self, input_shape):
        if self.data_init and not self.layer.built:
            # The bias is assigned inside a training step; without an aggregation each
            # replica of a distributed model would keep its own value.
            with _replica_mean_weights(self.layer):
                self.layer.build(input_shape)
        super().build(input_shape)
        self._build_input_shape = input_shape
        self._output_axis = -2 if isinstance(self.layer, _TRANSPOSE_LAYERS) else -1
        self._gs = [
            self.add_weight(
                name="g" if i == 0 else f"g_{name}",
                shape=(kernel.shape[self._output_axis],),
                initializer=_KernelNorm(self, kernel),
                autocast=False,
                aggregation="mean",
            )
            for i, (name, kernel) in enumerate(zip(self.kernels, self._kernel_variables))
        ]
        self.initialized = self.add_weight(
            name="initialized",
            shape=(),
            initializer="zeros" if self.data_init else "ones",
            trainable=False,
            autocast=False,
            aggregation="only_first_replica",
        )

    @property
    def _kernel_variables(self) -> list:
        """The wrapped layer's kernel variables `v` that are normalized.

        Looked up on each use rather than stored: a list attribute would make Keras track
        them as the wrapper's own variables too (and save them twice).
        """
        owner = self.layer.cell if isinstance(self.layer, _RECURRENT_LAYERS) else self.layer
        layer_name = type(self.layer).__name__
        return [_find_variable(owner, name, layer_name) for name in self.kernels]

    @property
    def _bias(self):
        """The wrapped layer's bias variable, or None for a layer without one."""
        return getattr(self.layer, "bias", None)

    @property
    def g(self) -> keras.Variable:
        """The length variable of the first normalized kernel, one entry per output channel."""
        return self._gs[0]

    def _squared_norm(self, kernel):
        """Per-output-channel sum of squares of a kernel plus epsilon, in float32."""
        kernel = ops.cast(kernel, "float32")
        rank = len(kernel.shape)
        axes = [a for a in range(rank) if a != rank + self._output_axis]
        return ops.sum(ops.square(kernel), axis=axes) + _NORM_EPSILON

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
        for g, kernel in zip(self._gs, self._kernel_variables):
            g.assign(self.kernel_norm(kernel.value))

    def kernel_norm(self, kernel) -> keras.KerasTensor:
        """Per-output-channel L2 norm of a kernel, in float32 (shape: output channels)."""
        return ops.sqrt(self._squared_norm(kernel))

    def normalized_kernels(self, unit_length: bool = False) -> list:
        """Returns `g * v / ||v||` for each normalized kernel (`v / ||v||` if `unit_length`)."""
        kernels = []
        for kernel, g in zip(self._kernel_variables, self._gs):
            with AutocastScope(None):  # read v once, in its own (float32) dtype
                v = ops.cast(ops.convert_to_tensor(kernel.value), "float32")
            scale = ops.rsqrt(self._squared_norm(v))  # one entry per output channel
            if not unit_length:
                scale = ops.multiply(ops.cast(g.value, "float32"), scale)
            if self._output_axis != -1:  # with the output channels last, it broadcasts
                shape = [1] * len(v.shape)
                shape[self._output_axis] = -1
                scale = ops.reshape(scale, shape)
            kernels.append(ops.cast(ops.multiply(v, scale), kernel.dtype))
        return kernels

    def call(self, inputs, training=None):
        if self._init_journal is not None:
            self._initialize_from(inputs, self._init_journal)
        elif training and not self._known_initialized:
            self._initialize_in_training_step(inputs)
        substitutes = list(zip(self._kernel_variables, self.normalized_kernels()))
        return self._call_wrapped(inputs, substitutes, training=training)

    def _call_wrapped(self, inputs, substitutes: Sequence[tuple], training=None):
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
            outputs = self.layer(inputs, training=training)
        substituted = {id(variable) for variable, _ in substitutes}
        for variable in self.layer.variables:
            value = scope.get_current_value(variable)
            before = outer.get_current_value(variable) if outer is not None else None
            if value is not None and value is not before and id(variable) not in substituted:
                variable.assign(value)
        for loss in scope.losses:
            self.add_loss(loss)
        return outputs

    # --- data-dependent initialization -------------------------------------------------

    def _init_statistics(self, inputs) -> tuple:
        """Per-channel mean and variance over the batch of the pre-activation `t` that data
        init normalizes: `t = v.x / ||v||` ("paper") or `t = v.x + b0` ("tfa")."""
        substitutes = []
        bias = self._bias
        if self.init_style == "paper":
            unit = self.normalized_kernels(unit_length=True)
            substitutes = list(zip(self._kernel_variables, unit))
            if bias is not None:
                substitutes.append((bias, ops.zeros(bias.shape, bias.dtype)))
        with _without_activation(self.layer):
            t = ops.cast(self._call_wrapped(inputs, substitutes, training=False), "float32")
        channel_axis = _channel_axis(self.layer, len(t.shape))
        axes = [a for a in range(len(t.shape)) if a != channel_axis]
        # Two passes (as `tf.nn.moments`): `E[t^2] - E[t]^2` cancels badly in float32.
        mean = ops.mean(t, axis=axes, keepdims=True)
        variance = ops.mean(ops.square(t - mean), axis=axes)
        return ops.reshape(mean, variance.shape), variance

    def _init_values(self, mean, variance) -> tuple:
        """`g = 1 / std(t)`, `b = -mean(t) / std(t)`; constant channels keep their own."""
        scale = ops.rsqrt(variance + _INIT_EPSILON)
        bias = self._bias
        current_b = bias.value if bias is not None else ops.zeros(self.g.shape)
        spread = _has_spread(mean, variance)
        g = ops.where(spread, scale, ops.cast(self.g.value, "float32"))
        b = ops.where(spread, ops.multiply(-mean, scale), ops.cast(current_b, "float32"))
        return g, b

    def _assign_init(self, g, b) -> None:
        self.g.assign(g)
        bias = self._bias
        if bias is not None:
            bias.assign(ops.cast(b, bias.dtype))
        self.initialized.assign(1.0)

    def _initialize_from(self, inputs, journal: _InitJournal) -> None:
        """Eager, unconditional init from this batch (used by `labkit.data_init`): checks
        the statistics first, and records in `journal` what it overwrites, or why it
        refuses the batch (raised by `data_init`, outside Keras' call-error wrapping)."""
        if journal.refusal is not None:  # a layer before this one refused the batch
            return
        mean, variance = self._init_statistics(inputs)
        journal.refusal = self._init_batch_problem(inputs, mean, variance)
        if journal.refusal is not None:
            return
        journal.save(self)
        self._assign_init(*self._init_values(mean, variance))
        self._known_initialized = True

    def _init_batch_problem(self, inputs, mean, variance) -> str | None:
        """The one-line error if data init on this batch would write nonsense, else None;
        warns about channels that are constant on it (they keep their `g` and bias)."""
        shape = tuple(inputs.shape)
        mean, variance = ops.convert_to_numpy(mean), ops.convert_to_numpy(variance)
        spread = ops.convert_to_numpy(_has_spread(mean, variance))
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
                    f"WeightNormalization layer '{self.name}': {int((~spread).sum())} of "
                    f"{spread.size} output channels are constant over the init batch (dead "
                    "units); they keep their `g` and bias.",
                    stacklevel=2,
                )
            return None
        return (
            f"`data_init` cannot initialize WeightNormalization layer '{self.name}' from this "
            f"batch: {problem}. Received: inputs of shape {shape} to this layer"
        )

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
        bias = self._bias
        current = (self.g.value, bias.value if bias is not None else ops.zeros(self.g.shape))
        g, b = ops.cond(
            ops.greater(self.initialized.value, 0.5),
            lambda: current,
            lambda: self._init_values(*self._init_statistics(inputs)),
        )
        # Assign outside the branch: under MirroredStrategy a synchronized update may not
        # sit inside control flow.
        self._assign_init(g, b)
        if _is_eager(g):
            self._known_initialized = True

    def load_own_variables(self, store):
        super().load_own_variables(store)
        self._known_initialized = (not self.data_init) or bool(
            ops.convert_to_numpy(self.initialized.value) > 0.5
        )

    # --- inference -----------------------------------------------------------------------

    def remove(self) -> keras.layers.Layer:
        """Returns a new, plain copy of the wrapped layer with `w` baked into its kernel.

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
        baked = dict(zip(map(id, self._kernel_variables), self.normalized_kernels()))
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


class _KernelNorm(keras.initializers.Initializer):
    """Initializes `g` to `||v||` (computed when the variable is created, so that it also
    holds when the model is first built inside a stateless scope)."""

    def __init__(self, wrapper: WeightNormalization, kernel: keras.Variable):
        self.wrapper = wrapper
        self.kernel = kernel

    def __call__(self, shape, dtype=None):
        return ops.cast(self.wrapper.kernel_norm(self.kernel.value), dtype or "float32")


@contextlib.contextmanager
def _replica_mean_weights(layer: keras.layers.Layer) -> Iterator[None]:
    """Makes `layer.add_weight` default to `aggregation="mean"` within the context."""
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
def _without_activation(layer: keras.layers.Layer) -> Iterator[None]:
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


def _checked_kernels(layer: keras.layers.Layer, kernels) -> tuple[str, ...]:
    """Validates `kernels` against what `layer` has; returns the names in canonical order."""
    names = ("kernel", "recurrent_kernel") if isinstance(layer, _RECURRENT_LAYERS) else ("kernel",)
    if kernels is None:
        return names
    valid = (
        isinstance(kernels, (list, tuple))
        and len(kernels) > 0
        and len(set(kernels)) == len(kernels)
        and all(name in names for name in kernels)
    )
    owner = type(layer).__name__
    expected = f"a non-empty list of distinct names from {quoted(names)} (the kernels of `{owner}`)"
    check("kernels", kernels, valid, expected)
    return tuple(name for name in names if name in kernels)


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


def _channel_axis(layer: keras.layers.Layer, rank: int) -> int:
    if getattr(layer, "data_format", "channels_last") == "channels_first" and rank > 2:
        return 1
    return rank - 1


def _has_spread(mean, variance):
    """Per channel: whether the pre-activation varies over the init batch (False for NaN)."""
    threshold = ops.maximum(_INIT_EPSILON, ops.square(_CONSTANT_RTOL * mean))
    return ops.greater(variance, threshold)


class _InitJournal:
    """What `data_init` overwrote, so that a later layer refusing the batch can undo it."""

    def __init__(self):
        self._saved: list[tuple[WeightNormalization, bool, list]] = []
        self.refusal: str | None = None

    def save(self, layer: WeightNormalization) -> None:
        variables = [layer.g, layer.initialized] + (
            [layer._bias] if layer._bias is not None else []
        )
        values = [(v, ops.convert_to_numpy(v.value)) for v in variables]
        self._saved.append((layer, layer._known_initialized, values))

    def restore(self) -> None:
        for layer, known_initialized, values in reversed(self._saved):
            for variable, value in values:
                variable.assign(value)
            layer._known_initialized = known_initialized
        self._saved.clear()


def _is_eager(tensor) -> bool:
    """Whether `tensor` holds a concrete value (not a symbolic graph or traced tensor)."""
    try:
        ops.convert_to_numpy(tensor)
    except Exception:
        return False
    return True


def _weight_norm_layers(model: keras.layers.Layer) -> Iterator[WeightNormalization]:
    for layer in flatten_layers(model):
        if isinstance(layer, WeightNormalization):
            yield layer


def data_init(model: keras.Model, x_batch) -> keras.Model:
    """Runs data-dependent initialization on one batch of training data.

    Every `WeightNormalization` layer with `data_init=True` sets its `g` and bias from the
    statistics of its pre-activations over `x_batch` (zero mean and unit variance with
    `init_style="paper"`; see `WeightNormalization` for `"tfa"`), layer after layer in one
    forward pass (each layer sees the already-initialized outputs of the layers before
    it). Works eagerly on every backend; call it once, before `fit`.

    Each layer checks the batch before it writes anything. If one refuses it (an empty
    batch, NaN or inf values, overflow, or every channel of a layer constant over the
    batch) the layers initialized before it are put back, so the model is left exactly as
    it was, and a one-line `ValueError` names the layer and what is wrong.

    Args:
        model: A model containing `WeightNormalization` layers.
        x_batch: A batch of training inputs (a few hundred examples is typical).

    Returns:
        The same model, initialized.

    Raises:
        ValueError: If no layer has `data_init=True`, or a layer refuses the batch.

    Example:

    >>> model = labkit.build_convnet(weight_norm=True)
    >>> labkit.data_init(model, x_train[:500])
    >>> model.fit(x_train, y_train)
    """
    layers = [layer for layer in _weight_norm_layers(model) if layer.data_init]
    if not layers:
        raise ValueError(
            "`data_init` found no WeightNormalization layer with `data_init=True` in the "
            f"model. Received: `model={model.name}`"
        )
    journal = _InitJournal()
    for layer in layers:
        layer._init_journal = journal
    try:
        model(x_batch, training=False)
    except BaseException:
        journal.restore()
        raise
    finally:
        for layer in layers:
            layer._init_journal = None
    if journal.refusal is not None:
        journal.restore()
        raise ValueError(journal.refusal)
    return model


def remove_weight_norm(model: keras.Model) -> keras.Model:
    """Returns a copy of `model` with every `WeightNormalization` replaced by its plain layer.

    The copy makes the same predictions and pays no weight-norm cost at inference. The
    original model is left untouched (its other layers are shared with the copy).

    Example:

    >>> fast = labkit.remove_weight_norm(trained_model)
    >>> fast.predict(x_test)
    """
    if not model.built:
        raise ValueError(f"The model must be built first. Received: `model={model.name}`")

    def replace(layer):
        return layer.remove() if isinstance(layer, WeightNormalization) else layer

    return keras.models.clone_model(model, clone_function=replace, recursive=True)
