"""Run results: what a training run produced, and its files `metrics.json` and `history.csv`.

`RunRecord` is the one definition of `metrics.json`: `RunResult.save` writes it, and
`read_record` (any labkit notebook's runs, for reports) and `RunResult.load` (labkit's own runs)
read it back, so writer and readers cannot drift apart. A file that is empty, truncated or not
shaped like a record raises `ResultFileError`, naming the file.

Example:

>>> from labkit.results import read_record
>>> record = read_record("runs/weight_norm/weightnorm")
>>> record.status, record.final_val_accuracy
('completed', 0.5891)
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit._checks import is_int, is_number
from labkit._io import atomic_write
from labkit.params import ExperimentParams

__all__ = [
    "RunResult",
    "RunRecord",
    "ResultFileError",
    "read_record",
    "read_history",
    "library_versions",
    "METRICS_FILE",
    "HISTORY_FILE",
    "RUN_STATUSES",
    "METRIC_ORDER",
]

METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"
# A training run is "running" until it ends in one of the other states. (A notebook run in a
# batch has statuses of its own: `labkit.sweep.records.NOTEBOOK_STATUSES`.)
RUN_STATUSES = ("running", "completed", "stopped", "interrupted", "failed")
# Columns of history.csv: "epoch", these metrics when present, any others sorted, "seconds".
METRIC_ORDER = ("loss", "accuracy", "val_loss", "val_accuracy")


class ResultFileError(ValueError):
    """A run's `metrics.json` is missing, empty, truncated or not shaped like a `RunRecord`."""


