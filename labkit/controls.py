"""An ipywidgets panel to retrain the tutorial's ConvNets with other hyperparameters, live.

The panel's controls start from the notebook's `parameters` cell values (one source of truth).
Train runs the ConvNets one after the other in a background thread, so the kernel keeps
handling widget messages (the Stop button) while `fit` runs; every run draws into the
panel's `LivePlot`. Stop ends the current run after its current batch (with
`steps_per_execution > 1`, after the current call's batches) and keeps its history.
Bad values show as a one-line message in the panel.

Example:

>>> from labkit.controls import show_panel
>>> panel = show_panel({"epochs": 10, "batch_size": 32, "learning_rate": 0.001}, data=data)
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

from labkit._checks import check, is_int
from labkit.data import Dataset
from labkit.live import LivePlot, resolve_mode
from labkit.notebook_contract import (
    MODEL_CHOICES,
    NOTEBOOK_DEFAULTS,
    NOTEBOOK_NORMALIZATIONS,
    notebook_runs,
)
from labkit.panel_controller import PanelController
from labkit.params import INIT_STYLES, OPTIMIZERS, ExperimentParams
from labkit.results import RunResult
from labkit.speed import AUTO

__all__ = ["ControlPanel", "show_panel", "PANEL_PARAMETERS", "ADVANCED_PARAMETERS"]

# The parameters the panel lets one change, with their labels; the others keep their notebook
# values.
PANEL_PARAMETERS = {
    "model": "model",
    "normalization": "normalization (instead of model)",
    "epochs": "epochs",
    "batch_size": "batch size",
    "learning_rate": "learning rate",
    "optimizer": "optimizer",
    "data_init": "data-dependent init (WeightNorm)",
    "init_style": "init style (data init)",
    "seed": "seed",
    "train_limit": "training images",
    "jit_compile": "XLA (jit_compile)",
    "steps_per_execution": "steps per call",
}
# The panel parameters shown apart, in the "advanced" row: how the step runs, not what it learns.
ADVANCED_PARAMETERS = ("jit_compile", "steps_per_execution")
_BATCH_SIZES = (16, 32, 64, 128, 256, 512)
_TRAIN_SIZES = (1000, 2000, 5000, 10_000, 20_000)
_JIT_COMPILE = (("auto", AUTO), ("True", True), ("False", False))
_STEPS_PER_EXECUTION = (1, 2, 4, 8, 16, 32, 64, 128)
# Powers of ten the learning-rate slider spans at least (ExperimentParams allows up to 10).
_LEARNING_RATE_EXPONENTS = (-6, 1)
_INTERACTIVE_MODES = ("widget", "display")


class ControlPanel:
    """Sliders and dropdowns for the tutorial's hyperparameters, with Train and Stop buttons.

    The widgets over a `PanelController`, which trains in the background and stops.

    Args:
        values: The notebook's parameter values (names as in its `parameters` cell); the
            controls start from them and the other values are used as they are. A value a
            control cannot hold as it is (a learning rate of 0, 2.5 epochs) raises `ValueError`
            rather than being changed.
        data: A loaded `Dataset` (one-hot labels) matching `values`, reused while the
            dataset, subset and seed stay the same.
        live: The `LivePlot` to train into; by default one made for `mode`, shown in the panel.
        mode: Live mode of the default `LivePlot` (see `labkit.live.resolve_mode`).
        diagnostics: The default `LivePlot` also draws the weight-norm diagnostics row
            (`LivePlot(diagnostics=True)`).

    Attributes:
        controller: The `PanelController` that trains.
        controls: The widget of each parameter in `PANEL_PARAMETERS`.

    Example:

    >>> panel = ControlPanel({"epochs": 3, "train_limit": 5000}, mode="static")
    >>> panel.controls["learning_rate"].value = 0.003
    >>> panel.train(wait=True)
    >>> panel.results["weightnorm"].best_val_accuracy
    """

    def __init__(
        self,
        values: Mapping[str, Any],
        data: Dataset | None = None,
        live: LivePlot | None = None,
        mode: str | None = "auto",
        diagnostics: bool = False,
    ):
        import ipywidgets as widgets

        # A notebook's empty (or absent) `normalization` lets `model` pick (a blank dropdown).
        self.defaults = {
            **NOTEBOOK_DEFAULTS,
            **values,
            "normalization": values.get("normalization") or "",
        }
        self.controls = _make_controls(self.defaults)
        if live is None:
            resolved = resolve_mode(mode)
            live = LivePlot(
                mode=resolved,
                title="Panel runs, live",
                show=resolved != "widget",
                diagnostics=diagnostics,
            )
        self.controller = PanelController(live, on_message=self._show, on_busy=self._set_busy)
        if data is not None:
            self.controller.keep_data(self.defaults, data)

        self.train_button = widgets.Button(description="Train", button_style="success", icon="play")
        self.stop_button = widgets.Button(
            description="Stop", button_style="danger", icon="stop", disabled=True
        )
        self.train_button.on_click(lambda _: self.train())
        self.stop_button.on_click(lambda _: self.stop())
        self.status = widgets.HTML()
        columns = widgets.Layout(grid_template_columns="repeat(2, minmax(280px, 1fr))")
        children = [
            widgets.HTML("<b>Train both ConvNets with other hyperparameters</b>"),
            widgets.GridBox(
                [c for name, c in self.controls.items() if name not in ADVANCED_PARAMETERS],
                layout=columns,
            ),
            widgets.HTML("<i>Advanced: how each training step is executed</i>"),
            widgets.GridBox([self.controls[name] for name in ADVANCED_PARAMETERS], layout=columns),
            widgets.HBox([self.train_button, self.stop_button, self.status]),
        ]
        if self.live.mode == "widget":
            # The live figure's toolbar (smoothing, log axis, x-axis, export), then the figure.
            figure = self.live.renderer.widget
            if self.live.toolbar is not None:
                children.append(self.live.toolbar.widget)
            children.append(figure)
        self.widget = widgets.VBox(children)

    @property
    def live(self) -> LivePlot:
        """The `LivePlot` the runs draw into."""
        return self.controller.live

    @property
    def results(self) -> dict[str, RunResult]:
        """The `RunResult` of each run of the last Train, by run name (stopped runs kept)."""
        return self.controller.results

    @property
    def message(self) -> str:
        """The message the panel shows (plain text)."""
        return self.controller.message

    @property
    def running(self) -> bool:
        """Whether a background training is in progress."""
        return self.controller.running

    def values(self) -> dict[str, Any]:
        """The notebook's values with the controls' current values applied.

        Example:

        >>> panel.values()["learning_rate"]
        0.001
        """
        return {**self.defaults, **{name: c.value for name, c in self.controls.items()}}

    def runs(self) -> list[ExperimentParams]:
        """Validated run descriptions for the current values (raises `ValueError`).

        Panel runs write to `<output_dir>/panel/<run>` so the notebook's own runs stay intact.

        Example:

        >>> [run.run_name for run in panel.runs()]
        ['regular', 'weightnorm']
        """
        values = self.values()
        if values.get("output_dir"):
            values["output_dir"] = f"{values['output_dir'].rstrip('/')}/panel"
        return notebook_runs(values)

    def train(self, wait: bool = False) -> None:
        """Trains the chosen ConvNets into the figure: in a background thread, or here if `wait`.

        Invalid values show as a message in the panel instead.

        Example:

        >>> panel.train()  # returns at once; the Stop button works meanwhile
        """
        if self.running:
            self.controller.say("Training is already running: press Stop first.", error=True)
            return
        try:
            runs = self.runs()
        except ValueError as error:
            self.controller.say(str(error), error=True)
            return
        self.controller.train(runs, wait=wait)

    def stop(self) -> None:
        """Ends the running training after the current batch; later runs do not start.

        Example:

        >>> panel.train(); panel.stop(); panel.join()
        >>> panel.results["regular"].status
        'stopped'
        """
        self.controller.stop()

    def join(self, timeout: float | None = None) -> None:
        """Waits for a background training to end.

        Example:

        >>> panel.train()
        >>> panel.join(timeout=600)
        """
        self.controller.join(timeout)

    def _set_busy(self, busy: bool) -> None:
        self.train_button.disabled = busy
        self.stop_button.disabled = not busy
        for control in self.controls.values():
            control.disabled = busy

    def _show(self, message: str, error: bool) -> None:
        color = "#d62728" if error else "inherit"
        self.status.value = f'<span style="color:{color}">{html.escape(message)}</span>'

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
        if self.live.mode == "display":
            self.live.show()


def show_panel(
    values: Mapping[str, Any],
    data: Dataset | None = None,
    mode: str | None = "auto",
    diagnostics: bool = False,
) -> ControlPanel | None:
    """Displays a `ControlPanel` where widgets work; headless (papermill, scripts) does nothing.

    Args:
        values: The notebook's parameter values.
        data: The `Dataset` already loaded for `values`.
        mode: Live mode (`"auto"` detects it); the panel shows in `"widget"` and `"display"`.
        diagnostics: Draw the weight-norm diagnostics row in the panel's figure.

    Returns:
        The panel, or `None` when not interactive.

    Example:

    >>> panel = show_panel(params, data=data, mode=live)
    """
    resolved = resolve_mode(mode)
    if resolved not in _INTERACTIVE_MODES:
        return None
    from IPython.display import display

    panel = ControlPanel(values, data=data, mode=resolved, diagnostics=diagnostics)
    display(panel)
    return panel


def _make_controls(values: Mapping[str, Any]) -> dict[str, Any]:
    """One widget per panel parameter, holding the notebook's value exactly (else `ValueError`)."""
    import ipywidgets as widgets
    from traitlets import TraitError

    look = {"style": {"description_width": "110px"}, "layout": widgets.Layout(width="auto")}
    slider = {**look, "continuous_update": False}
    kinds = {
        "model": (widgets.Dropdown, {"options": _with(MODEL_CHOICES, values["model"]), **look}),
        "normalization": (
            widgets.Dropdown,
            {"options": _with(NOTEBOOK_NORMALIZATIONS, values["normalization"]), **look},
        ),
        "epochs": (widgets.IntSlider, {**_spanning(values["epochs"], 1, 20), **slider}),
        "batch_size": (
            widgets.SelectionSlider,
            {"options": _with(_BATCH_SIZES, values["batch_size"], sort=True), **slider},
        ),
        "learning_rate": (
            widgets.FloatLogSlider,
            {**_exponent_range(values["learning_rate"]), "base": 10, "step": 0.1, **slider},
        ),
        "optimizer": (
            widgets.Dropdown,
            {"options": _with(OPTIMIZERS, values["optimizer"]), **look},
        ),
        "data_init": (widgets.Checkbox, {"indent": False}),
        "init_style": (
            widgets.Dropdown,
            {"options": _with(INIT_STYLES, values["init_style"]), **look},
        ),
        "seed": (widgets.IntSlider, {**_spanning(values["seed"], 0, 9), **slider}),
        "train_limit": (
            widgets.SelectionSlider,
            {"options": _train_size_options(values["train_limit"]), **slider},
        ),
        "jit_compile": (
            widgets.Dropdown,
            {"options": _labelled(_JIT_COMPILE, values["jit_compile"]), **look},
        ),
        "steps_per_execution": (
            widgets.Dropdown,
            {"options": _labelled(_steps_options(), values["steps_per_execution"]), **look},
        ),
    }
    controls = {}
    for name, (kind, options) in kinds.items():
        try:
            control = kind(value=values[name], description=PANEL_PARAMETERS[name], **options)
        except TraitError:  # a value of a type the widget refuses (a string for a slider)
            control = None
        shown = getattr(control, "value", None)
        expected = f"a value its {kind.__name__} can hold unchanged (it would show {shown!r})"
        check(name, values[name], control is not None and _same(shown, values[name]), expected)
        controls[name] = control
    return controls


