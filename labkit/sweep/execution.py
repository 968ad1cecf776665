"""Executing one run: a papermill process with its own kernel, a timeout and a record.

`execute_run` is what every executor calls, locally or on a Dask worker. The processes of a
batch belong to one `ProcessGroup`, which can end them all at once (Ctrl-C, SIGTERM, SIGHUP),
and die with it however it ends (see `labkit.sweep.orphans`). A run may also be watched while it
runs (a search reads its metrics after every epoch): the watch returns a `Stop` to end that run
alone, with a status of its own. When a run ends, nothing it started is left running, and the
`metrics.json` files it left `running` say how it ended.

Example:

>>> task = PapermillTask(Path("notebooks/weight_norm.ipynb").resolve(), timeout=3600)
>>> record = execute_run(task, run, Path("runs/sweep") / run.run_id, threads=2,
...                      processes=ProcessGroup())
>>> record.status
'completed'
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import errno
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
from labkit.results import METRICS_FILE, ResultFileError, read_record
from labkit.sweep.orphans import RUN_DIR_VARIABLE, dying_with_parent, end_left_running
from labkit.sweep.planning import Run
from labkit.sweep.records import (
    COMPLETED,
    FAILED,
    INTERRUPTED,
    PRUNED,
    RUNNING,
    TIMED_OUT,
    NotebookRecord,
    RecordWriteError,
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
    "mark_unfinished",
    "thread_budget",
]

THREAD_VARIABLES = ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")
# Seconds a terminated papermill process gets to exit before it is killed.
TERMINATE_GRACE_S = 5
# Seconds between two looks of a watch at a running run.
WATCH_INTERVAL_S = 1.0
# Seconds a process that ended by itself leaves for its last output to be read, and the lines kept.
OUTPUT_GRACE_S = 2.0
TAIL_LINES = 20
# The status a run's `metrics.json` gets when its notebook run ended another way than it says.
METRICS_STATUS = {PRUNED: "stopped", INTERRUPTED: "interrupted", FAILED: "failed"}
# What a run stopped by Ctrl-C, SIGTERM or SIGHUP records.
STOPPED_BEFORE = "Stopped by Ctrl-C, SIGTERM or SIGHUP before this run started."
STOPPED_WHILE = "Stopped by Ctrl-C, SIGTERM or SIGHUP while this run ran."


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
        """Runs `command` to its end and returns its status and, unless it completed, the error.

        Its output goes to `log` as it comes (a log that cannot be written, on a full disk, is
        skipped); a failure's error is the last line it printed. `watch`, when given, is called
        before the process starts and every `WATCH_INTERVAL_S` while it runs; a `Stop` it
        returns ends the process (or keeps it from starting).
        """
        stop = watch() if watch is not None else None
        if stop is not None:
            return stop.status, stop.error
        with self._lock:
            if self.stopped:
                return INTERRUPTED, STOPPED_BEFORE
            # Its own session: Ctrl-C at a terminal reaches the sweep alone, which decides. It
            # dies with this process; this thread waits for it, as the parent-death signal needs.
            process = subprocess.Popen(
                dying_with_parent(command),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
            self._running.add(process)
        output = _Output(process.stdout, log)
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
            output.finish()
            return COMPLETED, None
        if self.stopped:
            return INTERRUPTED, STOPPED_WHILE
        if process.returncode < 0:
            return FAILED, f"papermill was ended by {signal.Signals(-process.returncode).name}."
        output.finish()
        return FAILED, output.last_line() or "papermill exited with an error and no output."

    def stop(self) -> None:
        """Ends every running process; runs not yet started will not start."""
        with self._lock:
            self.stopped = True
            running = list(self._running)
        for process in running:
            terminate(process)


class _Output:
    """Copies a process's output into its log from a thread of its own, keeping the last lines
    in memory, so that the error of a failed run is known even where the log could not be
    written. It reads until every writer is gone (the kernel inherits papermill's output), so
    nothing that writes there is ever blocked on a full pipe."""

    def __init__(self, source: IO[bytes], log: IO[bytes]):
        self._source = source
        self._log = log
        self._tail: collections.deque[bytes] = collections.deque(maxlen=TAIL_LINES)
        self._thread = threading.Thread(target=self._copy, name="labkit-output", daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        with self._source:
            for line in iter(self._source.readline, b""):
                if line.strip():
                    self._tail.append(line)
                with contextlib.suppress(OSError, ValueError):  # a full disk; a closed log
                    self._log.write(line)
                    self._log.flush()

    def finish(self) -> None:
        """Waits (a little) for what is left to read, once the process has ended by itself."""
        self._thread.join(timeout=OUTPUT_GRACE_S)

    def last_line(self) -> str | None:
        """The last non-empty line read, if any."""
        return self._tail[-1].decode(errors="replace").strip() if self._tail else None


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
    # The kernel lives in its own session and exits once papermill, its parent, is gone; what
    # is still running then is ended by `execute_run`.
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
    papermill process gets `threads` as its thread budget (`THREAD_VARIABLES`) and `run_dir` as
    `LABKIT_RUN_DIR`. `watch`, when given, looks at `run_dir` before the run starts and every
    `WATCH_INTERVAL_S` while it runs; the `Stop` it returns ends the run with that status and
    error (what the run wrote stays). When the run ends, whatever still works for it is ended,
    and a run that did not complete marks the `metrics.json` it left `running` (`mark_unfinished`).
    A run whose folder cannot be written (disk full) fails with an error naming the file; its
    record is written where the disk allows, and is returned either way.
    """
    run_dir = Path(run_dir).resolve()
    record = NotebookRecord(
        run_id=run_dir.name,
        params=run.params,
        status=RUNNING,
        notebook=task.notebook.name,
        host=socket.gethostname(),
        started_at=utc_now(),
    )
    started = time.monotonic()
    try:
        status, error = _execute(task, run, run_dir, record, threads, processes, watch)
    except OSError as failure:
        status, error = FAILED, _write_error(failure, run_dir)
    duration_s = round(time.monotonic() - started, 3)
    with contextlib.suppress(RuntimeError):  # what cannot be ended stops the next batch instead
        end_left_running(run_dir, inside=False)
    if status != COMPLETED:
        mark_unfinished(run_dir, METRICS_STATUS.get(status, "failed"), error or status)
    record = dataclasses.replace(record, status=status, error=error, duration_s=duration_s)
    try:
        write_record(run_dir, record)
    except RecordWriteError as failure:  # the record returned is the only one
        problem = _write_error(failure)
        if error and problem in error:
            problem = error
        elif error:
            problem = f"{error} {problem}"
        record = dataclasses.replace(record, status=FAILED, error=problem)
    return record


def _execute(
    task: PapermillTask,
    run: Run,
    run_dir: Path,
    record: NotebookRecord,
    threads: int,
    processes: ProcessGroup,
    watch: Watch | None,
) -> tuple[str, str | None]:
    """Runs papermill for `run` and returns the status and error of the run."""
    run_dir.mkdir(parents=True, exist_ok=True)
    write_record(run_dir, record)
    notebook = task.notebook
    injected = dict(run.params)
    if task.output_dir_parameter:
        injected[task.output_dir_parameter] = str(run_dir)
    parameters_file = run_dir / "parameters.yaml"
    try:
        parameters_file.write_text(yaml.safe_dump(injected, sort_keys=False))
    except OSError as error:  # a full disk: name the file
        raise OSError(error.errno, error.strerror, str(parameters_file)) from None
    executed = run_dir / notebook.name
    command = [sys.executable, "-m", "papermill", str(notebook), str(executed)]
    command += ["--parameters_file", str(parameters_file), "--no-progress-bar"]
    if task.kernel_name:
        command += ["--kernel", task.kernel_name]
    env = {
        **os.environ,
        **dict.fromkeys(THREAD_VARIABLES, str(threads)),
        RUN_DIR_VARIABLE: str(run_dir),
    }
    log_path = run_dir / "papermill.log"
    with log_path.open("wb", buffering=0) as log:  # unbuffered: a full disk fails no close
        status, error = processes.run(
            command, log, env, task.timeout, watch and functools.partial(watch, run_dir)
        )
    if status == FAILED:
        error = _notebook_error(executed) or error or "papermill failed and said nothing."
        if _is_disk_full(error) and str(run_dir) not in error:
            error = f"{error} (writing into {run_dir})"
    return status, error


def _write_error(error: OSError, run_dir: Path | None = None) -> str:
    """An error writing into a run's folder, as one line that names the file (or the folder)."""
    if isinstance(error, RecordWriteError):
        return str(error)
    if error.filename is None and run_dir is not None:
        error = OSError(error.errno, error.strerror, str(run_dir))
    return f"{type(error).__name__}: {error}"


def _is_disk_full(error: str) -> bool:
    return any(os.strerror(code) in error for code in (errno.ENOSPC, errno.EDQUOT))


def mark_unfinished(run_dir: Path, status: str, reason: str) -> None:
    """Gives the `metrics.json` files that a run which ended left `running` its `status` and
    `reason` as their error; the history they hold stays.

    Example:

    >>> mark_unfinished(Path("runs/search/learning_rate=0.5-9f8e7d6c"), "stopped", "Pruned.")
    """
    for path in run_dir.rglob(METRICS_FILE):
        with contextlib.suppress(ResultFileError, OSError):
            metrics = read_record(path)
            if metrics.status == "running":
                dataclasses.replace(metrics, status=status, error=reason).write(path.parent)


def _notebook_error(executed: Path) -> str | None:
    """The first exception raised in an executed notebook, as `Type: message`."""
    with contextlib.suppress(OSError, ValueError):
        for cell in nbformat.read(executed, as_version=4).cells:
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    return f"{output.ename}: {output.evalue}"
    return None
