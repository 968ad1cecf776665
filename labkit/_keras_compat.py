"""The private Keras APIs that labkit uses, in one place.

Keras 3 has no public way to read the active `StatelessScope`, to read a variable without
autocasting it, or to walk every nested layer of a model, and `labkit.weightnorm` needs all
three; TensorFlow has none to ask whether it runs its oneDNN kernels, which `labkit.speed`
needs. They live in `keras.src` (or behind an underscore), which any Keras release may
move, so labkit reaches them only through this module. Importing it fails at once, with
one line naming the installed Keras version and the API that moved, and
`tests/test_keras_compat.py` checks that each one still behaves as labkit expects.

`TESTED_KERAS` is the range of Keras versions the project is tested with; `requirements.txt`
and `pyproject.toml` pin the same range.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Sequence

import keras
import numpy as np

__all__ = [
    "TESTED_KERAS",
    "AutocastScope",
    "flatten_layers",
    "get_stateless_scope",
    "read_variable",
    "value_reader",
    "tensorflow_onednn_enabled",
]

TESTED_KERAS = ">=3.3,<3.16"


def private_api(module: str, name: str):
    """Returns `module.name` (a dotted `name` walks attributes), or raises one `ImportError`.

    Example:

    >>> get_stateless_scope = private_api("keras.src.backend", "get_stateless_scope")
    >>> flatten = private_api("keras.layers", "Layer._flatten_layers")
    """
    try:
        found = importlib.import_module(module)
        for attribute in name.split("."):
            found = getattr(found, attribute)
        return found
    except (ImportError, AttributeError) as error:
        raise ImportError(
            f"labkit needs the private Keras API `{module}.{name}`, which Keras "
            f"{keras.__version__} does not provide (labkit is tested with "
            f"keras{TESTED_KERAS}: pip install 'keras{TESTED_KERAS}')."
        ) from error


# `with AutocastScope(None):` reads variables in their own dtype under mixed precision.
AutocastScope = private_api("keras.src.backend", "AutocastScope")
# The active `keras.StatelessScope` (None outside one), e.g. the JAX trainer's.
get_stateless_scope = private_api("keras.src.backend", "get_stateless_scope")
# Every layer nested in a layer or model (`Model.layers` holds only the top level).
_flatten_layers = private_api("keras.layers", "Layer._flatten_layers")


def flatten_layers(layer: keras.layers.Layer, include_self: bool = True) -> Iterator:
    """Yields `layer` (if `include_self`) and every layer nested in it, at any depth.

    Example:

    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> [type(layer).__name__ for layer in flatten_layers(model, include_self=False)]
    ['Dense']
    """
    yield from _flatten_layers(layer, include_self=include_self, recursive=True)


def read_variable(variable: keras.Variable) -> np.ndarray:
    """The variable's value as a NumPy array, read the cheapest way the backend has.

    Not a private API, but a backend quirk kept beside them: on TensorFlow,
    `keras.ops.convert_to_numpy` goes through the variable's `__array__`, which first fails
    with NumPy 2's `copy` keyword and warns, on every read; `.numpy()` does not.

    Example:

    >>> read_variable(keras.Variable([1.0, 2.0]))
    array([1., 2.], dtype=float32)
    """
    value = variable.value
    if keras.backend.backend() == "tensorflow":
        value = value.numpy()
    return np.asarray(keras.ops.convert_to_numpy(value))


def value_reader(read: Callable[[], Sequence]) -> Callable[[], list[np.ndarray]]:
    """`read` (returning variables' values, or tensors computed from them), made to return
    NumPy arrays and to cost little when called often, between training steps.

    Not a private API, but a backend quirk kept beside them: on TensorFlow every eager op
    costs about 0.4 ms right after a training step, on a 2-core CPU whose caches the step
    has just flushed, so `read` is traced once, on the first call, into one graph
    (`tf.function`) that returns every value in one call. Other backends call `read` as it
    is (a traced function would keep the values it saw when traced).

    Example:

    >>> variables = [keras.Variable([1.0, 2.0]), keras.Variable(3.0)]
    >>> read = value_reader(lambda: [keras.ops.convert_to_tensor(v) for v in variables])
    >>> read()
    [array([1., 2.], dtype=float32), array(3., dtype=float32)]
    """
    if keras.backend.backend() != "tensorflow":
        return lambda: [np.asarray(keras.ops.convert_to_numpy(value)) for value in read()]
    import tensorflow as tf

    graph = tf.function(read, autograph=False)
    return lambda: [np.asarray(tensor.numpy()) for tensor in graph()]


def tensorflow_onednn_enabled() -> bool:
    """Whether TensorFlow runs its oneDNN CPU kernels (TensorFlow's own private flag; TensorFlow
    has no public one). Decided by `TF_ENABLE_ONEDNN_OPTS` and the CPU's features.

    Example:

    >>> tensorflow_onednn_enabled()  # doctest: +SKIP
    True
    """
    try:
        enabled = private_api("tensorflow.python.util._pywrap_util_port", "IsMklEnabled")
    except ImportError:
        # Moved in a later TensorFlow: answer as if it were on, which keeps XLA off on CPUs
        # (Keras' own default there) rather than risking a slower step.
        return True
    return bool(enabled())
