"""A runs folder: owned by one batch at a time, one subfolder per run, runs found by parameters.

A run is identified by the digest of its parameter values with the notebook's defaults filled in
(`params_digest`), not by its folder's label, so a later batch finds a run whoever planned it,
whatever else varied then, and whether a value was given or left to its default: it keeps the
folder's name, and a completed run is never executed or removed again.

Opening a folder ends whatever a batch that died (`kill -9`, a lost terminal) left running in it
(`labkit.sweep.orphans`), so a run folder is only cleared once nothing writes into it.

Example:

>>> with RunsFolder("runs/sweep") as folder:
...     runs = [folder.place(run) for run in runs]
...     pending = [run for run in runs if not folder.is_completed(run)]
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from labkit.sweep.lock import UNKNOWN_KIND, RunsFolderBusyError, RunsFolderLock
from labkit.sweep.orphans import end_left_running
from labkit.sweep.planning import Run, params_digest
from labkit.sweep.records import (
    COMPLETED,
    NotebookRecord,
    read_notebook_record,
    read_records,
    write_summary,
)

__all__ = ["RunsFolder"]


class RunsFolder:
    """A runs folder, locked against other batches from `with` (or `open`) to `close`.

    Args:
        path: The folder; created if missing.
        defaults: The notebook's parameter defaults (see `notebook_defaults`): a run that left a
            parameter to its default is the run that gave it that value.
        kind: The kind of batch (`"sweep"`, `"search"`), for messages.

    Example:

    >>> with RunsFolder("runs/sweep", kind="sweep") as folder:
    ...     folder.write_summary([])
    PosixPath('runs/sweep/runs.csv')
    """

    def __init__(
        self,
        path: str | os.PathLike,
        defaults: Mapping[str, Any] | None = None,
        kind: str = UNKNOWN_KIND,
    ):
        self.path = Path(path)
        self.defaults = dict(defaults or {})
        self._lock = RunsFolderLock(self.path, kind)
        self._folders: dict[str, str] = {}  # params digest -> the run folder's name

    def open(self) -> None:
        """Locks the folder (`RunsFolderBusyError` if another batch holds it), ends what a dead
        batch left running in it, and indexes its runs."""
        self._lock.acquire()
        try:
            self._end_left_running()
            self._folders.clear()
            for record in read_records(self.path):
                digest = self._digest(record.params)
                if digest not in self._folders or record.status == COMPLETED:
                    self._folders[digest] = record.run_id
        except BaseException:
            self._lock.release()
            raise

    def _end_left_running(self) -> None:
        try:
            ended = end_left_running(self.path)
        except RuntimeError as error:
            raise RunsFolderBusyError(str(error)) from None
        if ended:
            warnings.warn(
                f"Ended {len(ended)} processes that a batch which is no longer running left in "
                f"this runs folder (pids {', '.join(map(str, ended))}).",
                stacklevel=3,
            )

    def _digest(self, params: Mapping[str, Any]) -> str:
        return params_digest({**self.defaults, **params})

    def close(self) -> None:
        """Releases the lock."""
        self._lock.release()

    def __enter__(self) -> RunsFolder:
        self.open()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def place(self, run: Run) -> Run:
        """Returns `run` with the id of the folder an earlier batch gave it, if there is one.

        Example:

        >>> folder.place(Run("seed=0-843f5ee4", {"seed": 0})).run_id  # first made by `--seeds 0`
        '843f5ee4'
        """
        name = self._folders.get(self._digest(run.params), run.run_id)
        return Run(name, run.params)

    def record(self, run: Run) -> NotebookRecord | None:
        """The run's record, or None if it has none (`ValueError` if it cannot be read)."""
        return read_notebook_record(self.path / run.run_id)

    def is_completed(self, run: Run) -> bool:
        """Whether the run completed in an earlier batch; an unreadable record stops the batch.

        Example:

        >>> folder.is_completed(runs[0])
        True
        """
        try:
            record = self.record(run)
        except ValueError as error:
            raise ValueError(f"{error}. Delete its folder to run it again.") from None
        return record is not None and record.status == COMPLETED

    def clear(self, run: Run) -> None:
        """Removes what an unfinished earlier attempt of `run` left, so attempts never mix.

        Nothing writes into it by then: `open` ended what earlier batches left running, and no
        other batch can start in the folder while this one holds it.
        """
        if self.is_completed(run):
            raise ValueError(f"A completed run is never removed. Received: `{run.run_id}`")
        shutil.rmtree(self.path / run.run_id, ignore_errors=True)

    def write_summary(self, records: Iterable[NotebookRecord]) -> Path:
        """Writes `runs.csv`: `records` first, then every other run in the folder by name.

        Example:

        >>> folder.write_summary(records)
        PosixPath('runs/sweep/runs.csv')
        """
        records = list(records)
        listed = {record.run_id for record in records}
        others = [record for record in read_records(self.path) if record.run_id not in listed]
        return write_summary(self.path, records + others)
