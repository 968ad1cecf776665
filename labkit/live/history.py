"""Metric history of one or more training runs, kept apart from how it is drawn.

Keras reports, after every training batch (with `steps_per_execution`, after every execution),
the running mean of each metric over the epoch so far; after every epoch, the validation
metrics. `MetricHistory` recovers from the running means each step's own values
(`labkit.running_means`: each execution's mean with `steps_per_execution > 1`) and keeps both:
a training series holds the per-step values, and Keras' running means beside them
(`Series.column("running_mean")`). Points sit on an x-axis measured in epochs: batch `b` of
epoch `e` (both 0-based, `steps` batches per epoch) at `e + (b + 1) / steps`, the end of epoch
`e` at `e + 1`. Every point also keeps the optimizer steps done and the seconds since the run
started, so a figure can draw the same series against steps or time (`X_AXES`); each run
remembers where its epochs ended (`RunHistory.epoch_ends`). Other series (the learning rate,
weight-norm diagnostics) are recorded with `MetricHistory.add_point` where the run stands.
Each series keeps every point; `downsample` and `bucket_means` thin them for drawing.
"""

from __future__ import annotations

import itertools
import math
import time
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from labkit._checks import check_int
from labkit.running_means import StepValues

__all__ = [
    "MetricHistory",
    "RunHistory",
    "Series",
    "downsample",
    "downsample_indices",
    "bucket_means",
    "X_AXES",
]

# What a series can be drawn against: epochs (fractional), optimizer steps, seconds of training.
X_AXES = ("epochs", "steps", "seconds")

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
    keep = downsample_indices(len(x), max_points)
    return (x, y) if len(keep) == len(x) else (x[keep], y[keep])


def downsample_indices(length: int, max_points: int) -> np.ndarray:
    """The indices `downsample` keeps of `length` points (all of them when they fit).

    Example:

    >>> downsample_indices(10, 4).tolist()
    [0, 4, 8, 9]
    """
    check_int("max_points", max_points, minimum=2)
    if length <= max_points:
        return np.arange(length)
    stride = 2 ** math.ceil(math.log2(length / (max_points - 1)))
    keep = np.arange(0, length, stride)
    return keep if keep[-1] == length - 1 else np.append(keep, length - 1)