@dataclass(frozen=True)
class RunRecord:
    """The contents of a run's `metrics.json`; `to_json` writes it and `from_json` reads it.

    Args:
        run_name: The run's name (its folder's name).
        status: One of `RUN_STATUSES`.
        error: `"ExceptionType: message"` of a failed run, else `None`.
        params: The run's parameters (an `ExperimentParams` as a dict for labkit's runs).
        history: Per-epoch values of each Keras metric.
        epoch_seconds: Duration of each epoch.
        epochs_completed: Epochs recorded.
        best_val_accuracy: Highest `val_accuracy` (NaN values ignored), or `None`.
        final_val_accuracy: Last `val_accuracy`, or `None`.
        duration_s: Seconds from the start of training to the end of the run.
        started_at: UTC start time, ISO 8601.
        versions: Python and library versions (see `library_versions`).
        steps: Values recorded per optimizer step (see `labkit.recording.StepRecorder`):
            `step` (optimizer steps done), `loss` and `accuracy` (the step's own training
            values, or their mean over the steps since the previous record) and `seconds`
            (since training began); empty if none.
        compiled: What the model was compiled with: `jit_compile` and `steps_per_execution`
            as used (`"auto"` resolved, see `labkit.speed`); empty if unknown.

    Example:

    >>> record = RunRecord(run_name="regular", status="completed", params={"seed": 0})
    >>> RunRecord.from_json(record.to_json()) == record
    True
    """

    run_name: str
    status: str
    error: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    history: dict[str, list[float | None]] = field(default_factory=dict)
    epoch_seconds: list[float] = field(default_factory=list)
    epochs_completed: int = 0
    best_val_accuracy: float | None = None
    final_val_accuracy: float | None = None
    duration_s: float = 0.0
    started_at: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    steps: dict[str, list[float | None]] = field(default_factory=dict)
    compiled: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The record as the JSON object `metrics.json` holds.

        Example:

        >>> list(RunRecord(run_name="regular", status="running").to_json())[:3]
        ['run_name', 'status', 'error']
        """
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, value: Any, source: str | os.PathLike = "metrics.json") -> RunRecord:
        """Reads a record back from a parsed `metrics.json`; keys it does not know are ignored.

        Raises:
            ResultFileError: naming `source` and what is wrong.

        Example:

        >>> RunRecord.from_json({"run_name": "regular", "status": "completed"}).epochs_completed
        0
        """

        def fail(problem: str) -> ResultFileError:
            return ResultFileError(f"Unreadable run results {source}: {problem}.")

        if not isinstance(value, dict):
            raise fail(f"expected a JSON object, found {type(value).__name__}")
        known = {f.name: f for f in dataclasses.fields(cls)}
        missing = [f.name for f in known.values() if _required(f) and f.name not in value]
        if missing:
            raise fail(f"missing {', '.join(missing)}")
        values = {name: item for name, item in value.items() if name in known}
        for name, item in values.items():
            expected, is_valid = _FIELD_TYPES[name]
            if not is_valid(item):
                raise fail(f"`{name}` should be {expected}, found {item!r:.80}")
        return cls(**values)

    def write(self, folder: str | os.PathLike) -> Path:
        """Writes `metrics.json` into `folder` (atomically); returns the file's path.

        Example:

        >>> RunRecord(run_name="regular", status="running").write("runs/demo/regular")
        PosixPath('runs/demo/regular/metrics.json')
        """
        path = Path(folder) / METRICS_FILE
        atomic_write(path, json.dumps(self.to_json(), indent=2) + "\n")
        return path


def _required(spec: dataclasses.Field) -> bool:
    return spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING


def _is_numbers(values: Any) -> bool:
    return isinstance(values, list) and all(v is None or is_number(v) for v in values)


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _or_null(check):
    return lambda value: value is None or check(value)


_NUMBER_LISTS = (
    "an object of lists of numbers",
    lambda value: isinstance(value, dict) and all(map(_is_numbers, value.values())),
)
# What each field of `RunRecord` holds once parsed from JSON, checked when reading.
_FIELD_TYPES = {
    "run_name": ("a string", _is_str),
    "status": ("a string", _is_str),
    "error": ("a string or null", _or_null(_is_str)),
    "params": ("an object", lambda value: isinstance(value, dict)),
    "history": _NUMBER_LISTS,
    "epoch_seconds": ("a list of numbers", _is_numbers),
    "epochs_completed": ("an integer", is_int),
    "best_val_accuracy": ("a number or null", _or_null(is_number)),
    "final_val_accuracy": ("a number or null", _or_null(is_number)),
    "duration_s": ("a number", is_number),
    "started_at": ("a string", _is_str),
    "versions": ("an object", lambda value: isinstance(value, dict)),
    "steps": _NUMBER_LISTS,
    "compiled": ("an object", lambda value: isinstance(value, dict)),
}


def _metrics_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path if path.name == METRICS_FILE or path.is_file() else path / METRICS_FILE


def read_record(path: str | os.PathLike) -> RunRecord:
    """Reads the `metrics.json` of a run folder (or the file itself) as a `RunRecord`.

    Any labkit notebook's runs can be read this way: `params` is kept as a plain dict.

    Raises:
        ResultFileError: the file is missing, empty, truncated or not shaped like a record,
            with the file's path in the message.

    Example:

    >>> read_record("runs/sweep/model=regular,seed=0-1833b3c1/regular").best_val_accuracy
    0.6019
    """
    path = _metrics_path(path)
    try:
        text = path.read_text()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as error:
        raise ResultFileError(f"Unreadable run results {path}: no such file.") from error
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        problem = "empty" if not text.strip() else f"not valid JSON ({error})"
        raise ResultFileError(f"Unreadable run results {path}: {problem}.") from error
    return RunRecord.from_json(value, source=path)


def read_history(folder: str | os.PathLike):
    """Reads a run folder's `history.csv` as a pandas DataFrame, one row per epoch.

    Example:

    >>> read_history("runs/weight_norm/regular")["val_accuracy"].max()
    0.6019
    """
    import pandas as pd

    return pd.read_csv(Path(folder) / HISTORY_FILE)


def _best(values: list[float | None]) -> float | None:
    finite = [value for value in values if value is not None and not math.isnan(value)]
    return max(finite) if finite else None


@dataclass
class RunResult:
    """What one run produced: its per-epoch history, timings, status and where it was saved.

    `steps` holds what `labkit.recording.StepRecorder` records at every optimizer step;
    `compiled` the `jit_compile` and `steps_per_execution` the model was compiled with.

    Example:

    >>> result = RunResult(ExperimentParams(), history={"val_accuracy": [0.41, 0.52]},
    ...                    epoch_seconds=[3.1, 2.9])
    >>> result.epochs_completed, result.best_val_accuracy
    (2, 0.52)
    """

    params: ExperimentParams
    history: dict[str, list[float]] = field(default_factory=dict)
    epoch_seconds: list[float] = field(default_factory=list)
    status: str = "running"
    error: str | None = None
    started_at: str = ""
    duration_s: float = 0.0
    versions: dict[str, str] = field(default_factory=dict)
    path: Path | None = None
    model: Any = field(default=None, repr=False)
    steps: dict[str, list[float]] = field(default_factory=dict)
    compiled: dict[str, Any] = field(default_factory=dict)

    @property
    def run_name(self) -> str:
        return self.params.run_name

    @property
    def epochs_completed(self) -> int:
        return len(self.epoch_seconds)

    @property
    def final_val_accuracy(self) -> float | None:
        values = self.history.get("val_accuracy") or [None]
        return values[-1]

    @property
    def best_val_accuracy(self) -> float | None:
        """Highest validation accuracy so far; epochs whose value is NaN do not count."""
        return _best(self.history.get("val_accuracy") or [])

    def record(self) -> RunRecord:
        """The result as its `metrics.json` record.

        Example:

        >>> RunResult(ExperimentParams()).record().status
        'running'
        """
        return RunRecord(
            run_name=self.run_name,
            status=self.status,
            error=self.error,
            params=self.params.to_dict(),
            history=self.history,
            epoch_seconds=self.epoch_seconds,
            epochs_completed=self.epochs_completed,
            best_val_accuracy=self.best_val_accuracy,
            final_val_accuracy=self.final_val_accuracy,
            duration_s=self.duration_s,
            started_at=self.started_at,
            versions=self.versions,
            steps=self.steps,
            compiled=self.compiled,
        )

    def to_json(self) -> dict[str, Any]:
        """The contents of `metrics.json`.

        Example:

        >>> RunResult(ExperimentParams()).to_json()["run_name"]
        'regular'
        """
        return self.record().to_json()

    def to_frame(self):
        """The history as a pandas DataFrame, one row per epoch (the contents of `history.csv`).

        Example:

        >>> RunResult(ExperimentParams(), {"loss": [1.5]}, [2.0]).to_frame().columns.tolist()
        ['epoch', 'loss', 'seconds']
        """
        import pandas as pd

        preferred = [key for key in METRIC_ORDER if key in self.history]
        columns = preferred + sorted(set(self.history) - set(preferred))
        frame = pd.DataFrame(self.history, columns=columns)
        frame.insert(0, "epoch", range(1, len(frame) + 1))
        frame["seconds"] = self.epoch_seconds[: len(frame)]
        return frame

    def save(self, folder: str | os.PathLike) -> Path:
        """Writes `metrics.json` and `history.csv` into `folder` (atomically) and returns it.

        Example:

        >>> result.save("runs/demo/regular")
        PosixPath('runs/demo/regular')
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(folder / HISTORY_FILE, self.to_frame().to_csv(index=False))
        self.record().write(folder)
        self.path = folder
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike) -> RunResult:
        """Reads back a run that labkit saved (its parameters validated again); no model.

        Raises:
            ResultFileError: the folder holds no readable `metrics.json`.
            ValueError: its parameters are not valid `ExperimentParams`.

        Example:

        >>> RunResult.load("runs/weight_norm/weightnorm").best_val_accuracy
        0.5891
        """
        record = read_record(folder)
        return cls(
            params=ExperimentParams.from_dict(record.params),
            history={name: list(values) for name, values in record.history.items()},
            epoch_seconds=list(record.epoch_seconds),
            status=record.status,
            error=record.error,
            started_at=record.started_at,
            duration_s=record.duration_s,
            versions=dict(record.versions),
            path=_metrics_path(folder).parent,
            steps={name: list(values) for name, values in record.steps.items()},
            compiled=dict(record.compiled),
        )


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries a run depends on.

    Example:

    >>> sorted(library_versions())[:3]
    ['backend', 'keras', 'labkit']
    """
    import keras
    import numpy as np

    from labkit import __version__

    versions = {
        "python": platform.python_version(),
        "labkit": __version__,
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "numpy": np.__version__,
    }
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        versions["tensorflow"] = tf.__version__
    return versions
