"""Helpers for tests that start processes: children started as from a terminal, waiting for a
process to end, a notebook written on the fly. (Not a conftest: `tests/live` has its own.)"""

from __future__ import annotations

import signal
import time
from pathlib import Path


def as_from_a_terminal() -> None:
    """A `preexec_fn` that starts a child with SIGINT and SIGHUP at their defaults, as a command
    typed at a terminal starts, however pytest itself was started: under `nohup`, or as a
    background job of a non-interactive shell, both are ignored, and children inherit that.

    Example: `subprocess.Popen(command, preexec_fn=as_from_a_terminal)`.
    """
    for number in (signal.SIGINT, signal.SIGHUP):
        signal.signal(number, signal.SIG_DFL)


def process_is_running(pid: int) -> bool:
    """Whether the process exists and is not a zombie (which runs nothing)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_for(condition, timeout: float = 90) -> None:
    """Polls `condition` until it holds; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


def write_notebook(path: Path, parameters: str, code: str) -> Path:
    """Writes a Python 3 notebook: a cell tagged `parameters`, then `code`."""
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    notebook.cells = [
        nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(code),
    ]
    nbformat.write(notebook, path)
    return path
