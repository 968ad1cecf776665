"""A batch's options, checked before anything runs: timeout, jobs, kernel, runs folder; and the
task and executor they make. `labkit sweep` and `labkit search` (and `labkit sweep --dry-run`)
check them the same way.

Example:

>>> task = notebook_task("notebooks/weight_norm.ipynb", timeout=3600)
>>> executor = make_executor(task, check_runs_dir("runs/sweep"), jobs=2)
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import nbformat

from labkit._checks import check_choice, is_int, is_number
from labkit._io import writable_dir_problem
from labkit.sweep.dask_cluster import DaskExecutor
from labkit.sweep.execution import PapermillTask
from labkit.sweep.executor import Executor
from labkit.sweep.local import LocalExecutor
from labkit.sweep.parameters import OUTPUT_DIR_PARAMETER, existing_notebook, notebook_parameters

__all__ = [
    "check_jobs",
    "check_kernel",
    "check_runs_dir",
    "check_timeout",
    "make_executor",
    "notebook_task",
]


def check_timeout(timeout: float | None) -> None:
    """Checks a per-run timeout: None (no limit) or a finite number of seconds > 0.

    Example:

    >>> check_timeout(float("nan"))
    Traceback (most recent call last):
    ValueError: `timeout` must be a positive, finite number of seconds or None. Received: ...
    """
    if timeout is not None and not (is_number(timeout) and math.isfinite(timeout) and timeout > 0):
        raise ValueError(
            "`timeout` must be a positive, finite number of seconds or None. "
            f"Received: `timeout={timeout}`"
        )


def check_jobs(jobs: int | None) -> None:
    """Checks how many runs may execute at once: None (as many as cores) or an int >= 1.

    Example:

    >>> check_jobs(0)
    Traceback (most recent call last):
    ValueError: `jobs` must be a positive integer. Received: `jobs=0`
    """
    if jobs is not None and not (is_int(jobs) and jobs >= 1):
        raise ValueError(f"`jobs` must be a positive integer. Received: `jobs={jobs}`")


def check_kernel(notebook: str | os.PathLike, kernel_name: str | None = None) -> None:
    """Checks that the Jupyter kernel a run would start, `kernel_name` or the notebook's own, is
    installed here.

    Example:

    >>> check_kernel("notebooks/weight_norm.ipynb", "nosuchkernel")
    Traceback (most recent call last):
    ValueError: Invalid value for `kernel`: expected one of 'python3'. Received: ...
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    name = kernel_name
    if not name:
        metadata = nbformat.read(existing_notebook(notebook), as_version=4).metadata
        name = metadata.get("kernelspec", {}).get("name")
        if not name:
            raise ValueError(
                "The notebook names no Jupyter kernel (no `kernelspec` in its metadata); "
                f"choose one with `--kernel NAME`. Received: `notebook={str(notebook)!r}`"
            )
    manager = KernelSpecManager()
    try:
        manager.get_kernel_spec(name)
    except NoSuchKernel:
        installed = sorted(manager.find_kernel_specs())
        if kernel_name:
            check_choice("kernel", kernel_name, installed)
        raise ValueError(
            f"The notebook's Jupyter kernel {name!r} is not installed here; choose one of "
            f"{', '.join(map(repr, installed))} with `--kernel NAME`. "
            f"Received: `notebook={str(notebook)!r}`"
        ) from None


def check_runs_dir(out_dir: str | os.PathLike) -> Path:
    """Checks that the runs folder can be written or created; returns it as an absolute path.

    Example:

    >>> check_runs_dir("runs/sweep").name
    'sweep'
    """
    problem = writable_dir_problem(out_dir)
    if problem:
        raise ValueError(
            f"The runs folder must be a writable folder ({problem}). "
            f"Received: `out_dir={str(out_dir)!r}`"
        )
    return Path(out_dir).resolve()


def notebook_task(
    notebook: str | os.PathLike,
    *,
    kernel_name: str | None = None,
    timeout: float | None = None,
    local: bool = True,
) -> PapermillTask:
    """Checks the options and returns how to execute `notebook` once per run.

    With `local` (runs on this machine, not on a Dask cluster) the kernel must be installed here.

    Example:

    >>> notebook_task("notebooks/weight_norm.ipynb", timeout=3600).output_dir_parameter
    'output_dir'
    """
    check_timeout(timeout)
    notebook = existing_notebook(notebook).resolve()
    if local:
        check_kernel(notebook, kernel_name)
    has_output_dir = OUTPUT_DIR_PARAMETER in notebook_parameters(notebook)
    return PapermillTask(
        notebook, kernel_name, timeout, OUTPUT_DIR_PARAMETER if has_output_dir else None
    )


def make_executor(
    task: PapermillTask, out_dir: Path, *, jobs: int, scheduler: str | None = None
) -> Executor:
    """A `DaskExecutor` on `scheduler` when given, else a `LocalExecutor` running `jobs` at once.

    Example:

    >>> with make_executor(task, Path("runs/sweep"), jobs=2) as executor:
    ...     records = list(executor.run_all(runs))
    """
    if scheduler:
        return DaskExecutor(task, out_dir, scheduler)
    return LocalExecutor(task, out_dir, jobs)
