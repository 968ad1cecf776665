"""Executing one run: a papermill process with its own kernel, a timeout and a record.

`execute_run` is what every executor calls, locally or on a Dask worker. The processes of a
batch belong to one `ProcessGroup`, which can end them all at once (Ctrl-C, SIGTERM, SIGHUP).
A run may also be watched while it runs (a search reads its metrics after every epoch): the
watch returns a `Stop` to end that run alone, with a status of its own.

Example:

>>> task = PapermillTask(Path("notebooks/weight_norm.ipynb").resolve(), timeout=3600)
>>> record = execute_run(task, run, Path("runs/sweep") / run.run_id, threads=2,
...                      processes=ProcessGroup())
>>> record.status
'completed'
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import nbformat
import yaml

from labkit._io import utc_now
from labkit.sweep.planning import Run
from labkit.sweep.records import (
    COMPLETED,
    FAILED,
    INTERRUPTED,
    RUNNING,
    TIMED_OUT,
    NotebookRecord,
    write_record,
)

__all__ = [
    "THREAD_VARIABLES",
    "WATCH_INTERVAL_S",
    "PapermillTask",
    "ProcessGroup",
    "Stop",
    "Watch",
    "execute_run",
    "thread_budget",
]

THREAD_VARIABLES = ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")
# Seconds a terminated papermill process gets to exit before it is killed.
TERMINATE_GRACE_S = 5
# Seconds between two looks of a watch at a running run.
WATCH_INTERVAL_S = 1.0


@dataclasses.dataclass(frozen=True)
class Stop:
    """A watch's verdict on a run: end it now, and record it with this status and error.

    Example:

    >>> Stop("pruned", "Pruned at epoch 2.")
    Stop(status='pruned', error='Pruned at epoch 2.')
    """

    status: str
    error: str


# Looks at a run's folder while the run executes; returns a `Stop` to end the run.
Watch = Callable[[Path], "Stop | None"]


@dataclasses.dataclass(frozen=True)
class PapermillTask:
    """How to execute a notebook once per run: the notebook and papermill's options.

    Args:
        notebook: The notebook, as an absolute path.
        kernel_name: Jupyter kernel; None uses the notebook's.
        timeout: Seconds a run may take; None for no limit.
        output_dir_parameter: The parameter set to each run's folder, if the notebook has one.
    """

    notebook: Path
    kernel_name: str | None = None
    timeout: float | None = None
    output_dir_parameter: str | None = None


class ProcessGroup:
    """The papermill processes running for a batch, so that one call can end them all.

    Example:

    >>> processes = ProcessGroup()
    >>> processes.stop()  # from now on nothing starts, and what runs is ended
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen] = set()
        self.stopped = False

    def run(
        self,
        command: list[str],
        log: IO[bytes],
        env: dict[str, str],
        timeout: float | None,
        watch: Callable[[], Stop | None] | None = None,
    ) -> tuple[str, str | None]:
        """Runs `command` to its end and returns its status and, for a timeout or a stop, the error.

        `watch`, when given, is called before the process starts and every `WATCH_INTERVAL_S`
        while it runs; a `Stop` it returns ends the process (or keeps it from starting).
        """
        stop = watch() if watch is not None else None
        if stop is not None:
            return stop.status, stop.error
        with self._lock:
            if self.stopped:
                return INTERRUPTED, "The sweep was stopped before this run started."
            # Its own session: Ctrl-C at a terminal reaches the sweep alone, which decides.
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
            self._running.add(process)
        try:
            stop = _wait(process, timeout, watch)
        except BaseException:
            terminate(process)
            raise
        finally:
            with self._lock:
                self._running.discard(process)
        if stop is not None:
            return stop.status, stop.error
        if process.returncode == 0:
            return COMPLETED, None
        if self.stopped:
            return INTERRUPTED, "The sweep was stopped before this run finished."
        return FAILED, None

    def stop(self) -> None:
        """Ends every running process; runs not yet started will not start."""
        with self._lock:
            self.stopped = True
            running = list(self._running)
        for process in running:
            terminate(process)


