"""TensorFlow's C++ log lines, kept out of notebooks (package-private).

TensorFlow logs from C++ to the process's standard error (file descriptor 2), which a Jupyter
kernel forwards into the notebook: papermill runs saved "Could not find cuda drivers", "failed
call to cuInit: INTERNAL: CUDA error" and absl's "All log messages before absl::InitializeLog()
is called are written to STDERR" under the first cell that imported TensorFlow.
`TF_CPP_MIN_LOG_LEVEL` silences what TensorFlow logs once it runs, but not the lines its
libraries write while they load. So `quiet_tensorflow_logs`, called when `labkit` is imported:

- sets `TF_CPP_MIN_LOG_LEVEL` to `DEFAULT_LEVEL` (3: errors too; a failure still raises its
  Python exception) unless the user set it, and only while TensorFlow is not imported yet;
- has the first `import tensorflow` (wherever it comes from: Keras, the user) load with file
  descriptor 2 captured, then writes back every captured line but the log lines the level
  filters (`I`nfo from 1, `W`arning from 2, `E`rror from 3, as TensorFlow counts them).

With `TF_CPP_MIN_LOG_LEVEL=0` set by the user, everything shows as before.

Example:

>>> quiet_tensorflow_logs()  # before anything imports TensorFlow
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile
from collections.abc import Iterator

__all__ = ["quiet_tensorflow_logs", "kept_lines", "LEVEL_ENV", "DEFAULT_LEVEL"]

LEVEL_ENV = "TF_CPP_MIN_LOG_LEVEL"
DEFAULT_LEVEL = "3"
# An absl log line: severity letter, date, time, thread, file:line] message.
_LOG_LINE = re.compile(r"^([IWEF])\d{4} [\d:.]+\s+\d+ \S+:\d+\] ")
# absl's notice before its logging is set up, a warning.
_ABSL_BANNER = "WARNING: All log messages before absl::InitializeLog() is called"
_SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}


def quiet_tensorflow_logs() -> None:
    """Sets the log level and quiets TensorFlow's first import, unless it was imported already.

    Example:

    >>> quiet_tensorflow_logs()
    """
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault(LEVEL_ENV, DEFAULT_LEVEL)
    if not any(isinstance(finder, _QuietImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietImport())


def kept_lines(text: str, level: int) -> str:
    """`text` without the TensorFlow log lines that `level` filters (with their continuation
    lines, up to the next log line or blank line); everything else is kept.

    Example:

    >>> kept_lines("I0000 00:00:17.5  14 port.cc:153] oneDNN on.\\nhello\\n", 3)
    'hello\\n'
    """
    kept, dropping = [], False
    for line in text.splitlines(keepends=True):
        match = _LOG_LINE.match(line)
        if match:
            dropping = _SEVERITY[match.group(1)] < level
        elif line.startswith(_ABSL_BANNER):
            dropping = _SEVERITY["W"] < level
        elif not dropping or not line.strip():
            dropping = False  # a line of its own, not the rest of a dropped log message
        if not dropping:
            kept.append(line)
    return "".join(kept)


def _level() -> int:
    try:
        return int(os.environ.get(LEVEL_ENV, "0"))
    except ValueError:
        return 0


class _QuietImport(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` once, for a loader that runs it with standard error captured."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


class _QuietLoader(importlib.abc.Loader):
    """TensorFlow's own loader, its `exec_module` run with file descriptor 2 captured."""

    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        captured: list[str] = []
        try:
            with _captured_stderr(captured):
                self._loader.exec_module(module)
        except BaseException:
            os.write(2, "".join(captured).encode())  # all of it: it may say what went wrong
            raise
        finally:
            # The module keeps TensorFlow's own loader, as if this one had never been there.
            module.__loader__ = module.__spec__.loader = self._loader
        os.write(2, kept_lines("".join(captured), _level()).encode())


@contextlib.contextmanager
def _captured_stderr(captured: list[str]) -> Iterator[None]:
    """Captures what is written to file descriptor 2 inside the block (Python's `sys.stderr`
    flushed first) and appends it to `captured` when the block ends, however it ends."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield  # no file descriptor 2 to capture (closed, or not a real one)
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            captured.append(capture.read().decode(errors="replace"))
