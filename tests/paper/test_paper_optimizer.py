"""labkit.paper.optimizer and the schedules: the authors' Adam, its `beta_1` switch, and how
Keras 3's own Adam handles a `beta_1` changed mid-training.

`tests/integration/test_backends.py` runs this module under JAX and PyTorch too.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from labkit.paper.optimizer import PaperAdam
from labkit.paper.schedule import SCHEDULES, PaperSchedule
from labkit.paper.step_schedules import HeldThenLinearDecay, epoch_switch

BACKEND = keras.backend.backend()
X = np.random.default_rng(0).normal(size=(12, 3)).astype("float32")
Y = (X @ np.array([[1.0], [-2.0], [0.5]]) + 0.3).astype("float32")
BATCH = 3  # 4 steps per epoch


def _linear(optimizer) -> keras.Model:
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")]
    )
    model.compile(optimizer, "mse")
    return model


def _kernel(model) -> np.ndarray:
    return ops.convert_to_numpy(model.layers[0].kernel).ravel()


def _authors_adam(schedule: PaperSchedule, lr: float) -> np.ndarray:
    """`nn.adam_updates` with train.py's per-epoch `lr` and `mom1`, on the linear model."""
    w = np.zeros((3, 1))
    m, v, t = np.zeros_like(w), np.zeros_like(w), 1
    for epoch in range(schedule.epochs):
        rate, mom1 = lr * schedule.learning_rate_factor(epoch), schedule.beta_1(epoch)
        for start in range(0, len(X), BATCH):
            x, y = X[start : start + BATCH].astype(np.float64), Y[start : start + BATCH]
            g = 2.0 / len(x) * x.T @ (x @ w - y)
            m = mom1 * m + (1 - mom1) * g
            v = 0.999 * v + 0.001 * g**2
            w -= rate * (m / (1 - mom1**t)) / np.sqrt(v / (1 - 0.999**t) + 1e-8)
            t += 1
    return w.ravel()


@pytest.mark.slow  # a few steps of a linear model
def test_paper_adam_in_fit_follows_the_authors_updates_and_schedule():
    schedule = PaperSchedule("test", epochs=4)  # held for 2 epochs, then 1 and 0.5 of the rate
    assert [schedule.learning_rate_factor(e) for e in range(4)] == [1.0, 1.0, 1.0, 0.5]
    learning_rate, beta_1 = schedule.keras_schedules(0.1, steps_per_epoch=len(X) // BATCH)
    model = _linear(PaperAdam(learning_rate, beta_1=beta_1))
    model.fit(X, Y, batch_size=BATCH, epochs=4, shuffle=False, verbose=0)
    np.testing.assert_allclose(_kernel(model), _authors_adam(schedule, 0.1), rtol=2e-5, atol=1e-6)
    # Without the switch to 0.5 the trajectory is another one: the switch took effect.
    constant = PaperSchedule("test", epochs=4)
    model = _linear(PaperAdam(constant.keras_schedules(0.1, 4)[0], beta_1=0.9))
    model.fit(X, Y, batch_size=BATCH, epochs=4, shuffle=False, verbose=0)
    assert np.abs(_kernel(model) - _authors_adam(schedule, 0.1)).max() > 1e-3


class _SetBeta1(keras.callbacks.Callback):
    """Sets `beta_1` to 0.5 from the second epoch on, as a float or into a variable."""

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            beta_1 = self.model.optimizer.beta_1
            if isinstance(beta_1, keras.Variable):
                beta_1.assign(0.5)
            else:
                self.model.optimizer.beta_1 = 0.5


def _stock_adam_kernel(beta_1, callback: bool) -> np.ndarray:
    keras.utils.set_random_seed(0)
    model = _linear(keras.optimizers.Adam(0.1, beta_1=beta_1))
    callbacks = [_SetBeta1()] if callback else []
    model.fit(X, Y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0, callbacks=callbacks)
    return _kernel(model)


@pytest.mark.slow  # a few steps of a linear model
def test_what_keras_own_adam_does_with_a_beta_1_changed_by_a_callback():
    """Why `PaperAdam` takes `beta_1` as a schedule (see labkit/paper/optimizer.py)."""
    unchanged = _stock_adam_kernel(0.9, callback=False)
    as_float = _stock_adam_kernel(0.9, callback=True)
    # A float is read when the step is traced: ignored on TensorFlow and JAX, used by PyTorch.
    assert np.allclose(as_float, unchanged) == (BACKEND in ("tensorflow", "jax"))
    variable = keras.Variable(0.9, trainable=False, name="beta_1")
    as_variable = _stock_adam_kernel(variable, callback=True)
    assert not np.allclose(as_variable, unchanged)  # a variable works on every backend ...
    optimizer = keras.optimizers.Adam(0.1, beta_1=keras.Variable(0.9, trainable=False))
    if BACKEND == "tensorflow":
        optimizer.get_config()
    else:  # ... but the optimizer no longer serializes (so the model cannot be saved)
        with pytest.raises(TypeError, match="Cannot serialize"):
            keras.saving.serialize_keras_object(optimizer)


def test_the_learning_rate_schedule_is_the_authors_at_200_epochs():
    schedule = HeldThenLinearDecay(0.001, steps_per_epoch=500, epochs=200, decay_start=100)
    for epoch in (0, 50, 99, 100, 101, 150, 199):
        expected = 0.001 * min(2.0 - epoch / 100.0, 1.0)  # train.py
        for step in (epoch * 500, epoch * 500 + 499):
            assert float(schedule(step)) == pytest.approx(expected, rel=1e-6), (epoch, step)
    beta_1 = epoch_switch(0.9, 0.5, epoch=100, steps_per_epoch=500)
    assert [float(beta_1(step)) for step in (0, 49_999, 50_000, 99_999)] == pytest.approx(
        [0.9, 0.9, 0.5, 0.5]
    )
    assert SCHEDULES["full"].decay_start == 100 and SCHEDULES["gpu"].decay_start == 13
    assert SCHEDULES["cpu"].epochs == 4 and SCHEDULES["cpu"].train_limit == 1000


@pytest.mark.slow  # a few steps of a linear model
def test_paper_adam_serializes_with_its_schedules(tmp_path):
    learning_rate, beta_1 = SCHEDULES["gpu"].keras_schedules(0.001, steps_per_epoch=500)
    optimizer = PaperAdam(learning_rate, beta_1=beta_1)
    copy = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(copy, PaperAdam) and copy.epsilon == 1e-8
    assert copy.beta_1_at(13 * 500 - 1) == pytest.approx(0.9)
    assert copy.beta_1_at(13 * 500) == pytest.approx(0.5)
    model = _linear(optimizer)
    model.fit(X, Y, batch_size=BATCH, epochs=1, verbose=0)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert isinstance(loaded.optimizer, PaperAdam)
    assert float(loaded.optimizer.learning_rate) == pytest.approx(0.001)


def test_amsgrad_is_refused():
    with pytest.raises(ValueError, match="AMSGrad"):
        PaperAdam(amsgrad=True)
