"""Names a package imports on first use (package-private): PEP 562 `__getattr__` and `__dir__`.

Example:

>>> __getattr__, __dir__ = lazy_names(globals(), {"LivePlot": "labkit.live.callback"})
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(
    namespace: dict[str, Any], sources: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's `__getattr__` and `__dir__` for `sources` (name -> module that defines it).

    A name is imported from its module on first use and then kept in `namespace` (the package's
    `globals()`), so later uses cost nothing.

    Example:

    >>> __getattr__, __dir__ = lazy_names(globals(), {"load_dataset": "labkit.data"})
    """
    package = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        if name in sources:
            value = getattr(importlib.import_module(sources[name]), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(namespace.get("__all__", sources))

    return __getattr__, __dir__
