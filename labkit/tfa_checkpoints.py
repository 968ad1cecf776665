"""Loads what tensorflow-addons users saved: Keras 2 checkpoints with tfa's WeightNormalization.

`load_tfa_model("model.h5")` rebuilds a model that tfa 0.23 saved with `model.save("….h5")`
as a Keras 3 model whose weight-normalized layers are `labkit.WeightNormalization`, and
`load_tfa_weights(model, "….weights.h5")` fills an equivalent labkit model from what
`model.save_weights` wrote (the `.weights.h5` format, or Keras 2's `.h5` weights). Both read
the files with h5py, so they work on every Keras backend.

Where the loaded model differs from tfa's, and why:

- **Recurrent layers.** tfa normalizes only the recurrent kernel of `SimpleRNN`, `GRU` and
  `LSTM` (the input kernel stays a plain weight). They load as
  `WeightNormalization(rnn, kernels=("recurrent_kernel",))`, which computes exactly that.
  tfa also ran its data-dependent init on recurrent layers, which labkit does not support:
  they load with `data_init=False` (their saved `g` already holds what tfa's init gave).
- **Conv-Transpose.** tfa normalizes over every kernel axis but the last, which for
  `Conv1D/2D/3DTranspose` holds the *input* channels; labkit normalizes per output channel
  and cannot express tfa's form. Such a layer loads as the plain layer with
  `w = g · v / ‖v‖` baked into its kernel, with a warning that names it: it predicts what
  tfa predicted, and trains on without weight normalization.
- **tfa's internal copies.** With `data_init=True` tfa kept a copy of every wrapped layer
  (`…/data_dep_init/…`, `_naked_clone_layer`) to compute its init statistics; labkit needs
  none, and they are skipped.
- **No second init.** A layer tfa had initialized loads initialized (its `initialized`
  flag set): `fit` leaves its `g` and bias to the optimizer, on every backend. `data_init`
  keeps the saved setting (an explicit `labkit.data_init(model, x)` re-initializes, as it
  does for any model). tfa initialized a layer on its first call of any kind, `predict`
  included; labkit initializes only in training. So for a checkpoint saved *before* tfa's
  init ran: with `data_init=False`, `g` is set to `‖v‖` (what tfa's first call would have
  done); with `data_init=True` the layer stays uninitialized and labkit initializes it on
  the first training batch (or `labkit.data_init`), not in `predict`.
- **Numerics.** tfa divides by `sqrt(max(Σv², 1e-12))`, labkit by `sqrt(Σv² + 1e-12)`: the
  same in float32 for any kernel that is not zero.
- **Not loaded:** the optimizer state and compile settings (the model comes back
  uncompiled), and Keras 2's `time_major=False` recurrent argument, which Keras 3 dropped.

Anything else tfa could save (another tfa layer, a `WeightNormalization` around a layer
Keras 3 lacks such as `LocallyConnected1D`, tfa layers inside a nested model) raises one
`ValueError` that names the layer; a file that is no tfa checkpoint raises one naming it.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import json
import re
import warnings
from pathlib import Path

import h5py
import keras
import numpy as np

from labkit.weightnorm import WeightNormalization

__all__ = ["load_tfa_model", "load_tfa_weights"]

_TFA_CLASS = "Addons>WeightNormalization"
_WRAPPER_GROUP = "weight_normalization"  # tfa's wrapper in a `.weights.h5` file
_RECURRENT = ("SimpleRNN", "GRU", "LSTM")
_TRANSPOSE = ("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")
_NORMALIZED = ("Dense", "Conv1D", "Conv2D", "Conv3D", *_RECURRENT)
_SUPPORTED = "Dense, Conv1D/2D/3D, Conv1D/2D/3DTranspose, SimpleRNN, GRU, LSTM"
# Keras 2 arguments that Keras 3 dropped, with the one value Keras 3 still computes.
_DROPPED = {
    **{name: {"time_major": False} for name in _RECURRENT},
    **{name: {"groups": 1} for name in _TRANSPOSE},
}
_NOT_A_CHECKPOINT = "is not a Keras 2 checkpoint written by tensorflow-addons"


@dataclasses.dataclass
class _SavedLayer:
    """One layer's weights as Keras 2 saved them.

    A plain layer has `weights`, in Keras' order. A tfa wrapper has `wrapper`: `g`, `v`
    (the normalized kernel), `initialized`, and where the layer has them `bias` and `kernel`
    (a recurrent layer's input kernel, which tfa left unnormalized).
    """

    name: str
    weights: list[np.ndarray] = dataclasses.field(default_factory=list)
    wrapper: dict[str, np.ndarray] | None = None


def load_tfa_model(filepath: str | Path, custom_objects: dict | None = None) -> keras.Model:
    """Loads a Keras 2 model that tensorflow-addons saved with `model.save("….h5")`.

    Every `tfa.layers.WeightNormalization` becomes a `labkit.WeightNormalization` holding
    tfa's weights (or, around a Conv-Transpose layer, the plain layer with its weight baked
    in, with a warning), so the model predicts what tfa predicted. See the module docstring
    for where it differs from tfa. The model comes back uncompiled.

    Args:
        filepath: The `.h5` file that tfa's `model.save` wrote.
        custom_objects: Keras 3 classes for the model's own custom layers, by the name its
            config uses (as for `keras.models.load_model`).

    Returns:
        The Keras 3 model, with its weights loaded.

    Example:

    >>> model = labkit.load_tfa_model("tutorial_weightnorm_convnet.h5")
    >>> model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    >>> model.fit(x_train, y_train)  # goes on training; no second data init
    """
    path = _existing(filepath)
    with _open(path) as f:
        if "model_config" not in f.attrs or "model_weights" not in f:
            raise ValueError(
                f"`{path}` {_NOT_A_CHECKPOINT}: it holds no model config (for a weights "
                f"file use `labkit.load_tfa_weights`). Received: `filepath={filepath}`"
            )
        config = json.loads(_text(f.attrs["model_config"]))
        saved = _read_h5_weights(f["model_weights"])
    if _TFA_CLASS not in json.dumps(config):
        raise ValueError(
            f"`{path}` holds no tensorflow-addons WeightNormalization layer; load it with "
            f"`keras.models.load_model`. Received: `filepath={filepath}`"
        )
    custom_objects = {"labkit>WeightNormalization": WeightNormalization, **(custom_objects or {})}
    config = _to_keras3(config, custom_objects)
    module_objects = {**vars(keras.layers), "Functional": keras.Model}
    module_objects.update(Sequential=keras.Sequential, Model=keras.Model)
    try:
        model = keras.legacy.saving.deserialize_keras_object(
            config, module_objects=module_objects, custom_objects=custom_objects
        )
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"Keras 3 cannot rebuild the model saved in `{path}`: "
            f"{str(error).splitlines()[0]} Received: `filepath={filepath}`"
        ) from error
    _assign_all(_pair_by_name(model, saved, path), path)
    return model


def load_tfa_weights(model: keras.Model, filepath: str | Path) -> keras.Model:
    """Fills a labkit model with the weights a tensorflow-addons model saved.

    `model` must be the labkit equivalent of the tfa model: the same layers in the same
    order, each `tfa.layers.WeightNormalization` replaced by `labkit.WeightNormalization`
    (with `kernels=("recurrent_kernel",)` around `SimpleRNN`, `GRU` and `LSTM`), and each
    tfa-wrapped Conv-Transpose by the plain layer (its weight is baked in, with a warning).
    `filepath` is what tfa's `model.save_weights` wrote: a `.weights.h5` file, or Keras 2's
    HDF5 weights (`save_weights("….h5")`, or the weights inside a `model.save` file).

    A `.weights.h5` file records layers by their class, not their order, so a model that
    has both plain and tfa-wrapped Conv-Transpose layers of one shape is ambiguous there
    (an error says so; load the `.h5` model file instead).

    Args:
        model: A built labkit model, equivalent to the tfa model.
        filepath: The weights file.

    Returns:
        The same model, with the loaded layers initialized (no second data init).

    Example:

    >>> model = labkit.build_convnet(weight_norm=True)
    >>> labkit.load_tfa_weights(model, "tutorial_weightnorm_convnet.weights.h5")
    >>> model.predict(x_test)
    """
    path = _existing(filepath)
    if not model.built:
        raise ValueError(f"The model must be built first. Received: `model={model.name}`")
    with _open(path) as f:
        if "layers" in f:
            saved = _read_weights_h5(f["layers"], path)
            entries = list(saved.values())
        elif "layer_names" in f.attrs or "model_weights" in f:
            saved = entries = _read_h5_weights(f.get("model_weights", f))
        else:
            raise ValueError(
                f"`{path}` {_NOT_A_CHECKPOINT}: it holds no layer weights. "
                f"Received: `filepath={filepath}`"
            )
    if not any(entry.wrapper is not None for entry in entries):
        raise ValueError(
            f"`{path}` holds no tensorflow-addons WeightNormalization layer; load it with "
            f"`model.load_weights`. Received: `filepath={filepath}`"
        )
    if isinstance(saved, dict):
        pairs = _pair_by_class(model, saved, path)
    else:
        pairs = _pair_in_order(model, saved, path)
    _assign_all(pairs, path)
    return model


# --- reading the files ----------------------------------------------------------------------


def _existing(filepath: str | Path) -> Path:
    path = Path(filepath)
    if not path.is_file():
        raise FileNotFoundError(
            f"No such checkpoint file: `{path}`. Received: `filepath={filepath}`"
        )
    return path


def _open(path: Path) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise ValueError(
            f"`{path}` {_NOT_A_CHECKPOINT}: it is not an HDF5 file. Received: `filepath={path}`"
        ) from error


def _text(value) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _read_h5_weights(group: h5py.Group) -> list[_SavedLayer]:
    """Keras 2's HDF5 layout: `layer_names`, each with its `weight_names` in order."""
    saved = []
    for name in map(_text, group.attrs.get("layer_names", [])):
        weight_names = [_text(w) for w in group[name].attrs["weight_names"]]
        values = {w: group[name][w][()] for w in weight_names}
        if f"{name}/g:0" not in values or f"{name}/initialized:0" not in values:
            if values:
                saved.append(_SavedLayer(name, weights=list(values.values())))
            continue
        # tfa's own weights sit under `<name>/`, the wrapped layer's under `<name>/<layer>/`.
        roles = {
            w.rsplit("/", 1)[-1].split(":")[0]: value
            for w, value in values.items()
            if "data_dep_init" not in w.split("/")
        }
        wrapper = {"g": roles["g"], "initialized": roles["initialized"]}
        if "recurrent_kernel" in roles:
            wrapper.update(v=roles["recurrent_kernel"], kernel=roles["kernel"])
        else:
            wrapper["v"] = roles["kernel"]
        if "bias" in roles:
            wrapper["bias"] = roles["bias"]
        saved.append(_SavedLayer(name, wrapper=wrapper))
    return saved


