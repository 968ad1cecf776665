"""Renderers draw a `MetricHistory` as a `FigureSpec` describes it; `LivePlot` decides when.

- `WidgetRenderer`: a plotly `FigureWidget` updated in place (JupyterLab, Notebook 7).
- `DisplayRenderer`: a static figure re-displayed through an IPython display handle
  (Colab, VS Code, where a `FigureWidget` cannot render, or on request).
- `StaticRenderer`: nothing while training; one static figure at the end of each `fit`
  (papermill, nbclient, scripts), and optionally a standalone HTML file.

`make_renderer` builds the one for a mode that `resolve_mode` returned.
"""

from __future__ import annotations

import html
import math
import os
import time

from labkit._checks import check_choice
from labkit.live import environment
from labkit.live.figure import FigureSpec, TraceKey
from labkit.live.history import MetricHistory
from labkit.live.static import figure_bundle
from labkit.plotting.export import write_html

__all__ = [
    "Renderer",
    "WidgetRenderer",
    "DisplayRenderer",
    "StaticRenderer",
    "make_renderer",
    "hint_bundle",
]


class Renderer:
    """Draws a `MetricHistory`. Subclasses override `show`, `update` and `finish`.

    Attributes:
        interval: Least seconds between two `update` calls during training
            (`math.inf`: only `finish` draws).

    Example:

    >>> renderer = StaticRenderer(FigureSpec())
    >>> renderer.finish(history)
    """

    interval: float = math.inf

    def __init__(self, spec: FigureSpec | None = None):
        self.spec = spec or FigureSpec()
        self._drawn_version = -1

    def show(self, history: MetricHistory) -> None:
        """Puts the figure on screen, if this renderer draws while training."""

    def update(self, history: MetricHistory) -> None:
        """Redraws what changed since the last call."""

    def finish(self, history: MetricHistory) -> None:
        """Draws the final state at the end of a `fit`."""
        self.update(history)

    def redraw(self, history: MetricHistory) -> None:
        """Draws everything again now, e.g. after the spec's view options changed."""
        self._drawn_version = -1
        self.update(history)

    def _is_stale(self, history: MetricHistory) -> bool:
        if history.version == self._drawn_version:
            return False
        self._drawn_version = history.version
        return True


