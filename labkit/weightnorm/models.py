"""Weight normalization on whole models: `data_init`, `apply_weight_norm`, `remove_weight_norm`.

Example:

>>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
>>> normalized = apply_weight_norm(model)  # same predictions, Dense now weight-normalized
>>> plain = remove_weight_norm(normalized)  # and back
"""

from __future__ import annotations

import contextlib
import inspect
import warnings
from collections.abc import Callable, Iterator

import keras
from keras import ops

from labkit._checks import check, check_choice
from labkit._keras_compat import flatten_layers
from labkit.weightnorm.initialization import InitJournal
from labkit.weightnorm.kernels import own_rule, unsupported_reason
from labkit.weightnorm.layer import WeightNormalization

__all__ = [
    "apply_weight_norm",
    "data_init",
    "plain_variables",
    "plain_weights",
    "remove_weight_norm",
]

# Keras' wrappers that call one layer (Bidirectional: two copies) over a sequence.
_SEQUENCE_WRAPPERS = (keras.layers.TimeDistributed, keras.layers.Bidirectional)
_WRAPPER_CLASS = "WeightNormalization"


def _weight_norm_layers(layer: keras.layers.Layer) -> Iterator[WeightNormalization]:
    for inner in flatten_layers(layer):
        if isinstance(inner, WeightNormalization):
            yield inner


def plain_variables(layer: keras.layers.Layer) -> list:
    """`layer.weights` without the variables of the `WeightNormalization` layers in it (their
    lengths and `initialized` flags): the weights of the same layer without weight norm.

    Example:

    >>> wn = WeightNormalization(keras.layers.Dense(2), data_init=False)
    >>> wn.build((None, 3))
    >>> [v.name for v in plain_variables(wn)]
    ['kernel', 'bias']
    """
    own = {
        id(variable)
        for wrapper in _weight_norm_layers(layer)
        for variable in (*wrapper.lengths, wrapper.initialized)
    }
    return [variable for variable in layer.weights if id(variable) not in own]


def plain_weights(layer: keras.layers.Layer) -> list:
    """The values of `plain_variables(layer)`, each normalized kernel baked (`g * v / ||v||`):
    what a copy of `layer` without weight norm needs to compute the same outputs.

    Example:

    >>> wn = WeightNormalization(keras.layers.Dense(2), data_init=False)
    >>> wn.build((None, 3))
    >>> [w.shape for w in plain_weights(wn)]
    [(3, 2), (2,)]
    """
    baked = {}
    for wrapper in _weight_norm_layers(layer):
        baked.update(zip(map(id, wrapper.kernel_variables), wrapper.normalized_kernels()))
    # Copies: backends that donate buffers (JAX) must not share them across models.
    return [ops.convert_to_numpy(baked.get(id(v), v.value)) for v in plain_variables(layer)]


# --- data-dependent initialization -----------------------------------------------------------


@contextlib.contextmanager
def _time_steps_as_batch(wrapper: keras.layers.TimeDistributed) -> Iterator[None]:
    """Within the context, `wrapper` calls its layer once on all time steps, merged into the
    batch axis (what `TimeDistributed` computes, in one call: data init sees every step)."""

    def call(inputs, training=None, mask=None):
        batch, steps = ops.shape(inputs)[0], ops.shape(inputs)[1]
        outputs = wrapper.layer(ops.reshape(inputs, (-1, *inputs.shape[2:])), training=training)
        return ops.reshape(outputs, (batch, steps, *outputs.shape[1:]))

    wrapper.call = call
    try:
        yield
    finally:
        del wrapper.call