def _read_weights_h5(layers: h5py.Group, path: Path) -> dict[str, _SavedLayer]:
    """The `.weights.h5` layout: a group per layer, named after its class, holding `vars/0…`.

    tfa's wrapper keeps `g`, `v`, `initialized` as its own variables; its wrapped layer (or
    that layer's `cell`) keeps the rest, and also `v` when it was saved before its first call.
    """
    saved = {}
    for name, group in layers.items():
        own = _vars(group)
        if "layer" in group and len(own) == 3 and own[2].ndim == 0:
            g, v, initialized = own
            inner = group["layer"]
            recurrent = "cell" in inner
            rest = [
                value
                for value in _vars(inner["cell"] if recurrent else inner)
                if not (value.shape == v.shape and np.array_equal(value, v))
            ]
            wrapper = {"g": g, "v": v, "initialized": initialized}
            if recurrent:
                wrapper["kernel"], *rest = rest
            if rest:
                wrapper["bias"] = rest[0]
            saved[name] = _SavedLayer(name, wrapper=wrapper)
        else:
            saved[name] = _SavedLayer(name, weights=_nested_vars(group, path))
    return saved


def _vars(group: h5py.Group) -> list[np.ndarray]:
    if "vars" not in group:
        return []
    values = group["vars"]
    return [values[str(i)][()] for i in range(len(values))]


