"""Validated experiment parameters, the training runner, and run results on disk.

Data flows one way: `ExperimentParams` -> `load_dataset` + `build_convnet` -> `fit` (callbacks
observe) -> `RunResult` (and `metrics.json` + `history.csv` in the run's folder).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labkit.data import DATASETS, Dataset, _is_int, _quoted, load_dataset

__all__ = [
    "ExperimentParams",
    "RunResult",
    "run_experiment",
    "run_experiments",
    "tutorial_runs",
    "notebook_runs",
    "validate_notebook_parameters",
    "MODEL_CHOICES",
    "LIVE_MODES",
    "OPTIMIZERS",
    "DATA_FIELDS",
]

OPTIMIZERS = ("adam", "sgd", "rmsprop", "adamw")
MODEL_CHOICES = ("both", "regular", "weightnorm")
LIVE_MODES = ("auto", "widget", "display", "static", "off")
METRIC_ORDER = ("loss", "accuracy", "val_loss", "val_accuracy")
# The fields that decide what `ExperimentParams.load_data` returns (callers that cache a
# loaded dataset key it on these).
DATA_FIELDS = ("dataset", "train_limit", "test_limit", "seed", "archive")
# Examples used for the explicit data-dependent init of WeightNorm models.
DATA_INIT_EXAMPLES = 512


@dataclass(frozen=True)
class ExperimentParams:
    """Everything that defines one training run. Invalid values raise `ValueError` at once.

    Args:
        dataset: `"cifar10"`, `"mnist"` or `"fashion_mnist"`.
        weight_norm: Train the WeightNorm ConvNet instead of the regular one.
        data_init: Data-dependent init of the WeightNorm layers (ignored without weight_norm).
        epochs: Passes over the training set.
        batch_size: Examples per gradient step.
        learning_rate: Optimizer step size.
        optimizer: `"adam"`, `"sgd"`, `"rmsprop"` or `"adamw"`.
        seed: Seeds Python, NumPy and the backend, and the subset draw.
        train_limit: Training images to use, balanced over classes; 0 uses all.
        test_limit: Test (validation) images to use; 0 uses all.
        output_dir: Folder that receives `<run_name>/metrics.json` and `history.csv`;
            `None` writes nothing.
        archive: Offline CIFAR-10 archive; `None` uses `$LABKIT_CIFAR10_ARCHIVE` or Keras.
        run_name: Name of the run's folder; defaults to `"weightnorm"` or `"regular"`.

    Example:

    >>> params = ExperimentParams(weight_norm=True, epochs=2, train_limit=5000)
    >>> params.replace(seed=1).seed
    1
    """

    dataset: str = "cifar10"
    weight_norm: bool = False
    data_init: bool = True
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 0.001
    optimizer: str = "adam"
    seed: int = 0
    train_limit: int = 0
    test_limit: int = 0
    output_dir: str | None = None
    archive: str | None = None
    run_name: str | None = None

    def __post_init__(self):
        _check_choice("dataset", self.dataset, tuple(DATASETS))
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        for name in ("weight_norm", "data_init"):
            _check(name, getattr(self, name), isinstance(getattr(self, name), bool), "a boolean")
        _check_int("epochs", self.epochs, minimum=1)
        _check_int("batch_size", self.batch_size, minimum=1)
        _check_int("seed", self.seed, minimum=0)
        num_classes = len(DATASETS[self.dataset])
        for name in ("train_limit", "test_limit"):
            value = getattr(self, name)
            _check_int(name, value, minimum=0)
            _check(name, value, value == 0 or value >= num_classes, f"0 or >= {num_classes}")
        rate = self.learning_rate
        is_rate = _is_number(rate) and math.isfinite(rate) and 0 < rate <= 10
        _check("learning_rate", rate, is_rate, "a number in (0, 10]")
        for name in ("output_dir", "archive", "run_name"):
            value = getattr(self, name)
            _check(name, value, value is None or isinstance(value, str), "a string or None")
        if self.run_name is None:
            object.__setattr__(self, "run_name", "weightnorm" if self.weight_norm else "regular")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ExperimentParams:
        """Builds parameters from a mapping, rejecting unknown names.

        Example:

        >>> ExperimentParams.from_dict({"epochs": 2, "weight_norm": True}).run_name
        'weightnorm'
        """
        known = {f.name for f in dataclasses.fields(cls)}
        for name, value in values.items():
            if name not in known:
                raise ValueError(
                    f"Unknown parameter `{name}`. Valid parameters: {', '.join(sorted(known))}. "
                    f"Received: `{name}={value!r}`"
                )
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def load_data(self) -> Dataset:
        """Loads the dataset these parameters describe, with one-hot labels.

        Example:

        >>> data = ExperimentParams(train_limit=2000).load_data()
        """
        dataset, train_limit, test_limit, seed, archive = (getattr(self, f) for f in DATA_FIELDS)
        return load_dataset(
            dataset,
            labels="onehot",
            limit=train_limit or None,
            test_limit=test_limit or None,
            seed=seed,
            archive=archive or None,
        )

    def replace(self, **changes) -> ExperimentParams:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def tutorial_runs(model: str = "both", **params) -> list[ExperimentParams]:
    """The runs a notebook asks for: the regular ConvNet, the WeightNorm one, or both.

    Args:
        model: `"both"`, `"regular"` or `"weightnorm"`.
        **params: Any other `ExperimentParams` field, shared by the runs.

    Example:

    >>> [p.run_name for p in tutorial_runs("both", epochs=1)]
    ['regular', 'weightnorm']
    """
    _check_choice("model", model, MODEL_CHOICES)
    variants = {"regular": [False], "weightnorm": [True], "both": [False, True]}[model]
    return [ExperimentParams.from_dict({**params, "weight_norm": wn}) for wn in variants]


def notebook_runs(values: Mapping[str, Any]) -> list[ExperimentParams]:
    """The runs a labkit notebook's parameter values ask for; names it does not know are ignored.

    `model` picks the ConvNets (see `tutorial_runs`), `live` is checked against `LIVE_MODES`, and
    every `ExperimentParams` field is validated.

    Raises:
        ValueError: one line naming the parameter and what is allowed.

    Example:

    >>> [run.run_name for run in notebook_runs({"model": "both", "epochs": 3, "live": "off"})]
    ['regular', 'weightnorm']
    """
    fields = {f.name for f in dataclasses.fields(ExperimentParams)} - {"weight_norm", "run_name"}
    known = {name: value for name, value in values.items() if name in fields}
    if "live" in values:
        _check_choice("live", values["live"], LIVE_MODES)
    return tutorial_runs(values.get("model", "both"), **known)


def validate_notebook_parameters(values: Mapping[str, Any]) -> None:
    """Checks the values of a labkit notebook's parameters; names it does not know are ignored.

    Raises:
        ValueError: one line naming the parameter and what is allowed.

    Example:

    >>> validate_notebook_parameters({"optimizer": "adam", "epochs": 3})
    """
    notebook_runs(values)


@dataclass
class RunResult:
    """What one run produced: its per-epoch history, timings, status and where it was saved."""

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
        values = self.history.get("val_accuracy")
        return max(values) if values else None

    def to_frame(self):
        """The history as a pandas DataFrame, one row per epoch.

        Example:

        >>> result.to_frame()[["epoch", "val_accuracy"]]
        """
        import pandas as pd

        preferred = [key for key in METRIC_ORDER if key in self.history]
        columns = preferred + sorted(set(self.history) - set(preferred))
        frame = pd.DataFrame(self.history, columns=columns)
        frame.insert(0, "epoch", range(1, len(frame) + 1))
        frame["seconds"] = self.epoch_seconds[: len(frame)]
        return frame

    def to_json(self) -> dict[str, Any]:
        return {
            "run_name": self.run_name,
            "status": self.status,
            "error": self.error,
            "params": self.params.to_dict(),
            "history": self.history,
            "epoch_seconds": self.epoch_seconds,
            "epochs_completed": self.epochs_completed,
            "best_val_accuracy": self.best_val_accuracy,
            "final_val_accuracy": self.final_val_accuracy,
            "duration_s": self.duration_s,
            "started_at": self.started_at,
            "versions": self.versions,
        }

    def save(self, folder: str | Path) -> Path:
        """Writes `metrics.json` and `history.csv` into `folder` (atomically) and returns it."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        _write_atomic(folder / "history.csv", self.to_frame().to_csv(index=False))
        _write_atomic(folder / "metrics.json", json.dumps(self.to_json(), indent=2) + "\n")
        self.path = folder
        return folder


