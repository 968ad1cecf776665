"""The learning rate an optimizer uses now, read cheaply enough to follow it while training."""

from __future__ import annotations

import weakref
from collections.abc import Callable

import keras

from labkit._keras_compat import read_variable, value_reader

__all__ = ["current_learning_rate"]

# Each optimizer's `_rate_reader`, made on the first read.
_RATE_READERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def current_learning_rate(model: keras.Model) -> float | None:
    """The learning rate the model's optimizer uses now (schedules evaluated), or `None`.

    Example:

    >>> current_learning_rate(model)
    0.001
    """
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    try:
        read = _RATE_READERS.get(optimizer)
        if read is None:
            read = _RATE_READERS[optimizer] = _rate_reader(optimizer)
        return float(read())
    except (TypeError, ValueError, AttributeError):
        return None


def _rate_reader(optimizer: keras.optimizers.Optimizer) -> Callable[[], float]:
    """Reads the optimizer's learning rate in one backend call (`value_reader`): a schedule
    evaluated op by op costs several milliseconds right after a training step. A schedule
    that cannot be traced is evaluated op by op."""
    reference = weakref.ref(optimizer)  # the reader must not keep its optimizer alive

    def eager() -> float:
        rate = reference().learning_rate
        if isinstance(rate, keras.Variable):
            return float(read_variable(rate))
        return float(keras.ops.convert_to_numpy(rate))

    traced = value_reader(lambda: [keras.ops.convert_to_tensor(reference().learning_rate)])
    try:
        traced()  # traced here, once
    except Exception:  # any schedule that does not trace
        return eager
    return lambda: float(traced()[0])