def _nested_vars(group: h5py.Group, path: Path) -> list[np.ndarray]:
    """A plain layer's own variables, then its sub-layers' (e.g. an LSTM's `cell`)."""
    children = [
        _nested_vars(group[name], path)
        for name in sorted(group, reverse=True)  # the order Keras 2 walked them in
        if name != "vars" and isinstance(group[name], h5py.Group)
    ]
    children = [weights for weights in children if weights]
    if len(children) > 1:
        raise ValueError(
            f"Layer '{group.name}' in `{path}` keeps its weights in several sub-layers, "
            "whose order a `.weights.h5` file does not record; load the model's `.h5` file "
            f"with `labkit.load_tfa_model` instead. Received: `filepath={path}`"
        )
    return _vars(group) + (children[0] if children else [])


# --- the model config -----------------------------------------------------------------------


def _to_keras3(config: dict, custom_objects: dict) -> dict:
    """Rewrites a Keras 2 model config (tfa wrappers included) into one Keras 3 can build."""
    config = copy.deepcopy(config)
    for entry in config["config"].get("layers", []):
        _convert_layer(entry, custom_objects)
    for key in ("input_layers", "output_layers"):
        # Keras 2 listed a functional model's single input (output) as a list of one;
        # Keras 3 would then expect a list in every call and warn.
        tensors = config["config"].get(key)
        if isinstance(tensors, list) and len(tensors) == 1 and isinstance(tensors[0], list):
            config["config"][key] = tensors[0]
    return config


