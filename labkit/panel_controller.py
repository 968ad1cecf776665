"""What the slider panel does, without its widgets: train runs in the background, stop, cache data.

`PanelController` trains runs one after the other in a background thread, so that a notebook
kernel keeps handling widget messages (the Stop button) while `fit` runs; every run draws into
one `LivePlot`. There is one stop signal, the `LivePlot`'s: Stop ends the current run after its
current batch (with `steps_per_execution > 1`: the current call's batches, Keras checks for a
stop once per call), keeps its history, and no later run starts. The loaded dataset is kept while
the parameters that decide it (`labkit.params.DATA_FIELDS`) stay the same. `labkit.controls`
puts widgets on it; this module needs no ipywidgets.

Example:

>>> controller = PanelController(LivePlot(mode="off"))
>>> controller.train(notebook_runs({"epochs": 2, "train_limit": 2000}), wait=True)
>>> controller.results["weightnorm"].status
'completed'
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from labkit.data import Dataset
from labkit.experiment import run_experiment
from labkit.live import LivePlot
from labkit.params import DATA_FIELDS, ExperimentParams
from labkit.results import RunResult

__all__ = ["PanelController", "data_key"]


def data_key(values: Mapping[str, Any]) -> tuple:
    """What decides the dataset that parameter values load (empty values count as `None`).

    Example:

    >>> data_key({"dataset": "cifar10", "train_limit": 0, "seed": 1})
    ('cifar10', None, None, 1, None)
    """
    return tuple(values.get(name) or None for name in DATA_FIELDS)


class PanelController:
    """Trains runs in a background thread into a `LivePlot`; Stop ends them cleanly.

    Args:
        live: The `LivePlot` every run draws into; its `stop_event` is the stop signal.
        on_message: Called with `(message, is_error)` whenever the status message changes.
        on_busy: Called with `True` when training starts and `False` when it ends.

    Attributes:
        results: The `RunResult` of each run of the last `train`, by run name; a stopped run
            is kept with `status="stopped"`.
        message: The last status message (plain text).
        error: Whether `message` reports an error.

    Example:

    >>> controller = PanelController(LivePlot(mode="static"), on_message=print)
    >>> controller.train(tutorial_runs("both", epochs=50, train_limit=2000))
    >>> controller.stop(); controller.join()
    """

    def __init__(
        self,
        live: LivePlot,
        on_message: Callable[[str, bool], None] | None = None,
        on_busy: Callable[[bool], None] | None = None,
    ):
        self.live = live
        self.results: dict[str, RunResult] = {}
        self.message = ""
        self.error = False
        self._on_message = on_message
        self._on_busy = on_busy
        self._data: dict[tuple, Dataset] = {}
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether a background training is in progress."""
        return self._thread is not None and self._thread.is_alive()

    def keep_data(self, values: Mapping[str, Any], data: Dataset) -> None:
        """Remembers `data` as what `values` load, so that training with them loads nothing.

        Example:

        >>> controller.keep_data({"dataset": "cifar10", "train_limit": 2000}, data)
        """
        self._data = {data_key(values): data}

    def train(self, runs: Sequence[ExperimentParams], wait: bool = False) -> None:
        """Trains `runs` one after the other: in a background thread, or here if `wait`.

        Example:

        >>> controller.train(tutorial_runs("both", epochs=2))  # returns at once
        """
        if self.running:
            self.say("Training is already running: press Stop first.", error=True)
            return
        self.live.stop_event.clear()
        self.results = {}
        self._busy(True)
        if wait:
            self._train(runs)
        else:
            self._thread = threading.Thread(
                target=self._train, args=(runs,), name="labkit-panel-training", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Ends the running training after the current batch; later runs do not start.

        Example:

        >>> controller.stop(); controller.join()
        >>> controller.results["regular"].status
        'stopped'
        """
        if not self.running:
            return
        self.live.stop()
        self.say("Stopping after the current batch (or call of steps_per_execution batches)…")

    def join(self, timeout: float | None = None) -> None:
        """Waits for a background training to end.

        Example:

        >>> controller.join(timeout=600)
        """
        if self._thread is not None:
            self._thread.join(timeout)

    def say(self, message: str, error: bool = False) -> None:
        """Sets the status message and tells `on_message`.

        Example:

        >>> controller.say("Invalid value for `epochs`.", error=True)
        """
        self.message, self.error = message, error
        if self._on_message is not None:
            self._on_message(message, error)

    def _train(self, runs: Sequence[ExperimentParams]) -> None:
        stopped = False
        try:
            self.say("Loading data…")
            data = self._load(runs[0])
            for params in runs:
                # A stop pressed between two runs has no fit to end: it ends the session here.
                stopped = self.live.stop_event.is_set()
                if stopped:
                    self.live.stop_event.clear()
                    break
                self.say(f"Training {self.live.spec.label(params.run_name)}…")
                result = run_experiment(params, callbacks=[self.live], data=data)
                self.results[params.run_name] = result
                stopped = self._ended_by_stop(result)
                if stopped:
                    break
            self.say(_summary(self.results, stopped))
        except Exception as error:
            self.say(f"{type(error).__name__}: {error}", error=True)
        finally:
            self._busy(False)

    def _ended_by_stop(self, result: RunResult) -> bool:
        # The LivePlot consumes its stop signal when the fit ends and records it in the run:
        # that also catches a stop pressed after the last batch, which stops no batch.
        run = self.live.last_run
        return result.status == "stopped" or (run is not None and run.state == "stopped")

    def _load(self, params: ExperimentParams) -> Dataset:
        key = data_key(params.to_dict())
        if key not in self._data:
            self._data = {key: params.load_data()}
        return self._data[key]

    def _busy(self, busy: bool) -> None:
        if self._on_busy is not None:
            self._on_busy(busy)


def _summary(results: Mapping[str, RunResult], stopped: bool) -> str:
    parts = [
        f"{name}: {result.status}, {result.epochs_completed} epochs, best val_accuracy "
        f"{result.best_val_accuracy:.4f}"
        if result.best_val_accuracy is not None
        else f"{name}: {result.status}"
        for name, result in results.items()
    ]
    prefix = "Stopped. " if stopped else "Done. "
    return prefix + "; ".join(parts)