def data_init(model: keras.Model, x_batch) -> keras.Model:
    """Runs data-dependent initialization on one batch of training data.

    Every `WeightNormalization` layer with `data_init=True` sets its `g` and bias from the
    statistics of its pre-activations over `x_batch` (zero mean and unit variance with
    `init_style="paper"`; see `WeightNormalization` for `"tfa"`), layer after layer in one
    forward pass (each layer sees the already-initialized outputs of the layers before
    it). Inside `TimeDistributed` the statistics cover every time step. Works eagerly on
    every backend; call it once, before `fit`.

    Each layer checks the batch before it writes anything. If one refuses it (an empty
    batch, NaN or inf values, overflow, or every unit of a layer constant over the batch)
    the layers initialized before it are put back, so the model is left exactly as it was,
    and a one-line `ValueError` names the layer and what is wrong.

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
        name = getattr(model, "name", repr(model))
        raise ValueError(
            "`data_init` found no WeightNormalization layer with `data_init=True` in the "
            f"model. Received: `model={name}`"
        )
    time_distributed = [
        wrapper
        for wrapper in flatten_layers(model)
        if isinstance(wrapper, keras.layers.TimeDistributed)
        and any(layer in layers for layer in flatten_layers(wrapper.layer))
    ]
    journal = InitJournal()
    for layer in layers:
        layer._init_journal = journal
    try:
        with contextlib.ExitStack() as stack:
            for wrapper in time_distributed:
                stack.enter_context(_time_steps_as_batch(wrapper))
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


# --- whole models --------------------------------------------------------------------------


def _check_model(function: str, model, subclassed_advice: str) -> None:
    """One line unless `model` is a built Sequential or functional model."""
    if not isinstance(model, keras.Model):
        hint = ""
        if isinstance(model, keras.layers.Layer):
            hint = " (for one layer: `WeightNormalization(layer)`, `wrapper.remove()`)"
        raise ValueError(
            f"`{function}` expects a Keras Sequential or functional model{hint}. "
            f"Received: `model={_one_line(model)}` (a {type(model).__name__})"
        )
    if not isinstance(model, (keras.Sequential, keras.Function)):
        raise ValueError(
            f"`{function}` cannot rebuild subclassed model '{model.name}', whose layers are "
            f"created by its own code: {subclassed_advice}. "
            f"Received: `model={type(model).__name__}`"
        )
    if not model.built:
        raise ValueError(
            f"The model must be built first (give it an `Input`, or call it on a batch). "
            f"Received: `model={model.name}`"
        )


def _one_line(value, limit: int = 60) -> str:
    """`repr(value)` on one line, shortened to `limit` characters."""
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _copy(layer: keras.layers.Layer) -> keras.layers.Layer:
    """A new layer from `layer`'s config (its weights are copied once it is built)."""
    try:
        return type(layer).from_config(layer.get_config())
    except Exception as error:
        raise ValueError(
            f"`apply_weight_norm` could not copy layer '{layer.name}' from its config "
            f"({type(error).__name__}: {error}). Received: `layer={type(layer).__name__}`"
        ) from error


def _rewrap(layer: keras.layers.Layer, change: Callable[[dict], dict]) -> keras.layers.Layer:
    """A new `TimeDistributed` or `Bidirectional` like `layer`, each inner layer's serialized
    config passed through `change`."""
    config = layer.get_config()
    for key in ("layer", "backward_layer"):
        if config.get(key) is not None:
            config[key] = change(config[key])
    return type(layer).from_config(config)


def _inner(layer: keras.layers.Layer) -> keras.layers.Layer:
    """The layer a `TimeDistributed` or `Bidirectional` wraps (the forward one), or `layer`."""
    if isinstance(layer, keras.layers.Bidirectional):
        return layer.forward_layer
    return layer.layer if isinstance(layer, keras.layers.TimeDistributed) else layer


def _assign(targets: list, values: list, layer_name: str) -> None:
    shapes = [tuple(t.shape) for t in targets], [tuple(v.shape) for v in values]
    if shapes[0] != shapes[1]:
        raise RuntimeError(f"The copy of '{layer_name}' has weights {shapes[0]}, not {shapes[1]}")
    for target, value in zip(targets, values):
        target.assign(value)


