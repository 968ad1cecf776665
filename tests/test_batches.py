"""`ShuffledBatches`: a fresh, seeded order every epoch, seen by training itself, on every backend.

The order is recorded inside the model's forward pass (each example's input is its own index),
so these tests see what training saw, prefetching included.
`tests/integration/test_backends.py` runs this module under JAX and PyTorch too.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from labkit.batches import ShuffledBatches

EXAMPLES, BATCH, EPOCHS = 64, 8, 3


class _RecordIds(keras.layers.Layer):
    """Passes its input through and appends the batch's example ids to `seen` (eager only)."""

    def __init__(self, seen: list, **kwargs):
        super().__init__(**kwargs)
        self.record = seen.extend  # not the list itself: Keras would track a copy of it

    def call(self, x, training=None):
        if training:
            self.record(int(i) for i in keras.ops.convert_to_numpy(x)[:, 0])
        return x


def _order_seen_in_training(seed: int, epochs: int = EPOCHS, spe: int = 1) -> np.ndarray:
    """Trains a tiny model as `run_experiment` does and returns the ids it trained on, per epoch."""
    keras.utils.set_random_seed(seed)
    seen: list[int] = []
    x = np.arange(EXAMPLES, dtype="float32").reshape(-1, 1)
    y = np.zeros((EXAMPLES, 1), "float32")
    model = keras.Sequential([keras.Input((1,)), _RecordIds(seen), keras.layers.Dense(1)])
    model.compile("sgd", "mse", run_eagerly=True, steps_per_execution=spe)
    batches = ShuffledBatches(x, y, BATCH, seed=seed)
    model.fit(**batches.fit_arguments(epochs), epochs=epochs, verbose=0)
    return np.array(seen).reshape(epochs, EXAMPLES)


@pytest.mark.slow
def test_every_epoch_draws_a_fresh_permutation():
    order = _order_seen_in_training(seed=0)
    for epoch in range(EPOCHS):
        assert sorted(order[epoch]) == list(range(EXAMPLES))  # each example once per epoch
    for a in range(EPOCHS):
        for b in range(a + 1, EPOCHS):
            assert not np.array_equal(order[a], order[b]), f"epochs {a} and {b} repeat"


# 3 steps per call do not divide the 8 batches of an epoch: each epoch must still end on its
# own last batch, never run into the next epoch's (PyTorch's trainer runs one step per call).
SPE = [1] if keras.backend.backend() == "torch" else [1, 3]


@pytest.mark.slow
@pytest.mark.parametrize("spe", SPE)
def test_the_order_is_the_documented_seeded_permutation(spe):
    # default_rng([seed, epoch]) is backend-free, so all backends train on this same sequence.
    order = _order_seen_in_training(seed=3, spe=spe)
    batches = ShuffledBatches(np.zeros((EXAMPLES, 1)), np.zeros((EXAMPLES, 1)), BATCH, seed=3)
    expected = [np.random.default_rng([3, epoch]).permutation(EXAMPLES) for epoch in range(3)]
    np.testing.assert_array_equal(order, np.stack(expected))
    np.testing.assert_array_equal(batches.permutation(2), expected[2])


@pytest.mark.slow
def test_same_seed_same_sequence_other_seed_other_sequence():
    first = _order_seen_in_training(seed=1)
    np.testing.assert_array_equal(first, _order_seen_in_training(seed=1))
    assert not np.array_equal(first, _order_seen_in_training(seed=2))


def test_last_batch_holds_the_remainder():
    batches = ShuffledBatches(np.zeros((20, 2)), np.zeros((20, 1)), batch_size=8, seed=0)
    assert len(batches) == 3
    assert [len(batches[i][0]) for i in range(3)] == [8, 8, 4]


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        (np.zeros((3, 1)), np.zeros((2, 1)), "as many examples"),
        (np.zeros((0, 1)), np.zeros((0, 1)), "no examples"),
    ],
)
def test_rejects_mismatched_or_empty_arrays(x, y, message):
    with pytest.raises(ValueError, match=message):
        ShuffledBatches(x, y, batch_size=2, seed=0)


@pytest.mark.slow
def test_the_dataset_itself_serves_the_same_order_without_fit_arguments():
    # The PyDataset form (used directly on JAX and PyTorch), here on whatever backend runs.
    keras.utils.set_random_seed(0)
    seen: list[int] = []
    x = np.arange(EXAMPLES, dtype="float32").reshape(-1, 1)
    model = keras.Sequential([keras.Input((1,)), _RecordIds(seen), keras.layers.Dense(1)])
    model.compile("sgd", "mse", run_eagerly=True)
    batches = ShuffledBatches(x, np.zeros((EXAMPLES, 1), "float32"), BATCH, seed=5)
    model.fit(batches, epochs=2, shuffle=False, verbose=0)
    expected = [np.random.default_rng([5, epoch]).permutation(EXAMPLES) for epoch in range(2)]
    np.testing.assert_array_equal(np.array(seen).reshape(2, EXAMPLES), np.stack(expected))


def _tiny_dataset():
    from labkit.data import CIFAR10_CLASSES, Dataset

    rng = np.random.default_rng(0)
    labels = np.eye(10, dtype="float32")[np.arange(96) % 10]
    images = rng.random((96, 32, 32, 3), dtype=np.float32)
    return Dataset("cifar10", images[:64], labels[:64], images[64:], labels[64:], CIFAR10_CLASSES)


@pytest.mark.slow
def test_run_experiment_trains_on_shuffled_batches(monkeypatch):
    from labkit.experiment import run_experiment

    used = []
    fit_arguments = ShuffledBatches.fit_arguments

    def spy(self, epochs):
        used.append((self.seed, self.batch_size, epochs))
        return fit_arguments(self, epochs)

    monkeypatch.setattr(ShuffledBatches, "fit_arguments", spy)
    result = run_experiment({"epochs": 2, "batch_size": 16, "seed": 4}, data=_tiny_dataset())
    assert used == [(4, 16, 2)]
    assert result.epochs_completed == 2 and result.status == "completed"


@pytest.mark.slow
@pytest.mark.parametrize(("init_style", "examples"), [("tfa", 16), ("paper", 64)])
def test_data_init_sees_the_first_batch_in_tfa_style(monkeypatch, init_style, examples):
    import labkit.weightnorm
    from labkit.experiment import run_experiment

    data = _tiny_dataset()
    seen = []
    real_data_init = labkit.weightnorm.data_init

    def spy(model, x):
        seen.append(x)
        return real_data_init(model, x)

    monkeypatch.setattr(labkit.weightnorm, "data_init", spy)
    params = {"weight_norm": True, "init_style": init_style, "epochs": 1, "batch_size": 16}
    run_experiment({**params, "seed": 2}, data=data)
    assert len(seen[0]) == examples
    if init_style == "tfa":  # tfa initializes on the first training batch, as in its first step
        first = ShuffledBatches(data.x_train, data.y_train, 16, seed=2)[0][0]
        np.testing.assert_array_equal(seen[0], first)
