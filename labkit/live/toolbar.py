"""The live figure's toolbar (ipywidgets): smoothing, linear/log losses, x-axis, per-step values
or Keras' running means, export.

The toolbar only reports what the viewer chose: `on_change` gets the changed view options
(`LivePlot.set_view`, which redraws the curves drawn so far at once) and `on_export` a path
without suffix (`LivePlot.export`). An export runs in a thread so the page stays usable while
the browser that draws the PNG starts; its outcome shows in one line beside the button.
Every control carries a CSS class (`labkit-live-smoothing`, ...) for tests and styling.

Example:

>>> toolbar = Toolbar(FigureSpec(), on_change=plot.set_view, on_export=plot.export)
>>> ipywidgets.VBox([toolbar.widget, figure_widget])
"""

from __future__ import annotations

import html
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from labkit.live.figure import FigureSpec
from labkit.live.history import X_AXES
from labkit.plotting.smoothing import SMOOTHING_RANGE

__all__ = ["Toolbar", "DEFAULT_EXPORT_BASE"]

# Where the Export button writes (`.html` and `.png` are added), relative to the kernel's folder.
DEFAULT_EXPORT_BASE = "live_figure"
# The view options the toolbar has a control for (attributes of the same names).
_VIEW_CONTROLS = ("smoothing", "log_y", "x_axis", "train_values")


class Toolbar:
    """Controls for a live figure's view options, and an Export button.

    Args:
        spec: The figure's settings; the controls start from its view options.
        on_change: Called with the changed options, e.g. `{"smoothing": 0.6}`.
        on_export: Called (in a thread) with the path typed next to Export, without suffix;
            returns the files written.
        export_base: The path the Export field starts with.

    Attributes:
        widget: The toolbar, to show above the figure.
        smoothing, log_y, x_axis, train_values: The controls of the view options.
        export_path, export_button, status: Export's path field, button, and outcome line.

    Example:

    >>> toolbar.smoothing.value = 0.8  # redraws through `on_change`, as the slider does
    """

    def __init__(
        self,
        spec: FigureSpec,
        on_change: Callable[..., None],
        on_export: Callable[[str | os.PathLike], Sequence[Path]],
        export_base: str = DEFAULT_EXPORT_BASE,
    ):
        import ipywidgets as widgets

        self._on_change = on_change
        self._on_export = on_export
        self._showing = False
        low, high = SMOOTHING_RANGE
        narrow = {"description_width": "initial"}
        self.smoothing = widgets.FloatSlider(
            value=spec.smoothing,
            min=low,
            max=high,
            step=0.01,
            description="smoothing",
            readout_format=".2f",
            continuous_update=False,
            style=narrow,
            layout=widgets.Layout(width="260px"),
        )
        self.log_y = widgets.ToggleButtons(
            options=[("linear", False), ("log", True)],
            value=spec.log_y,
            description="loss axis",
            style={**narrow, "button_width": "64px"},
        )
        self.x_axis = widgets.ToggleButtons(
            options=list(X_AXES),
            value=spec.x_axis,
            description="x-axis",
            style={**narrow, "button_width": "80px"},
        )
        self.train_values = widgets.ToggleButtons(
            options=[("per step", "per_step"), ("running mean", "running_mean")],
            value=spec.train_values,
            description="train curve",
            tooltips=["each step's own values", "Keras' running mean over the epoch so far"],
            style={**narrow, "button_width": "120px"},
        )
        self.export_path = widgets.Text(
            value=export_base,
            placeholder="path without suffix",
            tooltip="Export writes this path + .html and .png",
            layout=widgets.Layout(width="180px"),
        )
        self.export_button = widgets.Button(
            description="Export", icon="download", tooltip="Write the figure as HTML and PNG"
        )
        self.status = widgets.HTML()
        for name in _VIEW_CONTROLS:
            control = getattr(self, name)
            control.add_class(f"labkit-live-{name.replace('_', '-')}")
            control.observe(self._changed(name), names="value")
        self.export_path.add_class("labkit-live-export-path")
        self.export_button.add_class("labkit-live-export")
        self.status.add_class("labkit-live-export-status")
        self.export_button.on_click(lambda _: self.export())
        row = widgets.Layout(flex_flow="row wrap", align_items="center")
        self.widget = widgets.Box(
            [
                self.smoothing,
                self.log_y,
                self.x_axis,
                self.train_values,
                widgets.HBox([self.export_path, self.export_button, self.status]),
            ],
            layout=row,
        )
        self.widget.add_class("labkit-live-toolbar")
        self._thread: threading.Thread | None = None

    def show_view(self, spec: FigureSpec) -> None:
        """Sets the controls to the spec's view options (after a change made in code)."""
        self._showing = True
        try:
            for name in _VIEW_CONTROLS:
                getattr(self, name).value = getattr(spec, name)
        finally:
            self._showing = False

    def export(self, wait: bool = False) -> None:
        """Writes the figure as the Export button does: in a thread, or here if `wait`."""
        if self._thread is not None and self._thread.is_alive():
            return
        self.export_button.disabled = True
        self._say("Exporting…")
        base = self.export_path.value.strip() or DEFAULT_EXPORT_BASE
        if wait:
            self._export(base)
        else:
            self._thread = threading.Thread(
                target=self._export, args=(base,), name="labkit-live-export", daemon=True
            )
            self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Waits for an export in progress to end."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _changed(self, name: str) -> Callable[[dict[str, Any]], None]:
        def changed(change: dict[str, Any]) -> None:
            if not self._showing:
                self._on_change(**{name: change["new"]})

        return changed

    def _export(self, base: str) -> None:
        try:
            paths = self._on_export(base)
            self._say("Wrote " + ", ".join(str(path) for path in paths))
        except Exception as error:  # shown in the toolbar, in one line
            self._say(" ".join(str(error).split()) or type(error).__name__, error=True)
        finally:
            self.export_button.disabled = False

    def _say(self, message: str, error: bool = False) -> None:
        color = "#d62728" if error else "inherit"
        self.status.value = f'<span style="color:{color}">{html.escape(message)}</span>'