def bucket_means(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Like `downsample`, but each kept point's value is the mean of the points it stands for.

    Point `k` kept stands for itself and the points after the previous kept one: no value is
    dropped, so a noisy per-step curve keeps its level instead of showing a sample of its
    noise. A NaN (a diverged step) makes its bucket NaN.

    Example:

    >>> x = np.arange(8.0)
    >>> [values.tolist() for values in bucket_means(x, x, 4)]
    [[0.0, 4.0, 7.0], [0.0, 2.5, 6.0]]
    """
    keep = downsample_indices(len(x), max_points)
    if len(keep) == len(x):
        return x, y
    starts = np.concatenate([[0], keep[:-1] + 1])
    sizes = np.diff(np.append(starts, len(y)))
    return x[keep], np.add.reduceat(y, starts) / sizes


@dataclass
class Series:
    """One metric's points. `version` is unique across all series and changes on every append.

    `x` is in epochs; `steps` and `seconds` hold where each point lies on the other `X_AXES`
    (NaN where not given); a training series also keeps Keras' `running_mean` at each point.

    Example:

    >>> series = Series()
    >>> series.append(0.5, 2.3, step=50, seconds=4.2)
    >>> series.points()
    (array([0.5]), array([2.3]))
    >>> series.points(axis="steps")
    (array([50.]), array([2.3]))
    """

    x: array = field(default_factory=lambda: array("d"))
    y: array = field(default_factory=lambda: array("d"))
    steps: array = field(default_factory=lambda: array("d"))
    seconds: array = field(default_factory=lambda: array("d"))
    running_mean: array = field(default_factory=lambda: array("d"))
    version: int = field(default_factory=lambda: next(_VERSIONS))

    def append(
        self,
        x: float,
        y: float,
        step: float = math.nan,
        seconds: float = math.nan,
        running_mean: float = math.nan,
    ) -> None:
        """Adds one point at `x` epochs, `step` optimizer steps and `seconds` of training."""
        self.x.append(x)
        self.y.append(y)
        self.steps.append(step)
        self.seconds.append(seconds)
        self.running_mean.append(running_mean)
        self.version = next(_VERSIONS)

    def __len__(self) -> int:
        return len(self.x)

    def column(self, name: str) -> np.ndarray:
        """One column as a float array (a copy): `"y"`, `"running_mean"` or one of `X_AXES`.

        Example:

        >>> series.column("seconds")
        array([4.2])
        """
        values = {
            "epochs": self.x,
            "y": self.y,
            "steps": self.steps,
            "seconds": self.seconds,
            "running_mean": self.running_mean,
        }
        return np.array(values[name], dtype=np.float64)

    def points(
        self, max_points: int | None = None, axis: str = "epochs"
    ) -> tuple[np.ndarray, np.ndarray]:
        """The points on `axis` as float arrays, downsampled to about `max_points` if given."""
        x, y = self.column(axis), self.column("y")
        return downsample(x, y, max_points) if max_points else (x, y)


@dataclass
class RunHistory:
    """The series and progress of one run (one `fit`), e.g. the `"regular"` ConvNet.

    `series` maps a metric name (`"loss"`) to its per-step training points and
    `"val_" + name` to its per-epoch validation points; `epoch_ends` holds where each epoch's
    training ended (its `y` unused).

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
    step: int = 0
    state: str = "running"
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    series: dict[str, Series] = field(default_factory=dict)
    epoch_ends: Series = field(default_factory=Series)
    # The epoch whose batches are being recorded, the steps done before it, the seconds at its
    # last batch, and the per-step values recovered from its running means.
    _recording: int | None = field(default=None, repr=False)
    _epoch_start_step: int = field(default=0, repr=False)
    _last_seconds: float = field(default=math.nan, repr=False)
    _values: StepValues = field(default_factory=StepValues, repr=False)

    def __post_init__(self):
        for metric in self.metrics:
            self.series.setdefault(metric, Series())
            self.series.setdefault(f"val_{metric}", Series())

    @property
    def position(self) -> tuple[float, int]:
        """Where the run stands: `(epochs, steps)` done, epochs counted fractionally."""
        if self.steps and self.batches_done > 0:
            return self.epoch + self.batches_done / self.steps, self.step
        return float(self.epoch), self.step

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
    """Collects per-step and per-epoch metrics of several runs for live plots.

    Args:
        metrics: Metric names to keep (Keras log keys, without the `val_` prefix).

    Example:

    >>> history = MetricHistory(("loss", "accuracy"))
    >>> history.start_run("regular", epochs=2, steps=100)
    >>> history.add_batch("regular", epoch=0, batch=0, logs={"loss": 2.1, "accuracy": 0.2})
    0.01
    >>> history.add_batch("regular", epoch=0, batch=1, logs={"loss": 2.0, "accuracy": 0.2})
    0.02
    >>> history.runs["regular"].series["loss"].points()  # each batch's own loss
    (array([0.01, 0.02]), array([2.1, 1.9]))
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

    def add_batch(
        self,
        name: str,
        epoch: int,
        batch: int,
        logs: Mapping[str, float],
        at: float | None = None,
        seen: float | None = None,
    ) -> float:
        """Records Keras' running means after batch `batch` of `epoch`; returns its x (epochs).

        Each metric's series gets the value of the batches since the previous call (one batch,
        or one execution with `steps_per_execution`), recovered from the running means, which
        it keeps beside it. `batch` is the last batch done; a `batch` past the epoch's end
        (Keras counts whole executions) is taken as its last. `seen` is how many examples the
        running means average (`labkit.running_means.EpochExamples`); without it they are
        weighted by batches. `at` is when the batch ended (`time.monotonic()`), if not now:
        `LivePlot` records the batches of a redraw interval together, just before drawing them.
        """
        run = self.runs[name]
        if run.steps:
            batch = min(batch, run.steps - 1)
        if run._recording != epoch:
            run._recording, run._epoch_start_step = epoch, run.step
            run._values.start_epoch()
        run.epoch, run.batches_done = epoch, batch + 1
        run.step = run._epoch_start_step + batch + 1
        x = epoch + (batch + 1) / run.steps if run.steps else float(epoch)
        seconds = run.elapsed if at is None else at - run.started
        run._last_seconds = seconds
        means = {metric: logs[metric] for metric in self.metrics if logs.get(metric) is not None}
        values, _ = run._values.after(means, batch + 1 if seen is None else seen)
        for metric, value in values.items():
            run.series[metric].append(x, value, run.step, seconds, float(means[metric]))
        self._touch()
        return x

    def add_epoch(self, name: str, epoch: int, logs: Mapping[str, float]) -> float:
        """Records the validation metrics of `epoch`; returns its x.

        A run stopped part-way through an epoch gets its validation point where it stopped.
        """
        run = self.runs[name]
        partial = run.epoch == epoch and run.steps and 0 < run.batches_done < run.steps
        x = epoch + run.batches_done / run.steps if partial else float(epoch + 1)
        seconds = run.elapsed
        for metric in self.metrics:
            value = logs.get(f"val_{metric}")
            if value is not None:
                run.series[f"val_{metric}"].append(x, float(value), run.step, seconds)
        if run._recording == epoch:
            run.epoch_ends.append(x, math.nan, run.step, run._last_seconds)
        run.epoch, run.batches_done = epoch + 1, 0
        self._touch()
        return x

    def add_point(self, name: str, series: str, value: float) -> None:
        """Records `value` in the run's `series` (made if new) where the run stands now.

        Example:

        >>> history.add_point("regular", "learning_rate", 0.001)
        """
        run = self.runs[name]
        x, step = run.position
        run.series.setdefault(series, Series()).append(x, float(value), step, run.elapsed)
        self._touch()

    def add_series(self, name: str, series: str) -> None:
        """Adds an empty series to a run, so that renderers know of it before its first point.

        Example:

        >>> history.add_series("weightnorm", "wn/dense/v_norm")
        """
        self.runs[name].series.setdefault(series, Series())
        self._touch()

    def end_run(self, name: str, stopped: bool = False) -> None:
        """Marks the run `"completed"`, or `"stopped"` when it ended early."""
        run = self.runs[name]
        run.state = "stopped" if stopped else "completed"
        run.ended = time.monotonic()
        self._touch()