class WidgetRenderer(Renderer):
    """A plotly `FigureWidget` whose traces are updated in place.

    Each update sends one message to the browser (`plotly_update`): the points of the traces
    that gained some, and the layout entries that changed (the title). `redraw` resends every
    trace's style and points, in one message too (`batch_update`), so a changed view option
    (smoothing, log axis, x-axis) acts at once on the curves already drawn. Needs a frontend
    that renders anywidget widgets (JupyterLab 4, Notebook 7).

    Args:
        spec: The figure's settings.
        display: Display the widget when training starts; `False` when a container (such
            as `labkit.controls.ControlPanel`) shows `renderer.view` itself.
        header: A widget to show above the figure in `view` (`LivePlot`'s toolbar).

    Example:

    >>> renderer = WidgetRenderer(FigureSpec(), display=False)
    >>> ipywidgets.VBox([renderer.view])
    """

    interval = 0.3
    # Least seconds between two redraws of the traces that change slowly (the diagnostics row,
    # the learning rate); `finish` draws them in any case.
    slow_interval = 1.0

    def __init__(self, spec: FigureSpec | None = None, display: bool = True, header=None):
        super().__init__(spec)
        self.display = display
        self.header = header
        self._widget = None
        self._view = None
        self._displayed = False
        self._keys: list[TraceKey] = []
        self._versions: list[int] = []
        self._layout_key: tuple | None = None
        self._live_layout: dict = {}
        self._slow_sent = -math.inf

    @property
    def widget(self):
        """The `plotly.graph_objects.FigureWidget` (created on first use)."""
        if self._widget is None:
            import plotly.graph_objects as go

            empty = MetricHistory()
            self._widget = go.FigureWidget(self.spec.to_dict(empty))
            self._layout_key = self.spec.layout_key(empty)
            self._live_layout = self.spec.live_layout(empty)
        return self._widget

    @property
    def view(self):
        """What is displayed: the figure, below `header` when there is one."""
        if self.header is None:
            return self.widget
        if self._view is None:
            import ipywidgets

            self._view = ipywidgets.VBox([self.header, self.widget])
            self._view.add_class("labkit-live")
        return self._view

    def show(self, history: MetricHistory) -> None:
        if self.display and not self._displayed:
            from IPython.display import display

            display(self.view)
            self._displayed = True
        self.update(history)

    def update(self, history: MetricHistory) -> None:
        if self._is_stale(history):
            self._draw(history, restyle=False)

    def finish(self, history: MetricHistory) -> None:
        self._drawn_version = history.version
        self._draw(history, restyle=False, everything=True)

    def redraw(self, history: MetricHistory) -> None:
        self._drawn_version = history.version
        self._draw(history, restyle=True)

    def _draw(self, history: MetricHistory, restyle: bool, everything: bool = False) -> None:
        figure = self.widget
        keys = self.spec.keys(history)
        # Traces are kept as far as the keys agree (a restarted run keeps its traces), the
        # rest deleted in one message; new ones are appended in another.
        kept = next(
            (i for i, (old, new) in enumerate(zip(self._keys, keys)) if old != new),
            min(len(self._keys), len(keys)),
        )
        if kept < len(self._keys):
            figure.data = figure.data[:kept]
            del self._keys[kept:], self._versions[kept:]
        new_keys = keys[len(self._keys) :]
        if new_keys:
            figure.add_traces(
                [{**self.spec.trace_style(history, *key), "x": [], "y": []} for key in new_keys]
            )
            self._keys += new_keys
            self._versions += [-1] * len(new_keys)
        layout_key = self.spec.layout_key(history)
        live_layout = self.spec.live_layout(history)
        if restyle or layout_key != self._layout_key:
            self._redraw_all(history, layout_key != self._layout_key)
        else:
            self._send_changes(history, live_layout, everything)
        self._layout_key, self._live_layout = layout_key, live_layout

    def _send_changes(self, history: MetricHistory, live_layout: dict, everything: bool) -> None:
        """One `plotly_update` message: new points of the traces that grew, changed layout.

        Slowly changing traces are left for later unless `slow_interval` has passed.
        """
        now = time.monotonic()
        slow_due = everything or now - self._slow_sent >= self.slow_interval
        if slow_due:
            self._slow_sent = now
        changed, xs, ys = [], [], []
        for index, (run, name, raw) in enumerate(self._keys):
            version = history.runs[run].series[name].version
            if version == self._versions[index] or (
                not slow_due and self.spec.kind(history, name) in _SLOW_KINDS
            ):
                continue
            x, y = self.spec.points(history, run, name, raw)
            changed.append(index)
            xs.append(x)
            ys.append(y)
            self._versions[index] = version
        before = _flat(self._live_layout)
        relayout = {path: v for path, v in _flat(live_layout).items() if before.get(path) != v}
        if changed or relayout:
            restyle = {"x": xs, "y": ys} if changed else {}
            self.widget.plotly_update(
                restyle_data=restyle, relayout_data=relayout, trace_indexes=changed
            )

    def _redraw_all(self, history: MetricHistory, relayout: bool) -> None:
        """Every trace's style and points, and the layout if asked, in one `batch_update`."""
        figure = self.widget
        with figure.batch_update():
            for index, (run, name, raw) in enumerate(self._keys):
                trace = figure.data[index]
                style = self.spec.trace_style(history, run, name, raw)
                trace.update({key: value for key, value in style.items() if key != "type"})
                trace.x, trace.y = self.spec.points(history, run, name, raw)
                self._versions[index] = history.runs[run].series[name].version
            if relayout:
                figure.update_layout(self.spec.layout(history))
            else:
                figure.update_layout(self.spec.live_layout(history))


# The kinds of series (`FigureSpec.kind`) that a widget redraws at most every `slow_interval`.
_SLOW_KINDS = ("diagnostic", "learning_rate")


