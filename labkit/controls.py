"""An ipywidgets panel to retrain the tutorial's ConvNets with other hyperparameters, live.

The panel's controls start from the notebook's `parameters` cell values (one source of truth).
Train runs the ConvNets one after the other in a background thread, so the kernel keeps
handling widget messages (the Stop button) while `fit` runs; every run draws into the
panel's `LivePlot`. Stop ends the current run after its current batch and keeps its history.
Bad values show as a one-line message in the panel.

Example:

>>> from labkit.controls import show_panel
>>> panel = show_panel({"epochs": 10, "batch_size": 32, "learning_rate": 0.001}, data=data)
"""

from __future__ import annotations

import dataclasses
import html
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from labkit.data import Dataset
from labkit.experiment import run_experiment
from labkit.live import LivePlot, resolve_mode
from labkit.notebook_contract import MODEL_CHOICES, notebook_runs
from labkit.params import DATA_FIELDS, OPTIMIZERS, ExperimentParams
from labkit.results import RunResult

__all__ = ["ControlPanel", "show_panel", "PANEL_PARAMETERS"]

# The parameters the panel lets one change, with their labels; the others keep their notebook
# values.
PANEL_PARAMETERS = {
    "model": "model",
    "epochs": "epochs",
    "batch_size": "batch size",
    "learning_rate": "learning rate",
    "optimizer": "optimizer",
    "data_init": "data-dependent init (WeightNorm)",
    "seed": "seed",
    "train_limit": "training images",
}
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(ExperimentParams)} | {"model": "both"}
_BATCH_SIZES = (16, 32, 64, 128, 256, 512)
_TRAIN_SIZES = (1000, 2000, 5000, 10_000, 20_000)
_INTERACTIVE_MODES = ("widget", "display")