def remove_weight_norm(model: keras.Model) -> keras.Model:
    """Returns a copy of `model` with every `WeightNormalization` replaced by its plain layer.

    The copy makes the same predictions and pays no weight-norm cost at inference. The
    original model is left untouched (its other layers are shared with the copy). Works
    on Sequential and functional models, nested ones, and inside `TimeDistributed` and
    `Bidirectional`; a subclassed model is refused with what to do instead.

    Args:
        model: A built Sequential or functional model.

    Returns:
        A new model of the same kind, without weight normalization.

    Example:

    >>> fast = labkit.remove_weight_norm(trained_model)
    >>> fast.predict(x_test)
    """
    _check_model(
        "remove_weight_norm",
        model,
        "in its code, replace each `WeightNormalization` layer by `wrapper.remove()` (a "
        "plain layer with the same outputs), or build it as a functional model",
    )
    copies, kept = [], []

    def replace(layer):
        if isinstance(layer, WeightNormalization):
            return layer.remove()
        if isinstance(layer, (keras.Sequential, keras.Function)):  # a nested model
            return remove_weight_norm(layer) if any(_weight_norm_layers(layer)) else layer
        if isinstance(layer, keras.Model) and any(_weight_norm_layers(layer)):
            kept.append(layer)  # a nested subclassed model: its code creates its layers
            return layer
        if isinstance(layer, _SEQUENCE_WRAPPERS) and any(_weight_norm_layers(layer)):
            copy = _rewrap(layer, _without_weight_norm)
            copies.append((layer, copy))
            return copy
        return layer

    functional = isinstance(model, keras.Function)
    clone = keras.models.clone_model(
        model, clone_function=replace, call_function=_call_without_mask if functional else None
    )
    for layer, copy in copies:
        _assign(copy.weights, plain_weights(layer), layer.name)
    if kept:
        names = ", ".join(f"'{layer.name}' ({type(layer).__name__})" for layer in kept)
        warnings.warn(
            f"remove_weight_norm kept the WeightNormalization layers inside subclassed "
            f"model(s) {names}: their own code creates them; remove them there.",
            stacklevel=2,
        )
    return clone


def _call_without_mask(layer: keras.layers.Layer, *args, **kwargs):
    """Calls `layer` in the copy of a functional model, dropping the `mask` argument that
    Keras recorded for the wrapper if the plain layer does not take one."""
    if "mask" in kwargs and "mask" not in inspect.signature(layer.call).parameters:
        del kwargs["mask"]
    return layer(*args, **kwargs)


def _without_weight_norm(serialized: dict) -> dict:
    is_wrapper = serialized.get("class_name") == _WRAPPER_CLASS
    return serialized["config"]["layer"] if is_wrapper else serialized


def _warn_unwrapped(skipped: list[tuple[keras.layers.Layer, str]]) -> None:
    if skipped:
        names = "; ".join(f"'{x.name}' ({type(x).__name__}: {why})" for x, why in skipped)
        warnings.warn(
            f"apply_weight_norm left {len(skipped)} layer(s) without weight norm: {names}",
            stacklevel=3,
        )


