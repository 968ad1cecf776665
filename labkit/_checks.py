"""One-line argument checks shared by labkit's modules (package-private).

Every check raises `ValueError` with one line, Keras style: what is wrong and what is allowed,
then `Received: `name=value``.

Example:

>>> from labkit._checks import check_choice, check_int
>>> check_int("epochs", 3, minimum=1)
>>> check_choice("opt", "sgdw", ("adam", "sgd"))
Traceback (most recent call last):
    ...
ValueError: Invalid value for `opt`: expected one of 'adam', 'sgd'. Received: `opt='sgdw'`
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["is_int", "is_number", "quoted", "check", "check_int", "check_choice"]


def is_int(value: Any) -> bool:
    """Whether `value` is an integer (Python or NumPy), booleans excluded.

    Example:

    >>> is_int(3), is_int(True), is_int(3.0)
    (True, False, False)
    """
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """Whether `value` is a real number (Python or NumPy), booleans excluded.

    Example:

    >>> is_number(1e-3), is_number(False), is_number("1e-3")
    (True, False, False)
    """
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def quoted(choices: Iterable[Any]) -> str:
    """The choices as a comma-separated list of their reprs, for error messages.

    Example:

    >>> quoted(("adam", "sgd"))
    "'adam', 'sgd'"
    """
    return ", ".join(repr(choice) for choice in choices)


def check(name: str, value: Any, ok: bool, expected: str) -> None:
    """Raises `ValueError` naming `name`, `expected` and `value` unless `ok`.

    Example:

    >>> check("batch_size", 0, False, "an integer >= 1")
    Traceback (most recent call last):
        ...
    ValueError: Invalid value for `batch_size`: expected an integer >= 1. Received: `batch_size=0`
    """
    if not ok:
        raise ValueError(
            f"Invalid value for `{name}`: expected {expected}. Received: `{name}={value!r}`"
        )


def check_int(name: str, value: Any, minimum: int, maximum: int | None = None) -> None:
    """Checks that `value` is an integer >= `minimum` (and <= `maximum` when given).

    Example:

    >>> check_int("n", 11, minimum=0, maximum=10)
    Traceback (most recent call last):
        ...
    ValueError: Invalid value for `n`: expected an integer in [0, 10]. Received: `n=11`
    """
    if maximum is None:
        check(name, value, is_int(value) and value >= minimum, f"an integer >= {minimum}")
    else:
        in_range = is_int(value) and minimum <= value <= maximum
        check(name, value, in_range, f"an integer in [{minimum}, {maximum}]")


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> None:
    """Checks that `value` is one of `choices`.

    Example:

    >>> check_choice("dataset", "cifar10", ("cifar10", "mnist"))
    """
    choices = tuple(choices)
    check(name, value, value in choices, f"one of {quoted(choices)}")
