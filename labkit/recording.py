"""The callbacks that record a run's history as it trains: per epoch, and every few steps."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import keras

from labkit._checks import check_int
from labkit.results import RunResult

__all__ = ["EpochRecorder", "StepRecorder", "STEP_LOSS_EVERY", "recorded_outcome"]

# Optimizer steps between two records of `StepRecorder` in `run_experiment`.
STEP_LOSS_EVERY = 10


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
    """Records the training loss every `every` optimizer steps in `result.steps`.

    Each record holds `step` (optimizer steps done), `loss` (the mean training loss over the
    examples of the steps since the previous record) and `seconds` (since training began); a
    last, shorter stretch is recorded when training ends. Keras reports after each batch the
    running mean of the loss over the epoch so far, weighted by batch size; the recorder
    recovers each stretch's own mean from it, so the values do not lag like the running mean.

    Args:
        result: The run's result; its `steps` receives the records.
        every: Optimizer steps between two records (at least 1).
        batch_size: Examples per step (the last batch of an epoch may hold fewer).
        examples: Training examples per epoch.

    Example:

    >>> recorder = StepRecorder(result, every=10, batch_size=32, examples=len(x))
    >>> model.fit(x, y, batch_size=32, callbacks=[recorder])
    >>> result.steps["step"][:3], result.steps["loss"][:3]
    """

    def __init__(self, result: RunResult, every: int, batch_size: int, examples: int):
        super().__init__()
        check_int("every", every, minimum=1)
        check_int("batch_size", batch_size, minimum=1)
        check_int("examples", examples, minimum=1)
        self.result = result
        self.every = every
        self.batch_size = batch_size
        self.examples = examples
        self._start = time.perf_counter()
        self._step = 0  # optimizer steps done
        self._epoch_start = 0  # steps done before this epoch
        self._stretch = [0.0, 0]  # summed loss x examples, examples, since the last record
        self._epoch = [0.0, 0]  # the same since the epoch began (Keras' running mean x count)

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = [0.0, 0]
        self._epoch_start = self._step

    def on_train_batch_end(self, batch, logs=None):
        if not logs or "loss" not in logs:
            return
        # `batch` is the epoch's last step done (several per call with `steps_per_execution`).
        seen = min((batch + 1) * self.batch_size, self.examples)
        total = float(logs["loss"]) * seen
        self._stretch[0] += total - self._epoch[0]
        self._stretch[1] += seen - self._epoch[1]
        self._epoch = [total, seen]
        step, self._step = self._step, self._epoch_start + batch + 1
        if self._step // self.every > step // self.every:
            self._record()

    def on_train_end(self, logs=None):
        if self._stretch[1]:
            self._record()

    def _record(self) -> None:
        total, count = self._stretch
        record = {
            "step": self._step,
            "loss": total / count,
            "seconds": round(time.perf_counter() - self._start, 3),
        }
        for key, value in record.items():
            self.result.steps.setdefault(key, []).append(value)
        self._stretch = [0.0, 0]


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
