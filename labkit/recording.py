"""The callback that records a run's history as it trains."""

from __future__ import annotations

import time
from pathlib import Path

import keras

from labkit.results import RunResult

__all__ = ["EpochRecorder"]


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