def run_experiment(
    params: ExperimentParams | Mapping[str, Any],
    callbacks: Sequence = (),
    data: Dataset | None = None,
    verbose: int | str = 0,
) -> RunResult:
    """Trains one ConvNet as `params` describe and returns its `RunResult`.

    Seeds everything, loads the data (unless `data` is given), builds and compiles the
    model, runs the data-dependent init of a WeightNorm model on a training batch, then
    `fit`s with the test set as validation data. The history is recorded after every epoch
    and, when `params.output_dir` is set, written to `<output_dir>/<run_name>/` as it
    grows, so a run that is stopped (`model.stop_training`), interrupted or crashes keeps
    what it computed; an interruption or error is re-raised after saving.

    Args:
        params: An `ExperimentParams` or a mapping of its fields.
        callbacks: Extra Keras callbacks (e.g. `labkit.LivePlot`).
        data: A `Dataset` with one-hot labels to reuse instead of loading one.
        verbose: Passed to `fit`.

    Example:

    >>> result = run_experiment({"weight_norm": True, "epochs": 1, "train_limit": 2000})
    >>> result.to_frame()
    """
    import keras

    from labkit.models import build_convnet
    from labkit.recording import EpochRecorder
    from labkit.weightnorm import data_init

    if not isinstance(params, ExperimentParams):
        params = ExperimentParams.from_dict(params)
    keras.utils.set_random_seed(params.seed)
    if data is None:
        data = params.load_data()
    model = build_convnet(
        weight_norm=params.weight_norm,
        num_classes=data.num_classes,
        input_shape=data.input_shape,
        data_init=params.data_init,
    )
    optimizer = keras.optimizers.get(
        {"class_name": params.optimizer, "config": {"learning_rate": params.learning_rate}}
    )
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])

    result = RunResult(
        params=params,
        started_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        versions=library_versions(),
        model=model,
    )
    folder = Path(params.output_dir) / params.run_name if params.output_dir else None
    recorder = EpochRecorder(result, folder)
    start = time.perf_counter()
    try:
        if params.weight_norm and params.data_init:
            init_rng = np.random.default_rng(params.seed)
            size = min(DATA_INIT_EXAMPLES, len(data.x_train))
            data_init(model, data.x_train[init_rng.choice(len(data.x_train), size, replace=False)])
        model.fit(
            data.x_train,
            data.y_train,
            batch_size=params.batch_size,
            epochs=params.epochs,
            validation_data=(data.x_test, data.y_test),
            shuffle=True,
            callbacks=[recorder, *callbacks],
            verbose=verbose,
        )
        # A stop request (LivePlot's Stop button, EarlyStopping) ends the fit early, even in
        # its last epoch, which Keras still records as a whole epoch.
        stopped = model.stop_training or result.epochs_completed < params.epochs
        result.status = "stopped" if stopped else "completed"
    except KeyboardInterrupt:
        result.status = "interrupted"
        raise
    except Exception as error:
        result.status = "failed"
        result.error = f"{type(error).__name__}: {error}"
        raise
    finally:
        result.duration_s = round(time.perf_counter() - start, 3)
        if folder is not None:
            result.save(folder)
    return result