def _convert_layer(entry: dict, custom_objects: dict) -> None:
    """Converts one layer entry of a model config in place."""
    class_name, layer_config = entry["class_name"], entry["config"]
    name = layer_config.get("name", class_name)
    if "layers" in layer_config:  # a nested model
        for inner in layer_config["layers"]:
            _convert_layer(inner, custom_objects)
    elif class_name == _TFA_CLASS:
        inner = layer_config["layer"]
        inner_class = inner["class_name"]
        if inner_class not in (*_NORMALIZED, *_TRANSPOSE):
            raise ValueError(
                f"Layer '{name}' is a tensorflow-addons WeightNormalization around a "
                f"`{inner_class}`, which labkit cannot load; it loads those around "
                f"{_SUPPORTED}. Received: `layer={inner_class}`"
            )
        _drop_keras2_arguments(inner_class, inner["config"], name)
        if inner_class in _TRANSPOSE:
            # Keep the wrapper's name: a functional config refers to layers by name.
            entry["class_name"] = inner_class
            entry["config"] = {**inner["config"], "name": name}
            return
        entry["class_name"] = "labkit>WeightNormalization"
        # A layer saved before tfa's first call still initializes as tfa would have.
        layer_config["init_style"] = "tfa"
        if inner_class in _RECURRENT:
            layer_config.update(data_init=False, kernels=["recurrent_kernel"])
    elif not _known_class(class_name, custom_objects):
        raise ValueError(
            f"Layer '{name}' is a `{class_name}`, which Keras 3 does not know; pass its "
            "Keras 3 class in `custom_objects` (labkit converts only tensorflow-addons' "
            f"WeightNormalization). Received: `class_name={class_name}`"
        )
    else:
        _drop_keras2_arguments(class_name, layer_config, name)


def _known_class(class_name: str, custom_objects: dict) -> bool:
    return (
        class_name in custom_objects
        or class_name in ("Sequential", "Functional", "Model")
        or isinstance(getattr(keras.layers, class_name, None), type)
        or keras.saving.get_registered_object(class_name) is not None
    )


def _drop_keras2_arguments(class_name: str, layer_config: dict, name: str) -> None:
    """Drops the Keras 2 arguments that Keras 3 removed, where they hold the one value
    Keras 3 computes."""
    for argument, value in _DROPPED.get(class_name, {}).items():
        saved = layer_config.pop(argument, value)
        if saved != value:
            raise ValueError(
                f"Layer '{name}' was saved with `{argument}={saved!r}`, which Keras 3's "
                f"{class_name} does not support; only `{argument}={value!r}` loads. "
                f"Received: `{argument}={saved!r}`"
            )


# --- pairing saved layers with the model's ----------------------------------------------------


def _has_weights(layer: keras.layers.Layer) -> bool:
    return bool(layer.weights)


def _pair_by_name(
    model: keras.Model, saved: list[_SavedLayer], path: Path
) -> list[tuple[keras.layers.Layer, _SavedLayer]]:
    """A model rebuilt from the file's own config keeps the saved layer names."""
    by_name = {entry.name: entry for entry in saved}
    pairs = [(layer, by_name.pop(layer.name, None)) for layer in model.layers]
    missing = [layer.name for layer, entry in pairs if entry is None and _has_weights(layer)]
    if missing or by_name:
        raise ValueError(
            f"`{path}` is inconsistent: its weights do not match its model config (layers "
            f"{', '.join(missing + list(by_name))}). Received: `filepath={path}`"
        )
    return [(layer, entry) for layer, entry in pairs if entry is not None]


