"""labkit.controls: the panel's controls, validation messages, training in the background, Stop."""

from __future__ import annotations

import time

import pytest

from labkit.controls import ControlPanel, show_panel

NOTEBOOK_VALUES = {
    "dataset": "cifar10",
    "model": "both",
    "epochs": 2,
    "batch_size": 50,
    "learning_rate": 0.001,
    "optimizer": "adam",
    "seed": 0,
    "data_init": True,
    "train_limit": 0,
    "test_limit": 0,
    "output_dir": "",
    "archive": "",
}


@pytest.fixture(autouse=True)
def headless(monkeypatch):
    monkeypatch.delenv("LABKIT_LIVE", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)


@pytest.fixture
def tiny_cifar10(offline_cifar10) -> dict:
    """Parameters for 200 training and 100 test images of the offline copy."""
    return {"train_limit": 200, "test_limit": 100}


def _panel(**changes) -> ControlPanel:
    return ControlPanel({**NOTEBOOK_VALUES, **changes}, mode="static")


def test_controls_start_from_the_notebook_values():
    panel = _panel(epochs=7, batch_size=48, learning_rate=0.003, seed=3, train_limit=3000)
    values = {name: control.value for name, control in panel.controls.items()}
    assert values == {
        "model": "both",
        "normalization": "",
        "epochs": 7,
        "batch_size": 48,
        "learning_rate": pytest.approx(0.003),
        "optimizer": "adam",
        "data_init": True,
        "init_style": "paper",
        "seed": 3,
        "train_limit": 3000,
        "jit_compile": "auto",
        "steps_per_execution": "auto",
    }
    assert 48 in panel.controls["batch_size"].options  # added beside the usual sizes
    assert panel.controls["learning_rate"].base == 10  # a log slider


def test_the_panel_picks_any_normalization():
    panel = _panel()
    assert set(panel.controls["normalization"].options) >= {"", "batchnorm", "weightnorm+meanonly"}
    panel.controls["normalization"].value = "weightnorm+meanonly"
    assert [run.run_name for run in panel.runs()] == ["weightnorm_meanonly"]
    panel.controls["normalization"].value = "all"
    assert len(panel.runs()) == 4


def test_a_learning_rate_outside_the_usual_range_is_kept_not_clamped():
    for rate in (1e-6, 3e-8, 10):  # the notebook allows any rate in (0, 10]
        panel = _panel(learning_rate=rate)
        assert panel.controls["learning_rate"].value == rate
        assert [run.learning_rate for run in panel.runs()] == [rate, rate]


@pytest.mark.parametrize(
    ("changes", "received"),
    [
        ({"learning_rate": 0.0}, "`learning_rate=0.0`"),
        ({"epochs": 2.5}, "`epochs=2.5`"),
        ({"seed": True}, "`seed=True`"),
        ({"data_init": 1}, "`data_init=1`"),
        ({"epochs": "3"}, "`epochs='3'`"),
    ],
)
def test_values_no_control_can_hold_are_refused_not_changed(changes, received):
    with pytest.raises(ValueError) as error:
        _panel(**changes)
    message = str(error.value)
    assert message.startswith(f"Invalid value for `{next(iter(changes))}`: expected a value its ")
    assert message.endswith(f"Received: {received}") and "\n" not in message


def test_the_init_style_is_a_dropdown():
    panel = _panel(init_style="tfa", model="weightnorm")
    assert panel.controls["init_style"].options == ("paper", "tfa")
    assert [run.init_style for run in panel.runs()] == ["tfa"]


