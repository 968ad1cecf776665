"""labkit.paper.experiment: one run of the paper's protocol, recorded like every labkit run."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from labkit.paper.experiment import ClassificationError, paper_speed, run_paper_experiment
from labkit.paper.params import PaperParams
from labkit.results import read_history
from labkit.speed import Speed


def test_the_error_metric_is_one_minus_accuracy():
    metric = ClassificationError()
    metric.update_state(np.eye(3)[[0, 1, 2, 2]], np.eye(3)[[0, 2, 2, 1]] * 5.0)
    assert float(metric.result()) == pytest.approx(0.5)
    assert ClassificationError.from_config(metric.get_config()).name == "error"


def test_auto_speed_settings_are_resolved_for_the_length_of_the_run():
    """`labkit.speed`'s "auto": several steps per call only for runs of >= 1,000 steps."""
    several = 32 if keras.backend.backend() != "torch" else 1
    assert paper_speed(PaperParams(schedule="gpu"), 500).steps_per_execution == several
    assert paper_speed(PaperParams(schedule="cpu"), 10).steps_per_execution == 1
    assert paper_speed(PaperParams(jit_compile=True, steps_per_execution=1), 10) == Speed(True, 1)


@pytest.mark.slow
def test_a_run_trains_records_and_follows_the_schedule(small_whitened, tmp_path, seeded):
    steps_per_execution = 1 if keras.backend.backend() == "torch" else 2  # Keras' limit
    params = {
        "normalization": "weightnorm+meanonly",
        "schedule": "cpu",
        "epochs": 2,
        "output_dir": str(tmp_path),
        "jit_compile": False,
        "steps_per_execution": steps_per_execution,
    }
    result = run_paper_experiment(params, data=small_whitened)
    assert result.status == "completed" and result.epochs_completed == 2
    history = result.history
    assert {"loss", "accuracy", "error", "val_accuracy", "val_error"} <= set(history)
    np.testing.assert_allclose(history["error"], 1 - np.array(history["accuracy"]), atol=1e-6)
    np.testing.assert_allclose(
        history["val_error"], 1 - np.array(history["val_accuracy"]), atol=1e-6
    )
    model = result.model
    assert model.steps_per_execution == steps_per_execution and model.jit_compile is False
    compiled = {"jit_compile": False, "steps_per_execution": steps_per_execution}
    assert result.compiled == compiled
    optimizer = model.optimizer
    steps = int(optimizer.iterations)
    assert steps == 2 * 6  # 600 images in batches of 100, two epochs
    assert optimizer.beta_1_at(5) == pytest.approx(0.9)  # epoch 0: before the decay
    assert optimizer.beta_1_at(6) == pytest.approx(0.5)  # epoch 1: the second half
    assert float(optimizer.learning_rate) == 0.0  # the decay reaches zero after the last epoch
    metrics = json.loads((tmp_path / "weightnorm_meanonly" / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["params"]["schedule"] == "cpu"
    assert metrics["params"]["normalization"] == "weightnorm+meanonly"
    assert metrics["compiled"] == compiled
    frame = read_history(tmp_path / "weightnorm_meanonly")
    assert frame["val_error"].tolist() == pytest.approx(history["val_error"])
    assert result.steps["step"][-1] == steps