def _flat(layout: dict, prefix: str = "") -> dict:
    """Nested layout entries as plotly's dotted paths (`{"margin": {"t": 9}}` -> `margin.t`)."""
    flat = {}
    for key, value in layout.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


class DisplayRenderer(Renderer):
    """A static figure shown through an IPython display handle and replaced on each update.

    For frontends without anywidget support (Colab, VS Code), and where a `FigureWidget`
    cannot render (`hint` then says why, in one line above the figure). Every update resends
    the whole figure, hence the longer interval.

    Args:
        spec: The figure's settings.
        hint: One line shown once above the figure.

    Example:

    >>> renderer = DisplayRenderer(FigureSpec())
    >>> renderer.show(history)
    """

    interval = 1.0

    def __init__(self, spec: FigureSpec | None = None, hint: str | None = None):
        super().__init__(spec)
        self.hint = hint
        self.handle = None

    def show(self, history: MetricHistory) -> None:
        self._draw(history)

    def update(self, history: MetricHistory) -> None:
        self._draw(history)

    def _draw(self, history: MetricHistory) -> None:
        stale = self._is_stale(history)
        if self.handle is not None and not stale:
            return
        from IPython.display import display

        bundle = figure_bundle(self.spec.to_dict(history))
        if self.handle is None:
            if self.hint:
                display(hint_bundle(self.hint), raw=True)
            self.handle = display(bundle, raw=True, display_id=True)
        else:
            self.handle.update(bundle, raw=True)


class StaticRenderer(DisplayRenderer):
    """Draws nothing while training; at the end of each `fit`, one static figure.

    In a kernel (papermill, nbclient) the figure is displayed once and later fits replace it,
    so the saved notebook holds one figure with every run; it shows without a kernel and in
    nbconvert's HTML export. No widget is created.

    Args:
        spec: The figure's settings.
        html_path: Also write the figure to this standalone HTML file at each `finish`.

    Example:

    >>> renderer = StaticRenderer(FigureSpec(), html_path="runs/live.html")
    """

    interval = math.inf

    def __init__(self, spec: FigureSpec | None = None, html_path: str | os.PathLike | None = None):
        super().__init__(spec)
        self.html_path = html_path

    def show(self, history: MetricHistory) -> None:
        """Draws nothing until `finish`."""

    def update(self, history: MetricHistory) -> None:
        """Draws nothing until `finish`."""

    def redraw(self, history: MetricHistory) -> None:
        """Redraws the figure already shown (once a `fit` finished); nothing before."""
        if self.handle is not None:
            self._drawn_version = -1
            self._draw(history)

    def finish(self, history: MetricHistory) -> None:
        if environment.in_kernel():
            self._draw(history)
        if self.html_path is not None:
            write_html(self.spec.to_dict(history), self.html_path)


def hint_bundle(hint: str) -> dict[str, str]:
    """A one-line notice as a display bundle (plain text, and muted HTML in notebooks).

    Example:

    >>> IPython.display.display(hint_bundle("The widget cannot render here."), raw=True)
    """
    line = f'<div class="labkit-live-hint" style="opacity:0.75">{html.escape(hint)}</div>'
    return {"text/plain": hint, "text/html": line}


def make_renderer(
    mode: str,
    spec: FigureSpec | None = None,
    display: bool = True,
    html_path: str | os.PathLike | None = None,
    header=None,
    hint: str | None = None,
) -> Renderer | None:
    """The renderer for a resolved mode; `None` for `"off"`.

    `header` goes above a widget renderer's figure; `hint` above a display renderer's.

    Example:

    >>> make_renderer(resolve_mode(), FigureSpec(log_y=True))
    """
    builders = {
        "widget": lambda: WidgetRenderer(spec, display=display, header=header),
        "display": lambda: DisplayRenderer(spec, hint=hint),
        "static": lambda: StaticRenderer(spec, html_path=html_path),
        "off": lambda: None,
    }
    check_choice("mode", mode, environment.RESOLVED_MODES)
    return builders[mode]()
