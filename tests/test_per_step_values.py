"""Per-step training values recovered from Keras' running means (`labkit.running_means`), as
`StepRecorder` writes them and `LivePlot` draws them, at any `steps_per_execution`.

Backend-neutral: `tests/integration/test_backends.py` runs this module under JAX and PyTorch
too (PyTorch's trainer allows only `steps_per_execution=1`).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from labkit import LivePlot, WeightNormalization
from labkit.live.diagnostics import series_name
from labkit.params import ExperimentParams
from labkit.recording import StepRecorder
from labkit.results import RunResult
from labkit.running_means import EpochExamples, StepValues

EXAMPLES, BATCH, EPOCHS = 70, 8, 2  # 9 batches per epoch, the last of 6 examples
STEPS = -(-EXAMPLES // BATCH)


def _spe(request_value: int) -> int:
    if request_value > 1 and keras.backend.backend() == "torch":
        pytest.skip("Keras' PyTorch trainer runs one step per execution only")
    return request_value


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(EXAMPLES, 5)).astype("float32")
    return x, np.eye(3, dtype="float32")[rng.integers(0, 3, EXAMPLES)]


def _frozen_model(spe: int) -> keras.Model:
    """A model that does not learn (learning rate 0): each batch's loss is known beforehand."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(
        keras.optimizers.SGD(0.0),
        "categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=spe,
    )
    return model


def _expected(model, x, y, spe: int) -> dict[str, list[float]]:
    """Per execution of `spe` batches: its steps done, and its mean loss and accuracy over its
    examples, computed from the (frozen) model's predictions, for every epoch."""
    probabilities = keras.ops.convert_to_numpy(model(x)).astype(np.float64)
    losses = -np.log(np.sum(probabilities * y, axis=1))
    hits = (probabilities.argmax(1) == y.argmax(1)).astype(np.float64)
    expected = {"step": [], "loss": [], "accuracy": []}
    for epoch in range(EPOCHS):
        for first in range(0, STEPS, spe):
            last = min(first + spe, STEPS)
            chosen = slice(first * BATCH, last * BATCH)
            expected["step"].append(epoch * STEPS + last)
            expected["loss"].append(losses[chosen].mean())
            expected["accuracy"].append(hits[chosen].mean())
    return expected


