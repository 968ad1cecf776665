"""Runs executed on a Dask cluster: each on a worker, its files sent back into the runs folder.

No shared filesystem is needed; workers need labkit and whatever the notebook imports. Importing
this module does not import Dask: `DaskExecutor` does, when it connects.

Example:

>>> with DaskExecutor(task, Path("runs/sweep"), "tcp://10.0.0.5:8786") as executor:
...     records = list(executor.run_all(runs))
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import tempfile
from pathlib import Path
from typing import Any

from labkit.sweep.execution import PapermillTask, ProcessGroup, execute_run, thread_budget
from labkit.sweep.executor import Executor
from labkit.sweep.planning import Run
from labkit.sweep.records import FAILED, RECORD_FILE, RunRecord, read_record, write_record

__all__ = ["DaskExecutor", "execute_on_worker"]


class DaskExecutor(Executor):
    """Executes runs on the workers of the Dask cluster at `scheduler`.

    As many runs execute at once as the workers have threads. `stop` cancels the runs; those
    already executing on workers finish or time out there, and their results are dropped.

    Args:
        task: The notebook and papermill's options.
        out_dir: The runs folder; each run's files land in `out_dir / run.run_id`.
        scheduler: The scheduler's address, e.g. `tcp://10.0.0.5:8786`.
    """

    def __init__(self, task: PapermillTask, out_dir: Path, scheduler: str):
        try:
            from distributed import Client
        except ImportError:
            raise ImportError(
                "Running a sweep on a Dask cluster needs dask.distributed: "
                "pip install 'labkit[dask]'"
            ) from None
        try:
            self._client = Client(scheduler, set_as_default=False)
        except OSError as error:
            raise ConnectionError(
                f"Cannot reach the Dask scheduler. Received: `scheduler={scheduler!r}` ({error})"
            ) from None
        self.task = task
        self.out_dir = Path(out_dir)
        self._source = task.notebook.read_bytes()
        self._futures: list[Any] = []
        self._stopped = False

    def submit(self, run: Run) -> concurrent.futures.Future[RunRecord]:
        result: concurrent.futures.Future[RunRecord] = concurrent.futures.Future()
        future = self._client.submit(execute_on_worker, self._source, self.task, run, pure=False)
        self._futures.append(future)
        future.add_done_callback(lambda future: self._collect(future, run, result))
        return result

    def _collect(self, future: Any, run: Run, result: concurrent.futures.Future) -> None:
        """Runs in Dask's callback thread: writes the run's files, then resolves `result`."""
        if self._stopped:
            result.cancel()
            return
        try:
            result.set_result(_write_back(future, self.out_dir / run.run_id, run))
        except BaseException as error:
            result.set_exception(error)

    def stop(self) -> None:
        self._stopped = True
        self._client.cancel(self._futures)
        self._client.close()

    def close(self) -> None:
        self._client.close()


def execute_on_worker(source: bytes, task: PapermillTask, run: Run) -> dict[str, bytes]:
    """Runs on a Dask worker: executes the run in a temporary folder and returns its files.

    Example:

    >>> files = client.submit(execute_on_worker, notebook_bytes, task, run).result()
    >>> sorted(files)[:2]
    ['papermill.log', 'parameters.yaml']
    """
    from distributed import get_worker

    with tempfile.TemporaryDirectory(prefix="labkit-sweep-") as scratch:
        notebook = Path(scratch) / task.notebook.name
        notebook.write_bytes(source)
        run_dir = Path(scratch) / run.run_id
        execute_run(
            dataclasses.replace(task, notebook=notebook),
            run,
            run_dir,
            threads=thread_budget(get_worker().state.nthreads),
            processes=ProcessGroup(),
        )
        return {
            path.relative_to(run_dir).as_posix(): path.read_bytes()
            for path in run_dir.rglob("*")
            if path.is_file()
        }


def _write_back(future: Any, run_dir: Path, run: Run) -> RunRecord:
    """Writes a finished Dask run's files into `run_dir`, its record last, and returns it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if future.status != "finished":
        exception = future.exception() if future.status == "error" else None
        error = (
            f"{type(exception).__name__}: {exception}" if exception else "Cancelled on the cluster."
        )
        record = RunRecord(run.run_id, run.params, status=FAILED, error=error)
        write_record(run_dir, record)
        return record
    files = future.result()
    for name in sorted(files, key=lambda name: name == RECORD_FILE):
        path = run_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files[name])
    return read_record(run_dir)
