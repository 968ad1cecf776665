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
from collections.abc import Iterator

import keras

__all__ = [
    "TESTED_KERAS",
    "AutocastScope",
    "flatten_layers",
    "get_stateless_scope",
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