def _pair_in_order(
    model: keras.Model, saved: list[_SavedLayer], path: Path
) -> list[tuple[keras.layers.Layer, _SavedLayer]]:
    """Keras 2's HDF5 layout lists layers in the model's order, as Keras' own loader reads it."""
    layers = [layer for layer in model.layers if _has_weights(layer)]
    if len(layers) != len(saved):
        raise ValueError(
            f"`{path}` holds weights for {len(saved)} layers, but the model has "
            f"{len(layers)} layers with weights; the model must have the saved model's "
            f"layers, in the same order. Received: `model={model.name}`"
        )
    return list(zip(layers, saved))


def _pair_by_class(
    model: keras.Model, saved: dict[str, _SavedLayer], path: Path
) -> list[tuple[keras.layers.Layer, _SavedLayer]]:
    """The `.weights.h5` layout names each layer after its class, counted in model order
    (`dense`, `dense_1`, …), so the file's order is known only class by class."""
    counters: collections.Counter = collections.Counter()

    def peek(group: str) -> str:
        count = counters[group]
        return group if count == 0 else f"{group}_{count}"

    def take(group: str) -> _SavedLayer:
        entry = saved.get(peek(group))
        counters[group] += 1
        return entry

    pairs = []
    for layer in model.layers:
        if isinstance(layer, WeightNormalization):
            entry = take(_WRAPPER_GROUP)
        elif type(layer).__name__ in _TRANSPOSE:
            entry = _transpose_entry(layer, saved, peek, take, path)
        else:
            entry = take(_snake_case(type(layer).__name__))
        if entry is None and _has_weights(layer):
            raise ValueError(
                f"`{path}` holds no weights for layer '{layer.name}' "
                f"({type(layer).__name__}); the model must have the saved model's layers, "
                f"in the same order. Received: `model={model.name}`"
            )
        if entry is not None:
            pairs.append((layer, entry))
    unused = sorted(set(saved) - {entry.name for _, entry in pairs})
    unused = [name for name in unused if saved[name].weights or saved[name].wrapper]
    if unused:
        raise ValueError(
            f"`{path}` holds weights for layers the model lacks ({', '.join(unused)}); the "
            f"model must have the saved model's layers. Received: `model={model.name}`"
        )
    return pairs


def _transpose_entry(layer, saved, peek, take, path: Path) -> _SavedLayer | None:
    """A plain Conv-Transpose layer's weights: its own group, or a tfa wrapper's."""
    own = saved.get(peek(_snake_case(type(layer).__name__)))
    wrapper = saved.get(peek(_WRAPPER_GROUP))
    fits = wrapper is not None and wrapper.wrapper is not None
    fits = fits and wrapper.wrapper["v"].shape == tuple(layer.kernel.shape)
    if own is not None and fits:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) matches both a plain and a "
            f"tfa-wrapped layer in `{path}`, which a `.weights.h5` file cannot tell apart; "
            "load the model's `.h5` file with `labkit.load_tfa_model` instead. "
            f"Received: `filepath={path}`"
        )
    return take(_WRAPPER_GROUP) if fits else take(_snake_case(type(layer).__name__))