def _wait(
    process: subprocess.Popen, timeout: float | None, watch: Callable[[], Stop | None] | None
) -> Stop | None:
    """Waits for `process` to end; ends it at the timeout or when `watch` says stop."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        waits = [] if watch is None else [WATCH_INTERVAL_S]
        if deadline is not None:
            waits.append(max(0.0, deadline - time.monotonic()))
        try:
            process.wait(timeout=min(waits, default=None))
            return None
        except subprocess.TimeoutExpired:
            pass
        if deadline is not None and time.monotonic() >= deadline:
            terminate(process)
            return Stop(TIMED_OUT, f"The run exceeded its timeout of {timeout:g} s.")
        stop = watch() if watch is not None else None
        if stop is not None:
            terminate(process)
            return stop


def terminate(process: subprocess.Popen) -> None:
    """Ends a process started in its own session, with SIGTERM and then, if need be, SIGKILL."""
    # The kernel lives in its own session and exits by itself once papermill, its parent, is gone.
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=TERMINATE_GRACE_S)
            return


def thread_budget(parallel_runs: int) -> int:
    """Threads each run may use so that `parallel_runs` runs together fill the cores once.

    Example:

    >>> thread_budget(os.cpu_count())
    1
    """
    return max(1, (os.cpu_count() or 1) // max(1, parallel_runs))


def execute_run(
    task: PapermillTask,
    run: Run,
    run_dir: Path,
    *,
    threads: int,
    processes: ProcessGroup,
    watch: Watch | None = None,
) -> NotebookRecord:
    """Executes `task`'s notebook with `run`'s parameters into `run_dir`; returns its record.

    The record is written as `running` first and again when the run ends. The notebook's
    papermill process gets `threads` as its thread budget (`THREAD_VARIABLES`). `watch`, when
    given, looks at `run_dir` before the run starts and every `WATCH_INTERVAL_S` while it runs;
    the `Stop` it returns ends the run with that status and error (what the run wrote stays).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    notebook = task.notebook
    record = NotebookRecord(
        run_id=run_dir.name,
        params=run.params,
        status=RUNNING,
        notebook=notebook.name,
        host=socket.gethostname(),
        started_at=utc_now(),
    )
    write_record(run_dir, record)
    injected = dict(run.params)
    if task.output_dir_parameter:
        injected[task.output_dir_parameter] = str(run_dir)
    parameters_file = run_dir / "parameters.yaml"
    parameters_file.write_text(yaml.safe_dump(injected, sort_keys=False))
    executed = run_dir / notebook.name
    command = [sys.executable, "-m", "papermill", str(notebook), str(executed)]
    command += ["--parameters_file", str(parameters_file), "--no-progress-bar"]
    if task.kernel_name:
        command += ["--kernel", task.kernel_name]
    env = {**os.environ, **dict.fromkeys(THREAD_VARIABLES, str(threads))}
    started = time.monotonic()
    log_path = run_dir / "papermill.log"
    with log_path.open("wb") as log:
        status, error = processes.run(
            command, log, env, task.timeout, watch and functools.partial(watch, run_dir)
        )
    if status == FAILED:
        error = _notebook_error(executed) or _last_line(log_path)
    record = dataclasses.replace(
        record, status=status, error=error, duration_s=round(time.monotonic() - started, 3)
    )
    write_record(run_dir, record)
    return record


def _notebook_error(executed: Path) -> str | None:
    """The first exception raised in an executed notebook, as `Type: message`."""
    with contextlib.suppress(OSError, ValueError):
        for cell in nbformat.read(executed, as_version=4).cells:
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    return f"{output.ename}: {output.evalue}"
    return None


def _last_line(log_path: Path) -> str:
    lines = [line for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "papermill exited with an error and no output."
