"""`LivePlot`: a Keras callback that streams training metrics into a live plotly figure."""

from __future__ import annotations

import math
import os
import statistics
import threading
import time
import warnings
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras

from labkit.live.diagnostics import DEFAULT_EVERY, WeightNormProbe
from labkit.live.environment import resolve_mode, widget_problem
from labkit.live.figure import DEFAULT_SMOOTHING, LEARNING_RATE, FigureSpec
from labkit.live.history import MetricHistory, RunHistory
from labkit.live.learning_rate import current_learning_rate
from labkit.live.renderers import Renderer, make_renderer
from labkit.plotting.export import save_figure, write_html
from labkit.running_means import EpochExamples

__all__ = ["LivePlot", "current_learning_rate"]

# Least seconds between two reads of the learning rate while training (besides epoch ends).
_LEARNING_RATE_INTERVAL = 1.0
# Most of the training time that redraws during a fit may take (see `_next_draw_after`).
_DRAW_SHARE = 0.005
# Redraws whose median duration (the lower middle one) stands for the cost of each: one slow
# redraw (a run's first, which adds its traces) does not hold the figure still for seconds.
_DRAW_COSTS = 5


class LivePlot(keras.callbacks.Callback):
    """Plots loss and accuracy live while `fit` runs: per step, per epoch, several runs at once.

    Training metrics are drawn per step: each batch's own loss and accuracy, recovered exactly
    from the running means over the epoch that Keras reports (`labkit.running_means`; with
    `steps_per_execution > 1`, each execution's mean, at the execution's last step). As in
    TensorBoard, they are smoothed (`smoothing`, the raw values faint behind) and run on
    across epochs, whose ends are marked lightly; `train_values="running_mean"` draws Keras'
    own running means instead. Validation metrics are drawn after every epoch. Each `fit` is
    one run, named by
    `label` or else by the model's name (`"regular"` and `"weightnorm"` for
    `labkit.build_convnet`), and keeps its colour; fitting a run of the same name again
    replaces its curves. Train curves are solid, validation curves dashed; a learning rate that
    changes (schedules, `ReduceLROnPlateau`) is drawn dotted on its own log axis. The title
    shows epoch, batch, elapsed time, ETA and the best validation accuracy so far.

    Where the figure goes depends on `mode` (see `labkit.live.environment`): a `FigureWidget`
    updated in place, a static figure re-displayed, or one static figure when each `fit` ends
    (headless runs: papermill, nbclient, scripts). Where a `FigureWidget` cannot render (its
    front end is missing), the widget mode draws the re-displayed figure instead, below a
    one-line hint. Updates are throttled to `update_interval`.

    In widget mode a toolbar above the figure sets the smoothing, a linear or log loss axis,
    the x-axis and per-step values or running means, acting at once on the curves drawn so far
    (`set_view` does the same from code), and exports the figure (`save`). The other modes
    take the same options as arguments.

    With `diagnostics=True`, every weight-normalized layer's mean `‖v‖`, mean `g` and
    effective step (`labkit.live.diagnostics`) are measured every `diagnostics_every` steps
    (at the first execution boundary after, with `steps_per_execution > 1`) and drawn as a
    second row, a colour per layer; at each epoch's end they are also added to Keras' logs as
    `wn/<layer>/<quantity>` (so `labkit.run_experiment` writes them to `history.csv` and
    `metrics.json`).

    Args:
        mode: `"auto"` (default), `"widget"`, `"display"`, `"static"` or `"off"`.
        metrics: Keras log names to plot, one subplot each.
        label: Run name to use instead of the model's name.
        log_y: Logarithmic y-axis for losses.
        smoothing: Weight of the debiased exponential moving average drawn over the per-step
            training curves, in [0, 0.99] (0: raw; 0.6, TensorBoard's default, by default);
            the raw curve stays faint behind.
        x_axis: `"epochs"` (default), `"steps"` or `"seconds"`.
        train_values: `"per_step"` (default) or `"running_mean"` (Keras' numbers).
        learning_rate: Draw the learning rate of runs where it changes.
        diagnostics: Measure and draw the weight-norm diagnostics.
        diagnostics_every: Optimizer steps between two diagnostic measurements.
        controls: Show the toolbar above the widget (widget mode).
        update_interval: Least seconds between redraws. By default the renderer's (0.3 s
            for the widget, 1 s for the display handle), lengthened where redraws are slow
            so that they take at most 0.5% of the training time.
        max_points: Points drawn per curve at most; longer histories are downsampled.
        title: First line of the figure title.
        html_path: Static mode: also write the figure to this standalone HTML file.
        show: Show the figure when training starts (`False` when embedding `plot.widget`
            in a container).
        display: Deprecated name of `show` (it read like `mode="display"`); it still works,
            with a `DeprecationWarning`.

    Example:

    >>> plot = LivePlot(log_y=True, smoothing=0.9, diagnostics=True)
    >>> model.fit(x, y, validation_data=(x_val, y_val), epochs=10, callbacks=[plot])
    >>> plot.stop()  # from another thread: ends the fit after the current batch
    >>> plot.save("runs/live.png")
    """

    def __init__(
        self,
        mode: str | None = "auto",
        metrics: Sequence[str] = ("loss", "accuracy"),
        label: str | None = None,
        log_y: bool = False,
        smoothing: float = DEFAULT_SMOOTHING,
        x_axis: str = "epochs",
        train_values: str = "per_step",
        learning_rate: bool = True,
        diagnostics: bool = False,
        diagnostics_every: int = DEFAULT_EVERY,
        controls: bool = True,
        update_interval: float | None = None,
        max_points: int = 600,
        title: str = "Training, live",
        html_path: str | os.PathLike | None = None,
        show: bool = True,
        display: bool | None = None,
    ):
        super().__init__()
        if display is not None:
            warnings.warn(
                "`LivePlot(display=...)` is deprecated: use `show=...` (`display` also names "
                f"a `mode`). Received: `display={display!r}`",
                DeprecationWarning,
                stacklevel=2,
            )
            show = display
        self.mode = resolve_mode(mode)
        if update_interval is not None and not update_interval >= 0:
            raise ValueError(
                "`update_interval` must be a number of seconds >= 0. "
                f"Received: `update_interval={update_interval!r}`"
            )
        self._history = MetricHistory(metrics)
        # Batches ended but not yet in `_history`: appending here is all `on_train_batch_end`
        # does until a redraw is due (thread-safe: `deque.append` and `popleft` are atomic).
        self._pending: deque = deque()
        self.spec = FigureSpec(
            title=title,
            log_y=log_y,
            max_points=max_points,
            smoothing=smoothing,
            x_axis=x_axis,
            train_values=train_values,
            diagnostics=diagnostics,
            learning_rate=learning_rate,
        )
        self.probe = WeightNormProbe(diagnostics_every) if diagnostics else None
        self.label = label
        self.stop_event = threading.Event()
        # Held while the history changes or is drawn: the panel trains in a thread while the
        # toolbar redraws from the kernel's main thread.
        self.lock = threading.RLock()
        self.hint: str | None = None
        if self.mode == "widget" and (problem := widget_problem()):
            self.mode = "display"
            self.hint = f"labkit: the live widget cannot render here ({problem}); "
            self.hint += "showing a figure redrawn through a display handle instead."
        self.toolbar = None
        self._controls = controls
        self._update_interval = update_interval
        self._html_path = html_path
        self._show = show
        self._renderer: Renderer | None = None
        self._renderer_made = False
        self._run: str | None = None
        self._epoch = 0
        self._steps = 0  # updates done in the running fit, for the diagnostics
        self._epoch_start = 0  # updates done before the running epoch
        self._steps_per_epoch: int | None = None
        self._examples = EpochExamples()
        self._last_draw = 0.0
        self._next_draw = math.inf  # when the next redraw during training is due
        self._draw_costs: deque = deque(maxlen=_DRAW_COSTS)  # seconds the last redraws took
        self._fit_start = 0.0
        self._draws = 0  # figures drawn in the running fit, the one shown at its start included
        self._learning_rate_read = -math.inf

    @property
    def history(self) -> MetricHistory:
        """Every run's metrics so far, up to the last batch that ended.

        Example:

        >>> plot.history.runs["regular"].series["loss"].points()
        (array([0.01, 0.02, ...]), array([2.30, 2.28, ...]))
        """
        if self._pending:
            self._record_pending()
        return self._history

    @history.setter
    def history(self, history: MetricHistory) -> None:
        with self.lock:
            self._pending.clear()
            self._history = history

    @property
    def renderer(self) -> Renderer | None:
        """The renderer for `mode` (made on first use; `None` when `mode="off"`)."""
        if not self._renderer_made:
            if self.mode == "widget" and self._controls:
                from labkit.live.toolbar import Toolbar

                self.toolbar = Toolbar(self.spec, on_change=self.set_view, on_export=self.export)
            self._renderer = make_renderer(
                self.mode,
                self.spec,
                display=self._show,
                html_path=self._html_path,
                header=self.toolbar.widget if self.toolbar else None,
                hint=self.hint,
            )
            self._renderer_made = True
        return self._renderer

    @property
    def widget(self):
        """In widget mode, what to place in a container: the toolbar over the `FigureWidget`.

        Example:

        >>> ipywidgets.VBox([controls, LivePlot(mode="widget", show=False).widget])
        """
        if self.mode != "widget":
            raise ValueError(f"`widget` exists only in widget mode. Received: `mode={self.mode!r}`")
        return self.renderer.view

    @property
    def update_interval(self) -> float:
        """Least seconds between redraws while training (`inf`: only when a fit ends)."""
        if self._update_interval is not None:
            return self._update_interval
        return self.renderer.interval if self.renderer else float("inf")

    @property
    def last_run(self) -> RunHistory | None:
        """The history of the running `fit`, or of the last one; `None` before any.

        Its `state` says how the fit ended: `"stopped"` when `stop` ended it (even when it came
        after the last batch) or it ended early for another reason.

        Example:

        >>> model.fit(x, y, epochs=3, callbacks=[plot])
        >>> plot.last_run.state
        'completed'
        """
        return self.history.runs.get(self._run) if self._run is not None else None

    def stop(self) -> None:
        """Ends the running `fit` cleanly after its current batch (safe from any thread).

        Keras still validates the partial epoch; the history keeps every point so far. A
        stop requested while no `fit` runs ends the next one after its first batch.

        Example:

        >>> threading.Timer(60, plot.stop).start()  # train for about a minute
        >>> model.fit(x, y, epochs=100, callbacks=[plot])
        """
        self.stop_event.set()

    def show(self) -> None:
        """Displays the figure now instead of when training starts (widget and display modes)."""
        if self.renderer is not None:
            with self.lock:
                self.renderer.show(self.history)

    def set_view(self, **options: Any) -> None:
        """Changes `smoothing`, `log_y`, `x_axis` or `train_values`; redraws the curves so far.

        Safe from any thread; what the toolbar's controls call.

        Example:

        >>> plot.set_view(smoothing=0.9, log_y=True, x_axis="seconds")
        >>> plot.set_view(train_values="running_mean")  # Keras' own numbers
        """
        with self.lock:
            changed = self.spec.update(**options)
            if changed and self.renderer is not None:
                self.renderer.redraw(self.history)
        if self.toolbar is not None:
            self.toolbar.show_view(self.spec)

    def save_html(self, path: str | os.PathLike, include_plotlyjs: bool | str = True) -> Path:
        """Writes the figure as it stands to a standalone HTML file.

        Example:

        >>> plot.save_html("runs/weight_norm/live.html")
        """
        return write_html(self._figure_dict(), path, include_plotlyjs)

    def save(self, path: str | os.PathLike, width: int | None = None) -> Path:
        """Writes the figure as it stands to `path`: standalone HTML, PNG, SVG, PDF, JPEG, WebP.

        The format follows the suffix. HTML embeds plotly.js and always works; images are
        drawn by plotly's `kaleido` in a Chrome-family browser found on the machine
        (`labkit.plotting.export`), and fail with one line saying what to install where none is.

        Example:

        >>> plot.save("runs/weight_norm/live.png")
        PosixPath('runs/weight_norm/live.png')
        """
        return save_figure(self._figure_dict(), path, width=width)

    def export(self, base: str | os.PathLike) -> list[Path]:
        """Writes `<base>.html` and `<base>.png`; what the toolbar's Export button does.

        The HTML is written first; when the PNG then fails, the `RuntimeError` says so too.

        Example:

        >>> plot.export("runs/weight_norm/live")
        [PosixPath('runs/weight_norm/live.html'), PosixPath('runs/weight_norm/live.png')]
        """
        base = Path(base)
        figure = self._figure_dict()
        page = save_figure(figure, base.with_name(f"{base.name}.html"))
        try:
            return [page, save_figure(figure, base.with_name(f"{base.name}.png"))]
        except RuntimeError as error:
            raise RuntimeError(f"Wrote {page}; {error}") from error

    def figure(self):
        """The figure as it stands, as a static `plotly.graph_objects.Figure`.

        Example:

        >>> plot.figure().write_image("live.png")
        """
        import plotly.graph_objects as go

        return go.Figure(self._figure_dict())

    def _figure_dict(self) -> dict:
        with self.lock:
            return self.spec.to_dict(self.history)

    # Keras hooks ---------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        self._run = self.label or self.model.name
        self._epoch = self._steps = self._epoch_start = 0
        self._steps_per_epoch = self.params.get("steps")
        self._examples.start_fit()
        with self.lock:
            self.history.start_run(
                self._run, epochs=self.params.get("epochs"), steps=self.params.get("steps")
            )
            if self.probe is not None:
                for series in self.probe.attach(self.model):
                    self.history.add_series(self._run, series)
            self._record_learning_rate(always=True)
            self._next_draw = math.inf
            if self.renderer is not None:
                self._fit_start = time.monotonic()
                self.renderer.show(self.history)
                self._last_draw, self._draws = time.monotonic(), 1
                self._next_draw = self._next_draw_after(self._last_draw)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._epoch_start = self._steps
        self._examples.start_epoch()

    def on_train_batch_end(self, batch, logs=None):
        # Runs after every batch (or execution), so it does the least it can: the batch waits
        # in `_pending` until something reads the history (a redraw, a diagnostic point,
        # `history` itself), which records the waiting batches in one go. Keras makes a new
        # `logs` per batch. `batch` is the execution's last; Keras counts whole executions,
        # past the epoch's end when its steps are not a multiple of `steps_per_execution`.
        now = time.monotonic()
        if self._steps_per_epoch:
            batch = min(batch, self._steps_per_epoch - 1)
        seen = self._examples.seen(self.model, batch, self._steps_per_epoch)
        self._pending.append((self._run, self._epoch, batch, now, logs or {}, seen))
        self._steps = self._epoch_start + batch + 1
        if self.probe is not None and (measured := self.probe.after_step(self._steps)):
            with self.lock:
                history = self.history
                for series, value in measured.items():
                    history.add_point(self._run, series, value)
        if self.stop_event.is_set():
            self.model.stop_training = True
        if now >= self._next_draw:
            with self.lock:
                self._draw_if_due(force=True)

    def on_epoch_end(self, epoch, logs=None):
        with self.lock:
            self.history.add_epoch(self._run, epoch, logs or {})
            self._record_learning_rate(always=True)
            # The last epoch's end is drawn by `on_train_end`, at once.
            if epoch + 1 < (self.params.get("epochs") or math.inf):
                self._draw_if_due(force=self.update_interval < math.inf)
        if self.probe is not None and logs is not None:
            # Keras passes this dict on to the callbacks after this one and to `History`.
            logs.update(self.probe.epoch_summary(self._steps))

    def on_train_end(self, logs=None):
        with self.lock:
            run = self.history.runs[self._run]
            stopped = self.stop_event.is_set() or bool(run.epochs and run.epoch < run.epochs)
            self.history.end_run(self._run, stopped=stopped)
            self.stop_event.clear()
            if self.renderer is not None:
                self.renderer.finish(self.history)

    def _record_pending(self) -> None:
        """Moves the batches waiting in `_pending` into the history."""
        with self.lock:
            while self._pending:
                run, epoch, batch, at, logs, seen = self._pending.popleft()
                self._history.add_batch(run, epoch, batch, logs, at=at, seen=seen)

    def _draw_if_due(self, force: bool = False) -> None:
        if self.renderer is None:
            return
        now = time.monotonic()
        if force or now - self._last_draw >= self.update_interval:
            self._last_draw = now
            self._record_learning_rate()
            self.renderer.update(self.history)
            self._draw_costs.append(time.monotonic() - now)
            self._draws += 1
            self._next_draw = self._next_draw_after(now)

    def _next_draw_after(self, now: float) -> float:
        """When the next redraw during training is due, the last one made at `now`.

        `update_interval` after the last one; unless told an interval, also no sooner than
        when the fit's redraws with the next one take at most `_DRAW_SHARE` of its time so far:
        slow redraws (many runs overlaid, a slow machine) come less often. Every redraw counts,
        the figure shown when the fit started and those at epoch ends too, each at the median
        cost of the last few.
        """
        due = now + self.update_interval
        if self._update_interval is not None or not self._draw_costs:
            return due
        cost = statistics.median_low(self._draw_costs)
        return max(due, self._fit_start + (self._draws + 1) * cost / _DRAW_SHARE)

    def _record_learning_rate(self, always: bool = False) -> None:
        """Adds the optimizer's learning rate to the run, where the run stands.

        Read when a run starts, at each epoch's end, and when the figure is drawn but at most
        once every `_LEARNING_RATE_INTERVAL` seconds (even traced, a schedule costs about a
        millisecond right after a step); the figure draws it only for runs where it changes.
        """
        now = time.monotonic()
        if not self.spec.learning_rate or (
            not always and now - self._learning_rate_read < _LEARNING_RATE_INTERVAL
        ):
            return
        self._learning_rate_read = now
        rate = current_learning_rate(self.model)
        if rate is not None:
            self.history.add_point(self._run, LEARNING_RATE, rate)