class ControlPanel:
    """Sliders and dropdowns for the tutorial's hyperparameters, with Train and Stop buttons.

    Args:
        values: The notebook's parameter values (names as in its `parameters` cell); the
            controls start from them and the other values are used as they are.
        data: A loaded `Dataset` (one-hot labels) matching `values`, reused while the
            dataset, subset and seed stay the same.
        live: The `LivePlot` to train into; by default one made for `mode`, shown in the panel.
        mode: Live mode of the default `LivePlot` (see `labkit.live.resolve_mode`).

    Attributes:
        results: The `RunResult` of each run of the last Train, by run name; a stopped run
            is kept with `status="stopped"`.
        message: The message the panel shows (plain text).

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
    ):
        import ipywidgets as widgets

        self.defaults = {**_DEFAULTS, **values}
        if live is None:
            resolved = resolve_mode(mode)
            live = LivePlot(mode=resolved, title="Panel runs, live", display=resolved != "widget")
        self.live = live
        self.results: dict[str, RunResult] = {}
        self.message = ""
        self._data: dict[tuple, Dataset] = {}
        if data is not None:
            self._data[_data_key(self.defaults)] = data
        self._thread: threading.Thread | None = None
        self._stop_requested = False

        self.controls = _make_controls(self.defaults)
        self.train_button = widgets.Button(description="Train", button_style="success", icon="play")
        self.stop_button = widgets.Button(
            description="Stop", button_style="danger", icon="stop", disabled=True
        )
        self.train_button.on_click(lambda _: self.train())
        self.stop_button.on_click(lambda _: self.stop())
        self.status = widgets.HTML()
        children = [
            widgets.HTML("<b>Train both ConvNets with other hyperparameters</b>"),
            widgets.GridBox(
                list(self.controls.values()),
                layout=widgets.Layout(grid_template_columns="repeat(2, minmax(280px, 1fr))"),
            ),
            widgets.HBox([self.train_button, self.stop_button, self.status]),
        ]
        if self.live.mode == "widget":
            children.append(self.live.widget)
        self.widget = widgets.VBox(children)

    @property
    def running(self) -> bool:
        """Whether a background training is in progress."""
        return self._thread is not None and self._thread.is_alive()

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

        Example:

        >>> panel.train()  # returns at once; the Stop button works meanwhile
        """
        if self.running:
            self._say("Training is already running: press Stop first.", error=True)
            return
        try:
            runs = self.runs()
        except ValueError as error:
            self._say(str(error), error=True)
            return
        self._stop_requested = False
        self.live.stop_event.clear()
        self.results = {}
        self._set_busy(True)
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

        >>> panel.train(); panel.stop(); panel.join()
        >>> panel.results["regular"].status
        'stopped'
        """
        if not self.running:
            return
        self._stop_requested = True
        self.live.stop()
        self._say("Stopping after the current batch…")

    def join(self, timeout: float | None = None) -> None:
        """Waits for a background training to end.

        Example:

        >>> panel.train()
        >>> panel.join(timeout=600)
        """
        if self._thread is not None:
            self._thread.join(timeout)

    def _train(self, runs: Sequence[ExperimentParams]) -> None:
        try:
            self._say("Loading data…")
            data = self._load(runs[0])
            for params in runs:
                if self._stop_requested:
                    break
                self._say(f"Training {self.live.spec.label(params.run_name)}…")
                self.results[params.run_name] = run_experiment(
                    params, callbacks=[self.live], data=data
                )
            self._say(_summary(self.results, self._stop_requested))
        except Exception as error:
            self._say(f"{type(error).__name__}: {error}", error=True)
        finally:
            self._set_busy(False)

    def _load(self, params: ExperimentParams) -> Dataset:
        key = _data_key(params.to_dict())
        if key not in self._data:
            self._data = {key: params.load_data()}
        return self._data[key]

    def _set_busy(self, busy: bool) -> None:
        self.train_button.disabled = busy
        self.stop_button.disabled = not busy
        for control in self.controls.values():
            control.disabled = busy

    def _say(self, message: str, error: bool = False) -> None:
        self.message = message
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
) -> ControlPanel | None:
    """Displays a `ControlPanel` where widgets work; headless (papermill, scripts) does nothing.

    Args:
        values: The notebook's parameter values.
        data: The `Dataset` already loaded for `values`.
        mode: Live mode (`"auto"` detects it); the panel shows in `"widget"` and `"display"`.

    Returns:
        The panel, or `None` when not interactive.

    Example:

    >>> panel = show_panel(params, data=data, mode=live)
    """
    resolved = resolve_mode(mode)
    if resolved not in _INTERACTIVE_MODES:
        return None
    from IPython.display import display

    panel = ControlPanel(values, data=data, mode=resolved)
    display(panel)
    return panel


def _make_controls(values: Mapping[str, Any]) -> dict[str, Any]:
    import ipywidgets as widgets

    look = {"style": {"description_width": "110px"}, "layout": widgets.Layout(width="auto")}
    slider = {**look, "continuous_update": False}
    epochs, seed = values["epochs"], values["seed"]
    kinds = {
        "model": (widgets.Dropdown, {"options": _with(MODEL_CHOICES, values["model"]), **look}),
        "epochs": (widgets.IntSlider, {"min": min(1, epochs), "max": max(20, epochs), **slider}),
        "batch_size": (
            widgets.SelectionSlider,
            {"options": _with(_BATCH_SIZES, values["batch_size"], sort=True), **slider},
        ),
        "learning_rate": (
            widgets.FloatLogSlider,
            {"base": 10, "min": -5, "max": 1, "step": 0.1, "readout_format": ".1e", **slider},
        ),
        "optimizer": (
            widgets.Dropdown,
            {"options": _with(OPTIMIZERS, values["optimizer"]), **look},
        ),
        "data_init": (widgets.Checkbox, {"indent": False}),
        "seed": (widgets.IntSlider, {"min": min(0, seed), "max": max(9, seed), **slider}),
        "train_limit": (
            widgets.SelectionSlider,
            {"options": _train_size_options(values["train_limit"]), **slider},
        ),
    }
    return {
        name: kind(value=values[name], description=PANEL_PARAMETERS[name], **options)
        for name, (kind, options) in kinds.items()
    }


def _with(choices: Sequence, value, sort: bool = False) -> tuple:
    """`choices` plus `value` if missing, so a notebook's value (valid or not) is shown."""
    options = tuple(choices) if value in choices else (*choices, value)
    return tuple(sorted(options)) if sort else options


def _train_size_options(value: int) -> list[tuple[str, int]]:
    sizes = sorted(set(_with(_TRAIN_SIZES, value)) - {0})
    return [(f"{size:,}", size) for size in sizes] + [("all", 0)]


def _data_key(values: Mapping[str, Any]) -> tuple:
    return tuple(values.get(name) or None for name in DATA_FIELDS)


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
