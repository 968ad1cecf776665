"""Runs executed on a Dask cluster: each on a worker, its files sent back into the runs folder.

No shared filesystem is needed; workers need labkit and whatever the notebook imports. Importing
this module does not import Dask: `DaskExecutor` does, when it connects.

A watched run (see `Executor.submit`) is relayed through the scheduler's metadata store: the
worker posts the run's `metrics.json` files as they change and reads whether to stop; the driver
copies them into the run's folder here, calls the watch, and posts its `Stop`.

Example:

>>> with DaskExecutor(task, Path("runs/sweep"), "tcp://10.0.0.5:8786") as executor:
...     records = list(executor.run_all(runs))
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

from labkit.results import METRICS_FILE
from labkit.sweep.execution import (
    WATCH_INTERVAL_S,
    PapermillTask,
    ProcessGroup,
    Stop,
    Watch,
    execute_run,
    thread_budget,
)
from labkit.sweep.executor import Executor
from labkit.sweep.planning import Run
from labkit.sweep.records import (
    FAILED,
    RECORD_FILE,
    NotebookRecord,
    read_notebook_record,
    write_record,
)

__all__ = ["WATCH_KEY", "DaskExecutor", "execute_on_worker"]

# Where watched runs meet in the scheduler's metadata: this key, the executor's token, the run id.
WATCH_KEY = "labkit-watch"


class DaskExecutor(Executor):
    """Executes runs on the workers of the Dask cluster at `scheduler`.

    As many runs execute at once as the workers have threads. `stop` cancels the runs; those
    already executing on workers finish or time out there, and their results are dropped. The
    watches of watched runs are called from one thread of this process.

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
                "Running on a Dask cluster needs dask.distributed: pip install 'labkit[dask]'"
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
        self._token = uuid.uuid4().hex
        self._watched: dict[str, _Watched] = {}
        self._watched_lock = threading.Lock()
        self._closing = threading.Event()
        self._watcher: threading.Thread | None = None

    def submit(
        self, run: Run, watch: Watch | None = None
    ) -> concurrent.futures.Future[NotebookRecord]:
        result: concurrent.futures.Future[NotebookRecord] = concurrent.futures.Future()
        relay = None
        if watch is not None:
            relay = [WATCH_KEY, self._token, run.run_id]
            with self._watched_lock:
                self._watched[run.run_id] = _Watched(watch, relay)
            self._start_watching()
        future = self._client.submit(
            execute_on_worker, self._source, self.task, run, relay, pure=False
        )
        self._futures.append(future)
        future.add_done_callback(lambda future: self._collect(future, run, result))
        return result

    def _collect(self, future: Any, run: Run, result: concurrent.futures.Future) -> None:
        """Runs in Dask's callback thread: writes the run's files, then resolves `result`."""
        with self._watched_lock:  # no progress is copied into the folder after this
            self._watched.pop(run.run_id, None)
        if self._stopped:
            result.cancel()
            return
        try:
            result.set_result(_write_back(future, self.out_dir / run.run_id, run))
        except BaseException as error:
            result.set_exception(error)

    def _start_watching(self) -> None:
        if self._watcher is None:
            self._watcher = threading.Thread(
                target=self._watch_runs, name="labkit-dask-watch", daemon=True
            )
            self._watcher.start()

    def _watch_runs(self) -> None:
        """The watcher thread: relays each watched run's progress and its watch's verdict."""
        while not self._closing.wait(WATCH_INTERVAL_S):
            with self._watched_lock:
                watched = list(self._watched.items())
            for run_id, entry in watched:
                if self._closing.is_set():
                    return
                try:
                    self._look(self.out_dir / run_id, entry)
                except Exception as error:  # one broken watch ends its run, not the others
                    self._post_stop(entry, Stop(FAILED, f"Watching the run failed: {error}"))

    def _look(self, run_dir: Path, entry: _Watched) -> None:
        files = self._client.get_metadata([*entry.relay, "progress"], None)
        with self._watched_lock:
            if run_dir.name not in self._watched:
                return  # ended meanwhile: its final files are in place
            if files and files != entry.files:
                _write_files(run_dir, files)
                entry.files = files
        stop = entry.watch(run_dir)
        if stop is not None:
            self._post_stop(entry, stop)

    def _post_stop(self, entry: _Watched, stop: Stop) -> None:
        with contextlib.suppress(Exception):  # the client is closing: the run ends anyway
            self._client.set_metadata([*entry.relay, "stop"], [stop.status, stop.error])

    def _end_watching(self) -> None:
        self._closing.set()
        if self._watcher is not None:
            self._watcher.join()
            with contextlib.suppress(Exception):  # the relay's entries are only a few bytes
                self._client.set_metadata([WATCH_KEY, self._token], None)

    def stop(self) -> None:
        self._stopped = True
        self._end_watching()
        self._client.cancel(self._futures)
        self._client.close()

    def close(self) -> None:
        self._end_watching()
        self._client.close()


@dataclasses.dataclass
class _Watched:
    """A watched run on the driver: its watch, its relay key and the files last copied."""

    watch: Watch
    relay: list[str]
    files: dict[str, bytes] | None = None


def execute_on_worker(
    source: bytes, task: PapermillTask, run: Run, relay: list[str] | None = None
) -> dict[str, bytes]:
    """Runs on a Dask worker: executes the run in a temporary folder and returns its files.

    With `relay` (a watched run's metadata key), the run's `metrics.json` files are posted
    there as they change, and a stop posted there by the driver ends the run.

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
            watch=_relay(relay) if relay else None,
        )
        return _read_files(run_dir, "*")


def _relay(key: list[str]) -> Watch:
    """The worker's side of a watched run: posts its metrics files, reads the driver's stop."""
    from distributed import get_client

    client = get_client()
    posted: dict[str, bytes] = {}

    def watch(run_dir: Path) -> Stop | None:
        nonlocal posted
        files = _read_files(run_dir, METRICS_FILE)
        if files != posted:
            client.set_metadata([*key, "progress"], files)
            posted = files
        stop = client.get_metadata([*key, "stop"], None)
        return Stop(*stop) if stop else None

    return watch


def _read_files(run_dir: Path, pattern: str) -> dict[str, bytes]:
    """The files below `run_dir` whose names match `pattern`, by relative path."""
    files = {}
    for path in run_dir.rglob(pattern):
        with contextlib.suppress(FileNotFoundError):  # removed since it was listed
            if path.is_file():
                files[path.relative_to(run_dir).as_posix()] = path.read_bytes()
    return files


def _write_files(run_dir: Path, files: dict[str, bytes]) -> None:
    """Writes files by relative path into `run_dir`, the run's record last."""
    for name in sorted(files, key=lambda name: name == RECORD_FILE):
        path = run_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files[name])


def _write_back(future: Any, run_dir: Path, run: Run) -> NotebookRecord:
    """Writes a finished Dask run's files into `run_dir`, its record last, and returns it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if future.status != "finished":
        exception = future.exception() if future.status == "error" else None
        error = (
            f"{type(exception).__name__}: {exception}" if exception else "Cancelled on the cluster."
        )
        record = NotebookRecord(run.run_id, run.params, status=FAILED, error=error)
        write_record(run_dir, record)
        return record
    _write_files(run_dir, future.result())
    return read_notebook_record(run_dir)
