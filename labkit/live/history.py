"""Metric history of one or more training runs, kept apart from how it is drawn.

Keras reports, after every training batch, the running mean of each metric over the epoch so
far; after every epoch, the epoch's metrics and the validation metrics. `MetricHistory` stores
them as points on one x-axis measured in epochs: batch `b` of epoch `e` (both 0-based, `steps`
batches per epoch) sits at `e + (b + 1) / steps`, and the end of epoch `e` at `e + 1`. Each
series keeps every point; `Series.points` downsamples for drawing.
"""

from __future__ import annotations

import itertools
import math
import time
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["MetricHistory", "RunHistory", "Series", "downsample"]

# Versions are drawn from one counter, so a restarted run's new series never repeats a version
# that a renderer has already drawn.
_VERSIONS = itertools.count(1)


def downsample(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Keeps at most about `max_points` evenly spaced points, always including the last one.

    The stride is a power of two, so the kept points stay the same while a series grows
    until the stride doubles: a live curve does not jitter as points arrive.

    Example:

    >>> x = np.arange(10_000.0)
    >>> len(downsample(x, x, 1000)[0])
    626
    """
    if max_points < 2:
        raise ValueError(f"`max_points` must be at least 2. Received: `max_points={max_points}`")
    if len(x) <= max_points:
        return x, y
    stride = 2 ** math.ceil(math.log2(len(x) / (max_points - 1)))
    keep = np.arange(0, len(x), stride)
    if keep[-1] != len(x) - 1:
        keep = np.append(keep, len(x) - 1)
    return x[keep], y[keep]


@dataclass
class Series:
    """One metric's points. `version` is unique across all series and changes on every append.

    Example:

    >>> series = Series()
    >>> series.append(0.5, 2.3)
    >>> series.points()
    (array([0.5]), array([2.3]))
    """

    x: array = field(default_factory=lambda: array("d"))
    y: array = field(default_factory=lambda: array("d"))
    version: int = field(default_factory=lambda: next(_VERSIONS))

    def append(self, x: float, y: float) -> None:
        """Adds one point."""
        self.x.append(x)
        self.y.append(y)
        self.version = next(_VERSIONS)

    def __len__(self) -> int:
        return len(self.x)

    def points(self, max_points: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The points as float arrays, downsampled to about `max_points` if given."""
        x = np.frombuffer(self.x, dtype=np.float64).copy()
        y = np.frombuffer(self.y, dtype=np.float64).copy()
        return downsample(x, y, max_points) if max_points else (x, y)


@dataclass
class RunHistory:
    """The series and progress of one run (one `fit`), e.g. the `"regular"` ConvNet.

    `series` maps a metric name (`"loss"`) to its per-batch training points and
    `"val_" + name` to its per-epoch validation points.

    Example:

    >>> run = history.runs["regular"]
    >>> run.best("val_accuracy"), run.eta
    (0.512, 41.3)
    """

    name: str
    metrics: tuple[str, ...]
    epochs: int | None = None
    steps: int | None = None
    epoch: int = 0
    batches_done: int = 0
    state: str = "running"
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    series: dict[str, Series] = field(default_factory=dict)

    def __post_init__(self):
        for metric in self.metrics:
            self.series.setdefault(metric, Series())
            self.series.setdefault(f"val_{metric}", Series())

    @property
    def elapsed(self) -> float:
        """Seconds since the run started (until it ended)."""
        return (self.ended or time.monotonic()) - self.started

    @property
    def fraction_done(self) -> float | None:
        """Share of all training batches done, or `None` when the length is unknown."""
        if not self.epochs or not self.steps:
            return None
        return min(1.0, (self.epoch * self.steps + self.batches_done) / (self.epochs * self.steps))

    @property
    def eta(self) -> float | None:
        """Seconds left, extrapolated from the time per batch so far (validation included)."""
        done = self.fraction_done
        if self.state != "running" or not done:
            return None
        return self.elapsed * (1 - done) / done

    def best(self, metric: str) -> float | None:
        """Best value of a validation series: highest for accuracies, lowest otherwise.

        NaN values (a diverged epoch) are never the best; `None` when there is no other.
        """
        series = self.series.get(metric)
        if series is None:
            return None
        _, values = series.points()
        values = values[~np.isnan(values)]
        if not values.size:
            return None
        return float(values.max() if "acc" in metric else values.min())


class MetricHistory:
    """Collects per-batch and per-epoch metrics of several runs for live plots.

    Args:
        metrics: Metric names to keep (Keras log keys, without the `val_` prefix).

    Example:

    >>> history = MetricHistory(("loss", "accuracy"))
    >>> history.start_run("regular", epochs=2, steps=100)
    >>> history.add_batch("regular", epoch=0, batch=49, logs={"loss": 2.1, "accuracy": 0.2})
    0.5
    >>> history.runs["regular"].series["loss"].points()
    (array([0.5]), array([2.1]))
    """

    def __init__(self, metrics: Sequence[str] = ("loss", "accuracy")):
        if isinstance(metrics, str) or not metrics:
            raise ValueError(
                f"`metrics` must be a non-empty sequence of names. Received: `metrics={metrics!r}`"
            )
        self.metrics = tuple(metrics)
        self.runs: dict[str, RunHistory] = {}
        self._version = 0

    @property
    def version(self) -> int:
        """Changes whenever anything is recorded; renderers compare it to skip idle redraws."""
        return self._version

    def _touch(self) -> None:
        self._version = next(_VERSIONS)

    def start_run(self, name: str, epochs: int | None = None, steps: int | None = None) -> None:
        """Begins the run called `name`; one of the same name restarts in place, points dropped."""
        self.runs[name] = RunHistory(name=name, metrics=self.metrics, epochs=epochs, steps=steps)
        self._touch()

    def add_batch(self, name: str, epoch: int, batch: int, logs: Mapping[str, float]) -> float:
        """Records the running means after batch `batch` of `epoch`; returns its x (epochs)."""
        run = self.runs[name]
        run.epoch, run.batches_done = epoch, batch + 1
        x = epoch + (batch + 1) / run.steps if run.steps else float(epoch)
        for metric in self.metrics:
            value = logs.get(metric)
            if value is not None:
                run.series[metric].append(x, float(value))
        self._touch()
        return x

    def add_epoch(self, name: str, epoch: int, logs: Mapping[str, float]) -> float:
        """Records the validation metrics of `epoch`; returns its x.

        A run stopped part-way through an epoch gets its validation point where it stopped.
        """
        run = self.runs[name]
        partial = run.epoch == epoch and run.steps and 0 < run.batches_done < run.steps
        x = epoch + run.batches_done / run.steps if partial else float(epoch + 1)
        for metric in self.metrics:
            value = logs.get(f"val_{metric}")
            if value is not None:
                run.series[f"val_{metric}"].append(x, float(value))
        run.epoch, run.batches_done = epoch + 1, 0
        self._touch()
        return x

    def end_run(self, name: str, stopped: bool = False) -> None:
        """Marks the run `"completed"`, or `"stopped"` when it ended early."""
        run = self.runs[name]
        run.state = "stopped" if stopped else "completed"
        run.ended = time.monotonic()
        self._touch()
