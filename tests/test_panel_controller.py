"""labkit.panel_controller: background training, one stop signal, the data cache; no widgets."""

from __future__ import annotations

import subprocess
import sys

import pytest

from labkit.live import LivePlot
from labkit.notebook_contract import tutorial_runs
from labkit.panel_controller import PanelController
from labkit.params import ExperimentParams

TINY = {"epochs": 2, "batch_size": 50}


class StopAfterTraining(LivePlot):
    """Presses Stop at a given moment of the fit of the run called `run`, as a user might."""

    def __init__(self, run: str, moment: str):
        super().__init__(mode="off")
        self.stop_run, self.moment = run, moment

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        last = epoch + 1 == self.params["epochs"]
        if self.moment == "after the last batch" and last and self._run == self.stop_run:
            self.stop()

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        if self.moment == "between runs" and self._run == self.stop_run:
            self.stop()


@pytest.fixture
def controller(random_cifar10, monkeypatch):
    def no_loading(self):
        raise AssertionError("the kept dataset should have been used")

    monkeypatch.setattr(ExperimentParams, "load_data", no_loading)
    messages = []
    controller = PanelController(LivePlot(mode="off"), on_message=lambda m, e: messages.append(m))
    controller.keep_data({**TINY, "dataset": "cifar10"}, random_cifar10)
    controller.messages = messages
    return controller


def test_needs_no_widgets():
    code = "import sys, labkit.panel_controller; print('ipywidgets' in sys.modules)"
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert output.stdout.strip() == "False"


@pytest.mark.slow
def test_trains_every_run_in_the_background_on_the_kept_data(controller):
    controller.train(tutorial_runs("both", **TINY))
    controller.join(timeout=120)
    assert not controller.running
    assert [(name, r.status) for name, r in controller.results.items()] == [
        ("regular", "completed"),
        ("weightnorm", "completed"),
    ]
    assert controller.messages[:2] == ["Loading data…", "Training Regular ConvNet…"]
    assert controller.message.startswith("Done. regular: completed, 2 epochs")


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["after the last batch", "between runs"])
def test_a_stop_with_no_batch_left_to_stop_still_ends_the_session(controller, moment):
    controller.live = StopAfterTraining("regular", moment)
    controller.train(tutorial_runs("both", **TINY), wait=True)
    assert list(controller.results) == ["regular"]  # the WeightNorm run never started
    assert controller.message.startswith("Stopped. regular: completed, 2 epochs")
    assert not controller.live.stop_event.is_set()  # consumed: the next Train runs in full
    controller.live.moment = None
    controller.train(tutorial_runs("both", **TINY), wait=True)
    assert list(controller.results) == ["regular", "weightnorm"]


@pytest.mark.slow
def test_data_is_loaded_again_only_when_what_decides_it_changes(
    controller, random_cifar10, monkeypatch
):
    loaded = []

    def load(self):
        loaded.append(self.seed)
        return random_cifar10

    monkeypatch.setattr(ExperimentParams, "load_data", load)
    for seed in (0, 1, 1):  # seed 0: the kept dataset
        controller.train(tutorial_runs("regular", **{**TINY, "epochs": 1}, seed=seed), wait=True)
        assert controller.results["regular"].status == "completed"
    assert loaded == [1]