def apply_weight_norm(
    model: keras.Model,
    layer_filter: Callable[[keras.layers.Layer], bool] | None = None,
    data_init: bool = False,
    init_style: str = "paper",
    embeddings: bool = False,
) -> keras.Model:
    """Returns a copy of `model` with every supported layer wrapped in `WeightNormalization`.

    The inverse of `remove_weight_norm`. Each wrapped layer keeps its weights, with `v` its
    kernel and `g = ||v||`, so the copy makes the same predictions as `model`; every other
    layer is copied with its weights too, and `model` is left untouched (no layer is
    shared). Works on Sequential and functional models, nested ones, and inside
    `TimeDistributed` and `Bidirectional`. Layers already weight-normalized are kept as
    they are. Each wrapper takes the name of the layer it wraps (`get_layer` finds it).

    A layer the filter (or, without one, the search for kernels) selects but that cannot be
    wrapped (e.g. `MultiHeadAttention`, a quantized layer, a custom layer) is named in one
    warning with the reason. A subclassed model is refused with what to do instead.

    Args:
        model: A built Sequential or functional model.
        layer_filter: `layer_filter(layer) -> bool` chooses the layers to wrap (for
            `TimeDistributed` and `Bidirectional`, it is called with the layer inside).
            `None` (the default) wraps every supported layer.
        data_init: Whether the wrappers use data-dependent init (where it is meaningful):
            it then overwrites `g` and the bias on the first training batch, or in
            `labkit.data_init`. `False` (the default) keeps the predictions.
        init_style: The data-dependent init style, `"paper"` or `"tfa"`.
        embeddings: Whether to normalize `Embedding` layers too (one norm per row).

    Returns:
        A new model of the same kind, weight-normalized.

    Example:

    >>> normalized = labkit.apply_weight_norm(model, layer_filter=lambda l: l.name != "logits")
    >>> normalized.compile("adam", "categorical_crossentropy")
    """
    _check_model(
        "apply_weight_norm",
        model,
        "wrap its layers where its code creates them, e.g. "
        "`self.dense = labkit.WeightNormalization(keras.layers.Dense(8))`",
    )
    check("data_init", data_init, isinstance(data_init, bool), "a boolean")
    check("embeddings", embeddings, isinstance(embeddings, bool), "a boolean")
    check_choice("init_style", init_style, ("paper", "tfa"))
    is_filter = layer_filter is None or callable(layer_filter)
    check("layer_filter", layer_filter, is_filter, "None or a callable")
    copies, skipped = [], []

    def wrap(layer: keras.layers.Layer) -> WeightNormalization:
        kernels = ("embeddings",) if isinstance(layer, keras.layers.Embedding) else None
        rule = own_rule(layer)
        meaningful = data_init and rule.data_init_problem(layer, kernels or rule.default) is None
        return WeightNormalization(
            layer, data_init=meaningful, kernels=kernels, init_style=init_style, name=layer.name
        )

    def wrap_serialized(serialized: dict) -> dict:
        layer = keras.saving.deserialize_keras_object(serialized)
        return keras.saving.serialize_keras_object(wrap(layer))

    def copy_or_wrap(layer):
        reason = _why_not_wrapped(layer, layer_filter, embeddings)
        if reason is None and _inner(layer) is not layer:
            copy = _rewrap(layer, wrap_serialized)
        elif reason is None:
            copy = wrap(_copy(layer))
        else:
            copy = _copy(layer)
            if reason:
                skipped.append((layer, reason))
        copies.append((layer, copy, reason is None))
        return copy

    clone = keras.models.clone_model(model, clone_function=copy_or_wrap, recursive=True)
    if not any(wrapped for _, _, wrapped in copies) and not any(_weight_norm_layers(model)):
        raise ValueError(
            f"`apply_weight_norm` found no layer to wrap in model '{model.name}'"
            + (f" (left: {', '.join(repr(layer.name) for layer, _ in skipped)})" if skipped else "")
            + f". Received: `model={model.name}`"
        )
    for layer, copy, wrapped in copies:
        values = [ops.convert_to_numpy(w.value) for w in layer.weights]
        _assign(plain_variables(copy) if wrapped else copy.weights, values, layer.name)
        for wrapper in _weight_norm_layers(copy) if wrapped else ():
            wrapper.reset_lengths()
    _warn_unwrapped(skipped)
    return clone


def _why_not_wrapped(layer, layer_filter, embeddings: bool) -> str | None:
    """None if `apply_weight_norm` wraps `layer`; else why not ("" when that needs no word:
    a layer not selected, or without a kernel)."""
    inner = _inner(layer)
    if any(_weight_norm_layers(layer)):
        return ""  # already weight-normalized
    selected = bool(layer_filter(inner)) if layer_filter is not None else None
    if selected is False:
        return ""
    is_embedding = isinstance(inner, keras.layers.Embedding)
    reason = unsupported_reason(inner)
    if reason is None and own_rule(inner) is None:
        reason = (
            "a custom layer; if its kernel's last axis holds the output units, wrap it "
            "yourself with `labkit.WeightNormalization`"
        )
    if reason is None and is_embedding and not embeddings:
        reason = "Embedding layers are normalized on request: pass `embeddings=True`"
    if reason is None:
        return None
    if selected:  # chosen by the filter: worth a word if it has weights at all
        return reason if inner.weights else ""
    has_kernel = any("kernel" in w.name for w in inner.weights) or (is_embedding and embeddings)
    return reason if has_kernel else ""