@pytest.mark.slow
@pytest.mark.parametrize("spe", [1, 4])
def test_each_step_or_execution_gets_its_own_values_exactly(spe):
    spe = _spe(spe)
    x, y = _data()
    model = _frozen_model(spe)
    expected = _expected(model, x, y, spe)
    result = RunResult(ExperimentParams())
    recorder = StepRecorder(result)  # sizes unknown: read from Keras' loss tracker
    plot = LivePlot(mode="off", label="frozen")
    model.fit(x, y, BATCH, EPOCHS, verbose=0, callbacks=[recorder, plot], shuffle=False)

    assert result.steps["step"] == expected["step"]
    run = plot.history.runs["frozen"]
    for metric in ("loss", "accuracy"):
        np.testing.assert_allclose(result.steps[metric], expected[metric], rtol=1e-5, atol=1e-6)
        series = run.series[metric]
        np.testing.assert_allclose(series.column("y"), expected[metric], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(series.column("steps"), expected["step"])
    # A point per execution, at the execution's last step (the last one cut at the epoch's end).
    np.testing.assert_allclose(run.series["loss"].column("epochs"), np.array(expected["step"]) / 9)
    assert run.state == "completed" and run.fraction_done == 1.0 and run.step == EPOCHS * STEPS
    np.testing.assert_allclose(run.epoch_ends.column("steps"), [STEPS, 2 * STEPS])


@pytest.mark.slow
@pytest.mark.parametrize("spe", [1, 4])
def test_the_curve_runs_on_across_the_epoch_boundary(spe):
    """Frozen weights and a fixed order: epoch 2 repeats epoch 1's values exactly, where Keras'
    running mean restarts from the first batch's value and flattens out again."""
    spe = _spe(spe)
    x, y = _data()
    model = _frozen_model(spe)
    plot = LivePlot(mode="off", label="frozen", smoothing=0.6)
    model.fit(x, y, BATCH, EPOCHS, verbose=0, callbacks=[plot], shuffle=False)
    series = plot.history.runs["frozen"].series["loss"]
    values, means = series.column("y"), series.column("running_mean")
    per_epoch = len(values) // EPOCHS
    np.testing.assert_allclose(values[per_epoch:], values[:per_epoch], rtol=1e-5)
    assert means[per_epoch] == pytest.approx(values[0], rel=1e-5)  # Keras restarts its mean
    drawn = plot.figure().to_dict()
    smoothed = next(t for t in drawn["data"] if t["name"] == "frozen (train)" and t["xaxis"] == "x")
    assert None not in smoothed["y"] and len(smoothed["y"]) == len(values)
    assert [shape["x0"] for shape in drawn["layout"]["shapes"] if shape["xref"] == "x"] == [1.0]


@pytest.mark.slow
@pytest.mark.parametrize("spe", [1, 4])
def test_title_and_eta_follow_the_executions(spe):
    spe = _spe(spe)
    x, y = _data()
    model = _frozen_model(spe)
    plot = LivePlot(mode="off", label="frozen")
    seen = []

    class Watch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            run = plot.history.runs["frozen"]
            seen.append((run.batches_done, run.step, run.eta is not None))

    model.fit(x, y, BATCH, EPOCHS, verbose=0, callbacks=[plot, Watch()], shuffle=False)
    calls = -(-STEPS // spe)
    assert len(seen) == EPOCHS * calls
    assert seen[0] == (min(spe, STEPS), min(spe, STEPS), True)
    assert seen[calls - 1][:2] == (STEPS, STEPS)  # the short last execution ends the epoch
    assert "frozen: completed" in plot.figure().layout.title.text


@pytest.mark.slow
@pytest.mark.parametrize("spe", [1, 4])
def test_diagnostics_are_measured_at_execution_boundaries(spe):
    spe = _spe(spe)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((5,)),
            WeightNormalization(keras.layers.Dense(4, activation="relu"), data_init=False),
            WeightNormalization(keras.layers.Dense(3, activation="softmax"), data_init=False),
        ]
    )
    model.compile(keras.optimizers.SGD(0.1), "categorical_crossentropy", steps_per_execution=spe)
    x, y = _data()
    plot = LivePlot(mode="off", label="wn", diagnostics=True, diagnostics_every=5)
    history = model.fit(x, y, BATCH, EPOCHS, verbose=0, callbacks=[plot], shuffle=False)
    series = plot.history.runs["wn"].series
    steps = series[series_name("dense", "effective_step")].column("steps")
    # Calls end at steps 4, 8, 9, 13, 17, 18 (spe=4): the first at or past 5, 10 and 15.
    assert steps.tolist() == ([5.0, 10.0, 15.0] if spe == 1 else [8.0, 13.0, 17.0])
    for layer in ("dense", "dense_1"):
        changes = series[series_name(layer, "effective_step")].column("y")
        assert np.all(np.isfinite(changes)) and np.all(changes > 0), layer
    assert len(history.history[series_name("dense", "v_norm")]) == EPOCHS


def test_step_values_unit():
    values = StepValues()
    assert values.after({"loss": 3.0}, seen=4) == ({"loss": 3.0}, 4.0)
    # A last batch of 2 examples whose loss was 1.5: (2.5 * 6 - 3.0 * 4) / 2.
    assert values.after({"loss": 2.5}, seen=6) == ({"loss": 1.5}, 2.0)
    assert values.after({"loss": 2.5}, seen=6) == ({}, 0.0)  # nothing new
    values.start_epoch()
    assert values.after({"loss": 0.5}, seen=4) == ({"loss": 0.5}, 4.0)
    nan = values.after({"loss": float("inf")}, seen=8)[0]["loss"]
    assert nan == float("inf") and np.isnan(values.after({"loss": float("inf")}, 9)[0]["loss"])


def test_epoch_examples_with_known_sizes_and_without_a_model():
    counter = EpochExamples(batch_size=32, examples=100)
    counter.start_epoch()
    assert [counter.seen(None, batch, steps=4) for batch in range(4)] == [32, 64, 96, 100]
    unknown = EpochExamples()
    unknown.start_epoch()
    assert [unknown.seen(None, batch, steps=4) for batch in (1, 3)] == [2.0, 4.0]  # in batches
