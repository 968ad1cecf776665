"""The callbacks that record a run's history as it trains: per epoch, and per step."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

from labkit._checks import check_int
from labkit._io import utc_now
from labkit.results import RunResult, library_versions
from labkit.running_means import EpochExamples, StepValues

__all__ = [
    "EpochRecorder",
    "StepRecorder",
    "STEP_EVERY",
    "Recording",
    "start_recording",
    "recorded_outcome",
]

# Optimizer steps between two records of `StepRecorder` in `run_experiment`: every step.
STEP_EVERY = 1


class EpochRecorder(keras.callbacks.Callback):
    """Appends each epoch's logs and duration to a `RunResult`, saving it to `folder` if set.

    Saving after every epoch means a run that is killed or crashes keeps what it computed.

    Example:

    >>> model.fit(x, y, callbacks=[EpochRecorder(result, Path("runs/demo"))])
    """

    def __init__(self, result: RunResult, folder: Path | None = None):
        super().__init__()
        self.result = result
        self.folder = folder
        self._epoch_start = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.result.history.setdefault(key, []).append(float(value))
        self.result.epoch_seconds.append(round(time.perf_counter() - self._epoch_start, 3))
        if self.folder is not None:
            self.result.save(self.folder)


class StepRecorder(keras.callbacks.Callback):
    """Records each training step's own loss and accuracy in `result.steps` (`metrics.json`).

    Keras reports after each batch the running mean of every metric over the epoch so far; the
    recorder recovers from them, exactly, the values of the steps themselves
    (`labkit.running_means`), so they neither lag nor restart at each epoch. Every `every`
    optimizer steps it records `step` (the steps done), each of `metrics` (its mean over the
    examples of the steps since the previous record; with `every=1` each step's own value) and
    `seconds` (since training began); a last, shorter stretch is recorded when training ends.

    With `steps_per_execution=k` Keras reports once per execution of `k` steps: the records
    then fall at execution boundaries and hold each execution's mean.

    Args:
        result: The run's result; its `steps` receives the records.
        every: Optimizer steps between two records (at least 1).
        batch_size: Examples per step (the last batch of an epoch may hold fewer); `None`
            reads it from the model while it trains.
        examples: Training examples per epoch, or `None` to read it likewise.
        metrics: The training metrics to record (those Keras reports).

    Example:

    >>> recorder = StepRecorder(result, every=1, batch_size=32, examples=len(x))
    >>> model.fit(x, y, batch_size=32, callbacks=[recorder])
    >>> result.steps["step"][:3], result.steps["loss"][:3]
    """

    def __init__(
        self,
        result: RunResult,
        every: int = 1,
        batch_size: int | None = None,
        examples: int | None = None,
        metrics: Sequence[str] = ("loss", "accuracy"),
    ):
        super().__init__()
        check_int("every", every, minimum=1)
        for name, value in (("batch_size", batch_size), ("examples", examples)):
            if value is not None:
                check_int(name, value, minimum=1)
        self.result = result
        self.every = every
        self.metrics = tuple(metrics)
        self._examples = EpochExamples(batch_size, examples)
        self._values = StepValues()
        self._start = time.perf_counter()
        self._step = 0  # optimizer steps done
        self._epoch_start = 0  # steps done before this epoch
        # Each metric's sum over the examples since the last record, and those examples.
        self._stretch: dict[str, float] = {}
        self._count = 0.0

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()
        self._examples.start_fit()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = self._step
        self._examples.start_epoch()
        self._values.start_epoch()

    def on_train_batch_end(self, batch, logs=None):
        means = {name: logs[name] for name in self.metrics if name in (logs or {})}
        if not means:
            return
        # `batch` is the execution's last step; Keras counts past the epoch's end when the
        # epoch's steps are not a multiple of `steps_per_execution`.
        steps = self.params.get("steps") if self.params else None
        batch = min(batch, steps - 1) if steps else batch
        seen = self._examples.seen(self.model, batch, steps)
        values, count = self._values.after(means, seen)
        for name, value in values.items():
            self._stretch[name] = self._stretch.get(name, 0.0) + value * count
        self._count += count
        step, self._step = self._step, self._epoch_start + batch + 1
        if self._step // self.every > step // self.every:
            self._record()

    def on_train_end(self, logs=None):
        if self._count:
            self._record()

    def _record(self) -> None:
        record = {"step": self._step}
        record.update({name: total / self._count for name, total in self._stretch.items()})
        record["seconds"] = round(time.perf_counter() - self._start, 3)
        for key, value in record.items():
            self.result.steps.setdefault(key, []).append(value)
        self._stretch, self._count = {}, 0.0


@contextlib.contextmanager
def recorded_outcome(result: RunResult, folder: Path | None, epochs: int) -> Iterator[None]:
    """Records how the training inside the block ends, and saves the run whatever happens.

    A block that returns leaves the run `"completed"`, or `"stopped"` if fewer than `epochs`
    epochs were recorded or the model was asked to stop (`model.stop_training`: LivePlot's
    Stop button, `EarlyStopping`; Keras records such a last epoch whole). An interruption
    leaves it `"interrupted"` and an error `"failed"` (with `"Type: message"` in
    `result.error`); both are re-raised. In every case `result.duration_s` is set and, when
    `folder` is set, the run is written there, so nothing computed is lost.

    Example:

    >>> with recorded_outcome(result, Path("runs/demo/regular"), epochs=10):
    ...     model.fit(x, y, epochs=10, callbacks=[EpochRecorder(result)])
    """
    start = time.perf_counter()
    try:
        yield
        stop_requested = result.model is not None and result.model.stop_training
        stopped = stop_requested or result.epochs_completed < epochs
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


@dataclass
class Recording:
    """A new run's `RunResult`, the folder it is saved to, and the two recorders that fill it."""

    result: RunResult
    folder: Path | None
    steps: StepRecorder
    epochs: EpochRecorder

    def callbacks(self, others: Sequence = ()) -> list:
        """The callbacks for `fit`: the step recorder, `others`, then the epoch recorder, last so
        that it also records what `others` add to an epoch's logs (Keras' LR schedulers add
        `learning_rate`, LivePlot's diagnostics `wn/...`)."""
        return [self.steps, *others, self.epochs]


def start_recording(params: Any, model, compiled: dict, examples: int) -> Recording:
    """A `Recording` of a run of `params` (any labkit run's parameters: `output_dir`,
    `run_name`, `batch_size`) that trains `model`, compiled with `compiled`, on `examples`
    training examples per epoch.

    Example:

    >>> recording = start_recording(params, model, {"jit_compile": False}, len(x_train))
    >>> with recorded_outcome(recording.result, recording.folder, epochs=10):
    ...     model.fit(x_train, y_train, epochs=10, callbacks=recording.callbacks())
    """
    result = RunResult(
        params=params,
        started_at=utc_now(),
        versions=library_versions(),
        model=model,
        compiled=compiled,
    )
    folder = Path(params.output_dir) / params.run_name if params.output_dir else None
    steps = StepRecorder(result, STEP_EVERY, params.batch_size, examples)
    return Recording(result, folder, steps, EpochRecorder(result, folder))