def _snake_case(name: str) -> str:
    """Keras' names for layer groups in weights files: `Conv2DTranspose` → `conv2d_transpose`."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


# --- assigning ---------------------------------------------------------------------------------

# A planned assignment: a variable and the value it gets.
_Plan = list[tuple[keras.Variable, np.ndarray]]


def _assign_all(pairs: list[tuple[keras.layers.Layer, _SavedLayer]], path: Path) -> None:
    """Checks every layer against its saved weights first, so that a mismatch anywhere
    leaves the model untouched; then assigns."""
    plans = [_plan(layer, entry, path) for layer, entry in pairs]
    for plan in plans:
        for variable, value in plan:
            variable.assign(value)
    for layer, entry in pairs:
        if isinstance(layer, WeightNormalization):
            # Keras' own loading path, so that the layer also knows on the Python side
            # whether it is initialized (an initialized one's training step has no init).
            store: dict = {}
            layer.save_own_variables(store)
            layer.load_own_variables(store)
        elif entry.wrapper is not None:
            warnings.warn(
                f"Layer '{layer.name}' ({type(layer).__name__}) was weight-normalized by "
                "tensorflow-addons over its input channels, which labkit's "
                "WeightNormalization cannot express; it loads as a plain layer with "
                "`w = g * v / ||v||` baked in (same predictions; it trains on without "
                "weight normalization).",
                stacklevel=3,  # the caller of load_tfa_model / load_tfa_weights
            )


def _plan(layer: keras.layers.Layer, entry: _SavedLayer, path: Path) -> _Plan:
    if isinstance(layer, WeightNormalization):
        return _plan_wrapper(layer, entry, path)
    if entry.wrapper is not None and type(layer).__name__ in _TRANSPOSE:
        return _plan_baked(layer, entry, path)
    if entry.wrapper is not None:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) is weight-normalized in "
            f"`{path}` ('{entry.name}'); wrap it in `labkit.WeightNormalization` "
            f"(tfa wrapped {_SUPPORTED}). Received: `layer={layer.name}`"
        )
    if any(isinstance(inner, WeightNormalization) for inner in getattr(layer, "layers", [])):
        raise ValueError(
            f"Layer '{layer.name}' is a nested model with weight-normalized layers; "
            "labkit loads tensorflow-addons layers only at the top level of a model. "
            f"Received: `layer={layer.name}`"
        )
    return _checked(layer, layer.weights, entry.weights, path)


def _checked(layer: keras.layers.Layer, variables: list, values: list, path: Path) -> _Plan:
    """Pairs `variables` with `values` (`None` where one side lacks a weight, such as a
    bias), once every shape matches."""
    expected = [None if v is None else tuple(v.shape) for v in variables]
    found = [None if v is None else tuple(v.shape) for v in values]
    if expected != found:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) has weights of shapes {expected}, "
            f"but `{path}` holds {found} for it. Received: `layer={layer.name}`"
        )
    return [(variable, value) for variable, value in zip(variables, values) if variable is not None]


def _plan_wrapper(layer: WeightNormalization, entry: _SavedLayer, path: Path) -> _Plan:
    wrapped = type(layer.layer).__name__
    if entry.wrapper is None:
        raise ValueError(
            f"Layer '{layer.name}' is weight-normalized, but `{path}` holds a plain layer "
            f"('{entry.name}') for it. Received: `layer={layer.name}`"
        )
    expected = ("recurrent_kernel",) if wrapped in _RECURRENT else ("kernel",)
    if wrapped in _TRANSPOSE or tuple(layer.kernels) != expected:
        hint = (
            f"use a plain `{wrapped}` (its weight loads baked in)"
            if wrapped in _TRANSPOSE
            else f"wrap it with `kernels={expected}`"
        )
        raise ValueError(
            f"Layer '{layer.name}' cannot hold tfa's weights: tfa normalized the "
            f"`{expected[0]}` of its {wrapped} over all axes but the last; {hint}. "
            f"Received: `kernels={tuple(layer.kernels)}`"
        )
    saved = entry.wrapper
    initialized = bool(saved["initialized"])
    cell = layer.layer.cell if wrapped in _RECURRENT else layer.layer
    variables = [getattr(cell, expected[0]), getattr(cell, "bias", None), layer.g]
    # Saved before tfa's first call, which would have set g = ||v|| (or run data init).
    values = [saved["v"], saved.get("bias"), saved["g"] if initialized else _norm(saved["v"])]
    if wrapped in _RECURRENT:
        variables.append(cell.kernel)
        values.append(saved["kernel"])
    plan = _checked(layer, variables, values, path)
    flag = 1.0 if initialized or not layer.data_init else 0.0
    return [*plan, (layer.initialized, np.asarray(flag, "float32"))]


def _norm(v: np.ndarray) -> np.ndarray:
    """tfa's per-channel norm: over every kernel axis but the last."""
    axes = tuple(range(v.ndim - 1))
    return np.sqrt(np.maximum(np.sum(np.square(v), axis=axes), 1e-12))


def _plan_baked(layer: keras.layers.Layer, entry: _SavedLayer, path: Path) -> _Plan:
    saved = entry.wrapper
    v = saved["v"].astype("float64")
    g = saved["g"] if bool(saved["initialized"]) else _norm(v)
    weights = [(g * v / _norm(v)).astype(saved["v"].dtype)]
    if "bias" in saved:
        weights.append(saved["bias"])
    return _checked(layer, layer.weights, weights, path)