def test_runs_use_the_controls_and_write_beside_the_notebook_runs():
    panel = _panel(output_dir="runs/weight_norm")
    panel.controls["learning_rate"].value = 0.01
    panel.controls["optimizer"].value = "sgd"
    panel.controls["model"].value = "weightnorm"
    (run,) = panel.runs()
    assert run.weight_norm and run.optimizer == "sgd"
    assert run.learning_rate == pytest.approx(0.01)
    assert run.output_dir == "runs/weight_norm/panel"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"train_limit": 5}, "Invalid value for `train_limit`: expected 0 or >= 10."),
        ({"optimizer": "adagrad"}, "Invalid value for `optimizer`"),
        ({"archive": "/nonexistent/cifar10.tar.gz"}, "Invalid value for `archive`"),
    ],
)
def test_invalid_values_show_a_message_in_the_panel(changes, expected):
    panel = _panel(**changes)
    panel.train()
    assert panel.message.startswith(expected) and "Received:" in panel.message
    assert "color:#d62728" in panel.status.value
    assert not panel.running and not panel.train_button.disabled


def test_errors_while_training_show_a_message_not_a_traceback(tmp_path):
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"not an archive")
    panel = _panel(archive=str(broken), train_limit=1000)
    panel.train(wait=True)
    assert panel.message.startswith(f"DatasetError: CIFAR-10 archive {broken} is corrupt")
    assert not panel.train_button.disabled and panel.stop_button.disabled


@pytest.mark.slow
def test_train_loads_the_data_and_runs_both_convnets_into_the_figure(tiny_cifar10):
    panel = _panel(**tiny_cifar10)
    panel.train(wait=True)
    assert list(panel.results) == ["regular", "weightnorm"]
    assert all(result.status == "completed" for result in panel.results.values())
    assert set(panel.live.history.runs) == {"regular", "weightnorm"}
    assert panel.message.startswith("Done. regular: completed, 2 epochs")


@pytest.mark.slow
def test_stop_ends_background_training_and_keeps_what_was_computed(tiny_cifar10):
    panel = _panel(**tiny_cifar10, epochs=200)
    panel.train()
    assert panel.running and panel.train_button.disabled and not panel.stop_button.disabled
    deadline = time.monotonic() + 120
    # Wait until the regular ConvNet has trained a few batches (polling another thread).
    while time.monotonic() < deadline:
        run = panel.live.history.runs.get("regular")
        if run is not None and len(run.series["loss"]) >= 3:
            break
        time.sleep(0.05)
    panel.stop_button.click()
    panel.join(timeout=120)
    assert not panel.running
    result = panel.results["regular"]
    assert result.status == "stopped" and 1 <= result.epochs_completed < 200
    assert "weightnorm" not in panel.results  # later runs do not start
    assert len(panel.live.history.runs["regular"].series["loss"]) >= 3
    assert panel.message.startswith("Stopped. regular: stopped")
    assert not panel.train_button.disabled and panel.stop_button.disabled


def test_the_panel_embeds_the_figure_widget_in_widget_mode():
    import plotly.graph_objects as go

    panel = ControlPanel(NOTEBOOK_VALUES, mode="widget")
    assert isinstance(panel.widget.children[-1], go.FigureWidget)


def test_headless_runs_show_no_panel(capsys):
    assert show_panel(NOTEBOOK_VALUES) is None
    assert capsys.readouterr().out == ""


def test_the_panel_figure_has_the_live_toolbar_and_its_controls_act_on_it():
    panel = ControlPanel(NOTEBOOK_VALUES, mode="widget", diagnostics=True)
    toolbar, figure = panel.widget.children[-2:]
    assert toolbar is panel.live.toolbar.widget and "labkit-live-toolbar" in toolbar._dom_classes
    panel.live.toolbar.x_axis.value = "steps"
    panel.live.toolbar.log_y.value = True
    assert figure.layout.xaxis.title.text == "step" and figure.layout.yaxis.type == "log"
    assert [a.text for a in figure.layout.annotations][2] == "‖v‖ (mean over units)"


def test_the_panel_falls_back_to_the_display_figure_with_a_hint(monkeypatch):
    monkeypatch.setattr("labkit.live.callback.widget_problem", lambda: "anywidget not installed")
    panel = ControlPanel(NOTEBOOK_VALUES, mode="widget")
    assert panel.live.mode == "display" and "anywidget not installed" in panel.live.hint
    assert not any(type(child).__name__ == "FigureWidget" for child in panel.widget.children)
