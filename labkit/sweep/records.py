"""Run records: what happened to each run of a batch, in its folder's `run.json` and `runs.csv`.

A record is written when a run starts (`running`) and again when it ends, atomically, so a reader
never sees half of one. On a full disk, where no second copy fits, a record is rewritten in place
instead; what cannot be written at all raises `RecordWriteError`, naming the file.

Example:

>>> record = read_notebook_record("runs/sweep/model=regular,seed=0-1833b3c1")
>>> record.status, record.duration_s
('completed', 41.2)
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from labkit._io import atomic_write

__all__ = [
    "COMPLETED",
    "FAILED",
    "INTERRUPTED",
    "PENDING",
    "PRUNED",
    "RECORD_FILE",
    "RUNNING",
    "NOTEBOOK_STATUSES",
    "SUMMARY_FILE",
    "TIMED_OUT",
    "NotebookRecord",
    "RecordWriteError",
    "read_notebook_record",
    "read_records",
    "write_record",
    "write_summary",
]

RECORD_FILE = "run.json"
SUMMARY_FILE = "runs.csv"

PENDING = "pending"  # planned, not started (or never recorded)
RUNNING = "running"  # started; a record left in this state belongs to a batch that died
COMPLETED = "completed"
FAILED = "failed"
TIMED_OUT = "timed_out"
INTERRUPTED = "interrupted"  # stopped by Ctrl-C, SIGTERM or SIGHUP
PRUNED = "pruned"  # stopped by a search whose pruner rejected it; its partial results stay
# A notebook run's statuses (a training run's are `labkit.results.RUN_STATUSES`).
NOTEBOOK_STATUSES = (PENDING, RUNNING, COMPLETED, FAILED, TIMED_OUT, INTERRUPTED, PRUNED)
# Errors of a disk that has no room left, where a small file may still be rewritten in place.
_NO_ROOM = (errno.ENOSPC, errno.EDQUOT)


class RecordWriteError(OSError):
    """A record (`run.json`, `runs.csv`) could not be written: the disk is full, or the folder
    is gone. `filename` names the file.

    Example:

    >>> str(RecordWriteError(28, "No space left on device", "runs/sweep/runs.csv"))
    'Could not write runs/sweep/runs.csv: No space left on device (errno 28)'
    """

    def __str__(self) -> str:
        return f"Could not write {self.filename}: {self.strerror} (errno {self.errno})"


@dataclasses.dataclass
class NotebookRecord:
    """What happened to one notebook run (its `run.json`): parameters, status, error, timing.

    Example:

    >>> NotebookRecord("seed=0-843f5ee4", {"seed": 0}).status
    'pending'
    """

    run_id: str
    params: dict[str, Any]
    status: str = PENDING
    error: str | None = None
    notebook: str | None = None
    host: str | None = None
    started_at: str | None = None
    duration_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as JSON-ready values, as `run.json` holds them.

        Example:

        >>> NotebookRecord("seed=0-843f5ee4", {"seed": 0}).to_json()["status"]
        'pending'
        """
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, values: Mapping[str, Any]) -> NotebookRecord:
        """Makes a record from `to_json`'s values; keys it does not know are ignored.

        Example:

        >>> NotebookRecord.from_json({"run_id": "seed=0-843f5ee4", "params": {"seed": 0}}).status
        'pending'
        """
        if not isinstance(values, Mapping) or not {"run_id", "params"} <= set(values):
            raise ValueError(f"expected an object with `run_id` and `params`, got {values!r:.80}")
        fields = {field.name for field in dataclasses.fields(cls)}
        return cls(**{name: value for name, value in values.items() if name in fields})


def write_record(run_dir: str | os.PathLike, record: NotebookRecord) -> None:
    """Writes `record` to `run_dir/run.json` atomically (in place on a full disk).

    Raises:
        RecordWriteError: it could not be written, naming the file.

    Example:

    >>> write_record("runs/sweep/seed=0-843f5ee4", NotebookRecord("seed=0-843f5ee4", {"seed": 0}))
    """
    text = json.dumps(record.to_json(), indent=2, default=str)
    _write(Path(run_dir) / RECORD_FILE, text + "\n", in_place=True)


def _write(path: Path, text: str, in_place: bool = False) -> None:
    """Writes `text` to `path` atomically; with `in_place`, a full disk rewrites it in place.

    Raises:
        RecordWriteError: naming `path`.
    """
    try:
        atomic_write(path, text)
    except OSError as error:
        if in_place and error.errno in _NO_ROOM and path.is_file() and _rewrite(path, text):
            return
        raise RecordWriteError(error.errno, error.strerror or str(error), str(path)) from None


def _rewrite(path: Path, text: str) -> bool:
    """Rewrites a small file in place, in the blocks its old content frees; puts the old content
    back if the new one does not fit. Returns whether the new content was written."""
    data = text.encode("utf-8")
    try:
        old = path.read_bytes()
        with path.open("wb", buffering=0) as file:
            with contextlib.suppress(OSError):
                if file.write(data) == len(data):
                    return True
            file.seek(0)
            file.truncate()
            file.write(old)
    except OSError:
        pass
    return False


def read_notebook_record(run_dir: str | os.PathLike) -> NotebookRecord | None:
    """Returns a run folder's record, or None if it has none.

    A `run.json` that cannot be read raises `ValueError` naming it.

    Example:

    >>> read_notebook_record("runs/sweep/model=regular,seed=0-1833b3c1").status
    'completed'
    """
    path = Path(run_dir) / RECORD_FILE
    if not path.is_file():
        return None
    try:
        return NotebookRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as error:
        raise ValueError(f"Unreadable run record {path}: {error}") from None


def read_records(out_dir: str | os.PathLike) -> list[NotebookRecord]:
    """Returns the records of every run folder in `out_dir`, by folder name.

    Unreadable records are skipped with a warning that names them.

    Example:

    >>> [record.status for record in read_records("runs/sweep")]
    ['completed', 'failed']
    """
    records = []
    for path in sorted(Path(out_dir).glob(f"*/{RECORD_FILE}")):
        try:
            record = read_notebook_record(path.parent)
        except ValueError as error:
            warnings.warn(f"{error}; it is left out.", stacklevel=2)
            continue
        records.append(dataclasses.replace(record, run_id=path.parent.name))
    return records


def write_summary(out_dir: str | os.PathLike, records: Iterable[NotebookRecord]) -> Path:
    """Writes `runs.csv`: one row per run with its id, status, duration, error and parameters.

    Example:

    >>> write_summary("runs/sweep", records)
    PosixPath('runs/sweep/runs.csv')
    """
    rows = [
        {
            "run_id": record.run_id,
            "status": record.status,
            "duration_s": record.duration_s,
            "error": record.error,
            **record.params,
        }
        for record in records
    ]
    path = Path(out_dir) / SUMMARY_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RecordWriteError(error.errno, error.strerror, str(path)) from None
    _write(path, pd.DataFrame(rows).to_csv(index=False))
    return path
