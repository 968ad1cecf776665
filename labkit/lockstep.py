"""Replays a reference training trace (e.g. tensorflow-addons') against a labkit model.

A trace pins a port to the reference step by step: the batches a reference model trained
on, in order, its initial weights, and the per-step `loss` it reported.
`benchmarks/tfa_trace.py` records one from a tf.keras model with
`tfa.layers.WeightNormalization` layers (run it with a TF 2.15 + tensorflow-addons
Python); `load_trace` reads it here, and `replay_trace` trains an equivalent labkit model
from the same start on the same batches and returns its per-step losses to compare.

A trace is an `.npz` file with these arrays (`<variant>` names one recorded training run,
e.g. `no_init` or `data_init`):

- `x_uint8` (images, divided by 255 when loaded) or `x`: the inputs, `steps * batch_size`
  of them in training order; `y`: their targets (integer labels are one-hot encoded for
  `categorical_crossentropy`, to the model's output width).
- `v{i}_<variant>`: the initial kernel of the i-th weight-normalized layer (tfa's `v`);
  optionally `wrapped{i}_<name>_<variant>`: the initial weights of that wrapped layer by
  variable name (`kernel`, `recurrent_kernel`, `bias`). Without them `v` is its `kernel`;
  weights a trace leaves out (such as the bias) start at zero.
- `w{j}_{k}_<variant>`: the initial weights of the j-th other layer that has weights.
- `losses_<variant>`: the reference's per-step `loss` from the batch logs (Keras' running
  mean over the epoch so far).
- optional scalars `batch_size` (default 32), `loss` (default
  `"categorical_crossentropy"`), `optimizer` (default `"adam"`, at its defaults).

Layers are matched by position, walking the model's layers in order and descending into
nested models, on both sides.
"""

from __future__ import annotations

import dataclasses
import os

import keras
import numpy as np
from keras import ops

from labkit._checks import check, quoted
from labkit.weightnorm import WeightNormalization, data_init

__all__ = ["Trace", "load_trace", "replay_trace"]


@dataclasses.dataclass(frozen=True)
class Trace:
    """One recorded training run of a reference model (see the module docstring).

    Attributes:
        x: The inputs, in training order (float32).
        y: Their targets, as recorded (integer labels or one-hot).
        losses: The reference's per-step `loss` (running mean over the epoch).
        wrapped_weights: Per weight-normalized layer, its wrapped layer's initial
            weights by variable name (those left out start at zero).
        other_weights: Per other layer with weights, its initial weights.
        batch_size: Examples per step.
        loss: The loss the reference trained with.
        optimizer: The optimizer, at its defaults.
    """

    x: np.ndarray
    y: np.ndarray
    losses: np.ndarray
    wrapped_weights: list[dict[str, np.ndarray]]
    other_weights: list[list[np.ndarray]]
    batch_size: int = 32
    loss: str = "categorical_crossentropy"
    optimizer: str = "adam"

    @property
    def steps(self) -> int:
        return len(self.losses)


def load_trace(path: str | os.PathLike, variant: str) -> Trace:
    """Reads one variant of a trace written by `benchmarks/tfa_trace.py`.

    Example:

    >>> trace = load_trace("../shared/anchors/tfa_lockstep.npz", "no_init")
    >>> trace.steps, trace.x.shape
    (50, (1600, 32, 32, 3))
    """
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    variants = sorted(name[len("losses_") :] for name in arrays if name.startswith("losses_"))
    recorded = f"one of {quoted(variants)} (the runs recorded in {os.fspath(path)})"
    check("variant", variant, variant in variants, recorded)
    x = arrays["x_uint8"].astype("float32") / 255.0 if "x_uint8" in arrays else arrays["x"]
    wrapped = []
    while f"v{len(wrapped)}_{variant}" in arrays:
        i = len(wrapped)
        named = _suffixed(arrays, f"wrapped{i}_", variant)
        wrapped.append(named or {"kernel": arrays[f"v{i}_{variant}"]})
    others = []
    while numbered := _suffixed(arrays, f"w{len(others)}_", variant):
        others.append([numbered[k] for k in sorted(numbered, key=int)])
    settings = {
        name: kind(arrays[name].item())
        for name, kind in (("batch_size", int), ("loss", str), ("optimizer", str))
        if name in arrays
    }
    return Trace(
        x=x.astype("float32"),
        y=arrays["y"],
        losses=arrays[f"losses_{variant}"],
        wrapped_weights=wrapped,
        other_weights=others,
        **settings,
    )


