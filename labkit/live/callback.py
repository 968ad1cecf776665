"""`LivePlot`: a Keras callback that streams training metrics into a live plotly figure."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import keras

from labkit.live.environment import resolve_mode
from labkit.live.figure import FigureSpec
from labkit.live.history import MetricHistory, RunHistory
from labkit.live.renderers import Renderer, make_renderer, write_html

__all__ = ["LivePlot"]


class LivePlot(keras.callbacks.Callback):
    """Plots loss and accuracy live while `fit` runs: per batch, per epoch, several runs at once.

    Training metrics are drawn after every batch as Keras reports them (running means over the
    epoch so far), validation metrics after every epoch, on an x-axis in epochs. Each `fit`
    is one run, named by `label` or else by the model's name (`"regular"` and `"weightnorm"`
    for `labkit.build_convnet`), and keeps its colour; fitting a run of the same name again
    replaces its curves. Train curves are solid, validation curves dashed. The title shows
    epoch, batch, elapsed time, ETA and the best validation accuracy so far.

    Where the figure goes depends on `mode` (see `labkit.live.environment`): a `FigureWidget`
    updated in place, a static figure re-displayed, or one static figure when each `fit` ends
    (headless runs: papermill, nbclient, scripts). Updates are throttled to `update_interval`.

    Args:
        mode: `"auto"` (default), `"widget"`, `"display"`, `"static"` or `"off"`.
        metrics: Keras log names to plot, one subplot each.
        label: Run name to use instead of the model's name.
        log_y: Logarithmic y-axis for losses.
        update_interval: Least seconds between redraws; defaults to the renderer's
            (0.3 s for the widget, 1 s for the display handle).
        max_points: Points drawn per curve at most; longer histories are downsampled.
        title: First line of the figure title.
        html_path: Static mode: also write the figure to this standalone HTML file.
        display: Display the figure when training starts (`False` when embedding
            `plot.widget` in a container).

    Example:

    >>> plot = LivePlot(log_y=True)
    >>> model.fit(x, y, validation_data=(x_val, y_val), epochs=10, callbacks=[plot])
    >>> plot.stop()  # from another thread: ends the fit after the current batch
    """

    def __init__(
        self,
        mode: str | None = "auto",
        metrics: Sequence[str] = ("loss", "accuracy"),
        label: str | None = None,
        log_y: bool = False,
        update_interval: float | None = None,
        max_points: int = 600,
        title: str = "Training, live",
        html_path: str | os.PathLike | None = None,
        display: bool = True,
    ):
        super().__init__()
        self.mode = resolve_mode(mode)
        if update_interval is not None and not update_interval >= 0:
            raise ValueError(
                "`update_interval` must be a number of seconds >= 0. "
                f"Received: `update_interval={update_interval!r}`"
            )
        self.history = MetricHistory(metrics)
        self.spec = FigureSpec(title=title, log_y=log_y, max_points=max_points)
        self.label = label
        self.stop_event = threading.Event()
        self._update_interval = update_interval
        self._html_path = html_path
        self._display = display
        self._renderer: Renderer | None = None
        self._renderer_made = False
        self._run: str | None = None
        self._epoch = 0
        self._last_draw = 0.0

    @property
    def renderer(self) -> Renderer | None:
        """The renderer for `mode` (made on first use; `None` when `mode="off"`)."""
        if not self._renderer_made:
            self._renderer = make_renderer(
                self.mode, self.spec, display=self._display, html_path=self._html_path
            )
            self._renderer_made = True
        return self._renderer

    @property
    def widget(self):
        """The `FigureWidget` in widget mode, to place in a container.

        Example:

        >>> ipywidgets.VBox([controls, LivePlot(mode="widget", display=False).widget])
        """
        if self.mode != "widget":
            raise ValueError(f"`widget` exists only in widget mode. Received: `mode={self.mode!r}`")
        return self.renderer.widget

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
            self.renderer.show(self.history)

    def save_html(self, path: str | os.PathLike, include_plotlyjs: bool | str = True) -> Path:
        """Writes the figure as it stands to a standalone HTML file.

        Example:

        >>> plot.save_html("runs/weight_norm/live.html")
        """
        return write_html(self.spec.to_dict(self.history), path, include_plotlyjs)

    def figure(self):
        """The figure as it stands, as a static `plotly.graph_objects.Figure`.

        Example:

        >>> plot.figure().write_image("live.png")
        """
        import plotly.graph_objects as go

        return go.Figure(self.spec.to_dict(self.history))

    # Keras hooks ---------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        self._run = self.label or self.model.name
        self._epoch = 0
        self.history.start_run(
            self._run, epochs=self.params.get("epochs"), steps=self.params.get("steps")
        )
        if self.renderer is not None:
            self.renderer.show(self.history)
            self._last_draw = time.monotonic()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.history.add_batch(self._run, self._epoch, batch, logs or {})
        if self.stop_event.is_set():
            self.model.stop_training = True
        self._draw_if_due()

    def on_epoch_end(self, epoch, logs=None):
        self.history.add_epoch(self._run, epoch, logs or {})
        self._draw_if_due(force=self.update_interval < float("inf"))

    def on_train_end(self, logs=None):
        run = self.history.runs[self._run]
        stopped = self.stop_event.is_set() or bool(run.epochs and run.epoch < run.epochs)
        self.history.end_run(self._run, stopped=stopped)
        self.stop_event.clear()
        if self.renderer is not None:
            self.renderer.finish(self.history)

    def _draw_if_due(self, force: bool = False) -> None:
        if self.renderer is None:
            return
        now = time.monotonic()
        if force or now - self._last_draw >= self.update_interval:
            self._last_draw = now
            self.renderer.update(self.history)