def run_experiments(
    runs: Sequence[ExperimentParams], callbacks: Sequence = (), data: Dataset | None = None
) -> dict[str, RunResult]:
    """Runs several experiments on the same data, one after the other; keyed by run name.

    The dataset is loaded once (from the first run's parameters) when `data` is not given.

    Example:

    >>> results = run_experiments(tutorial_runs("both", epochs=1, train_limit=2000))
    >>> results["weightnorm"].final_val_accuracy
    """
    if data is None and runs:
        data = runs[0].load_data()
    return {params.run_name: run_experiment(params, callbacks, data=data) for params in runs}


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries a run depends on."""
    import keras

    import labkit

    versions = {
        "python": platform.python_version(),
        "labkit": labkit.__version__,
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "numpy": np.__version__,
    }
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        versions["tensorflow"] = tf.__version__
    return versions


def _write_atomic(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _check(name: str, value, ok: bool, expected: str) -> None:
    if not ok:
        raise ValueError(
            f"Invalid value for `{name}`: expected {expected}. Received: `{name}={value!r}`"
        )


def _check_int(name: str, value, minimum: int) -> None:
    _check(name, value, _is_int(value) and value >= minimum, f"an integer >= {minimum}")


def _check_choice(name: str, value, choices: Sequence[str]) -> None:
    _check(name, value, value in choices, f"one of {_quoted(choices)}")