def replay_trace(model: keras.Model, trace: Trace) -> np.ndarray:
    """Trains a fresh `model` the way the reference trained and returns its per-step losses.

    Sets the model's initial weights from the trace (each `g` to `||v||`, as without
    data-dependent init), runs `labkit.data_init` on the first batch if the model has
    layers with `data_init=True` (the batch tfa initializes on), then trains one pass over
    the trace's batches without shuffling, with the trace's optimizer at its defaults and
    its loss, and records the `loss` of every step's batch logs.

    Example:

    >>> trace = load_trace("../shared/anchors/tfa_lockstep.npz", "data_init")
    >>> model = labkit.build_convnet(weight_norm=True, init_style="tfa")
    >>> losses = replay_trace(model, trace)
    >>> float(np.abs(losses - trace.losses).max()) < 1e-3
    True
    """
    _set_initial_weights(model, trace)
    x, y = trace.x, trace.y
    if trace.loss == "categorical_crossentropy" and y.ndim == 1:
        y = keras.utils.to_categorical(y, num_classes=ops.shape(model(x[:1]))[-1])
    if any(layer.data_init for layer, _ in _weighted_layers(model) if layer is not None):
        data_init(model, x[: trace.batch_size])
    # Keras' plain step, never `labkit.speed`'s "auto" (XLA on Eigen CPUs, 32 steps per
    # call): the replay pins float rounding against tfa's trace, which XLA's reordering of
    # float operations would blur, and it needs every step's loss, which
    # `steps_per_execution > 1` reports only once per call.
    model.compile(
        optimizer=keras.optimizers.get(trace.optimizer), loss=trace.loss, steps_per_execution=1
    )
    losses: list[float] = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: losses.append(float(logs["loss"]))
    )
    model.fit(
        x[: trace.steps * trace.batch_size],
        y[: trace.steps * trace.batch_size],
        batch_size=trace.batch_size,
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=[record],
    )
    return np.asarray(losses)


def _suffixed(arrays: dict, prefix: str, variant: str) -> dict[str, np.ndarray]:
    """`{middle: array}` for the arrays named `<prefix><middle>_<variant>`."""
    suffix = f"_{variant}"
    return {
        name[len(prefix) : -len(suffix)]: array
        for name, array in arrays.items()
        if name.startswith(prefix) and name.endswith(suffix) and len(name) > len(prefix + suffix)
    }


def _weighted_layers(model: keras.Model):
    """Yields `(wrapper, None)` per `WeightNormalization` and `(None, layer)` per other
    layer with weights, in order, descending into nested models (as the recorder does)."""
    for layer in model.layers:
        if isinstance(layer, WeightNormalization):
            yield layer, None
        elif isinstance(layer, keras.Model):
            yield from _weighted_layers(layer)
        elif layer.weights:
            yield None, layer


def _set_initial_weights(model: keras.Model, trace: Trace) -> None:
    layers = list(_weighted_layers(model))
    wrappers = [wrapper for wrapper, _ in layers if wrapper is not None]
    others = [layer for wrapper, layer in layers if wrapper is None]
    if len(wrappers) != len(trace.wrapped_weights) or len(others) != len(trace.other_weights):
        raise ValueError(
            f"The trace does not fit the model: it holds {len(trace.wrapped_weights)} "
            f"weight-normalized and {len(trace.other_weights)} other layers with weights, "
            f"the model {len(wrappers)} and {len(others)}. Received: `model={model.name}`"
        )
    for wrapper, weights in zip(wrappers, trace.wrapped_weights):
        variables = {variable.name: variable for variable in wrapper.layer.weights}
        unknown = sorted(set(weights) - set(variables))
        if unknown:
            raise ValueError(
                f"The trace gives weights {unknown} that layer '{wrapper.layer.name}' lacks; "
                f"it has {sorted(variables)}. Received: `model={model.name}`"
            )
        for name, variable in variables.items():
            variable.assign(weights.get(name, np.zeros(variable.shape, variable.dtype)))
        wrapper.reset_lengths()
    for layer, weights in zip(others, trace.other_weights):
        layer.set_weights(weights)