def _same(shown: Any, value: Any) -> bool:
    """Whether a widget shows `value` itself, not a converted one (`True` for 1, 2 for 2.0)."""
    same_kind = isinstance(shown, bool) == isinstance(value, bool)
    return shown == value and same_kind and (is_int(value) or not is_int(shown))


def _spanning(value: Any, low: int, high: int) -> dict[str, int]:
    """An integer slider's range: `low` to `high`, widened to hold `value`."""
    return (
        {"min": min(low, value), "max": max(high, value)}
        if is_int(value)
        else {"min": low, "max": high}
    )


def _exponent_range(rate: Any) -> dict[str, float]:
    """The log slider's range: `_LEARNING_RATE_EXPONENTS`, widened to hold `rate`."""
    low, high = _LEARNING_RATE_EXPONENTS
    if isinstance(rate, (int, float)) and 0 < rate < math.inf:
        exponent = math.log10(rate)
        low, high = min(low, math.floor(exponent)), max(high, math.ceil(exponent))
    return {"min": low, "max": high}


def _with(choices: Sequence, value, sort: bool = False) -> tuple:
    """`choices` plus `value` if missing, so a notebook's value (valid or not) is shown."""
    options = tuple(choices) if value in choices else (*choices, value)
    return tuple(sorted(options)) if sort else options


def _steps_options() -> tuple[tuple[str, Any], ...]:
    return (("auto", AUTO), *((str(steps), steps) for steps in _STEPS_PER_EXECUTION))


def _labelled(options: Sequence[tuple[str, Any]], value: Any) -> list[tuple[str, Any]]:
    """`(label, value)` options plus `value` if no option holds it with its own type (a
    Dropdown matches by `==`, and `True == 1`)."""
    held = any(_same(option, value) for _, option in options)
    return [*options, *([] if held else [(repr(value), value)])]


def _train_size_options(value: int) -> list[tuple[str, int]]:
    sizes = sorted(set(_with(_TRAIN_SIZES, value)) - {0})
    return [(f"{size:,}", size) for size in sizes] + [("all", 0)]
