"""Choosing the Keras backend from a notebook parameter, before Keras is imported.

Keras reads `KERAS_BACKEND` once, when it is first imported, so a notebook that offers a
`backend` parameter must set it before anything imports Keras; `use_backend` does that, and
refuses, with one line, a backend that is not installed or a change once Keras is loaded.

Example:

>>> from labkit.paper.backend import use_backend
>>> use_backend("")  # keep the environment's choice
'tensorflow'
"""

from __future__ import annotations

import importlib.util
import os
import sys

from labkit._checks import check, check_choice

__all__ = ["use_backend", "BACKENDS"]

# The Keras backends labkit runs on ("" keeps `$KERAS_BACKEND`, or Keras' default).
BACKENDS = ("tensorflow", "jax", "torch")


def use_backend(backend: str = "") -> str:
    """Makes Keras use `backend` (`"tensorflow"`, `"jax"` or `"torch"`) and returns the
    backend Keras uses; `""` keeps `$KERAS_BACKEND` (or Keras' default, TensorFlow).

    Raises:
        ValueError: `backend` is not one of `BACKENDS` or not installed, or Keras was already
            imported with another backend (restart the kernel to change it).

    Example:

    >>> use_backend("jax")  # in a fresh kernel, before Keras is imported  # doctest: +SKIP
    'jax'
    """
    if "keras" in sys.modules:
        current = sys.modules["keras"].backend.backend()
        expected = f"'{current}' (Keras is already imported; restart the kernel to change it)"
        check("backend", backend, backend in ("", current), expected)
        return current
    if not backend:
        return os.environ.get("KERAS_BACKEND") or "tensorflow"
    check_choice("backend", backend, BACKENDS)
    installed = importlib.util.find_spec(backend) is not None
    check("backend", backend, installed, f"an installed backend (`{backend}` is not installed)")
    os.environ["KERAS_BACKEND"] = backend
    return backend
