"""Mini-batches drawn in a fresh, seeded order every epoch, the same on every backend.

`model.fit(x, y, shuffle=True)` on NumPy arrays does not do this in Keras 3 on TensorFlow:
after `keras.utils.set_random_seed`, every epoch replays the first epoch's permutation
(see `docs/keras-shuffle-bug.md`). `ShuffledBatches` owns the order instead: epoch `e`
uses `numpy.random.default_rng([seed, e]).permutation(n)`, so a seeded run is
reproducible, every epoch sees a new order, and TensorFlow, JAX and PyTorch train on the
same batch sequence. On TensorFlow the same sequence is also available as an in-graph
`tf.data` pipeline (`to_tf_dataset`), which avoids a Python call per batch.
"""

from __future__ import annotations

import math

import keras
import numpy as np

__all__ = ["ShuffledBatches"]


class ShuffledBatches(keras.utils.PyDataset):
    """A `keras.utils.PyDataset` of `(x, y)` batches in a new seeded permutation each epoch.

    Pass it to `fit` in place of the arrays, with `shuffle=False` (otherwise Keras also
    shuffles the order of the batches) and no `batch_size`.
    The last batch of an epoch holds the remainder, as with arrays.

    Args:
        x: Inputs, indexed along the first axis.
        y: Targets, as many as `x`.
        batch_size: Examples per batch.
        seed: Seeds the permutations; epoch `e` uses `default_rng([seed, e])`.

    Example:

    >>> batches = ShuffledBatches(np.zeros((100, 3)), np.zeros((100, 1)), batch_size=32, seed=0)
    >>> len(batches), batches[3][0].shape
    (4, (4, 3))
    >>> model.fit(batches, epochs=3, shuffle=False)  # doctest: +SKIP
    """

    def __init__(self, x, y, batch_size: int, seed: int):
        super().__init__()
        if len(x) != len(y):
            raise ValueError(
                f"`x` and `y` must hold as many examples. Received: `len(x)={len(x)}`, "
                f"`len(y)={len(y)}`"
            )
        if len(x) == 0:
            raise ValueError("`x` holds no examples. Received: `len(x)=0`")
        self.x = x
        self.y = y
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0
        self.order = self.permutation(0)
        self._served: set[int] = set()

    def fit_arguments(self, epochs: int) -> dict:
        """Keyword arguments for `model.fit` that train on these batches for `epochs` epochs.

        On TensorFlow this is the `tf.data` form (`to_tf_dataset`), elsewhere the dataset
        itself; both visit the examples in the same order.

        Example:

        >>> model.fit(**batches.fit_arguments(epochs=10), epochs=10)  # doctest: +SKIP
        """
        if keras.backend.backend() == "tensorflow":
            return {"x": self.to_tf_dataset(epochs), "steps_per_epoch": len(self), "shuffle": False}
        return {"x": self, "shuffle": False}

    def to_tf_dataset(self, epochs: int):
        """The batches of `epochs` epochs, in this object's order, as one `tf.data.Dataset`.

        Pass it to `fit` with `steps_per_epoch=len(self)`, so that Keras keeps reading the
        one iterator from epoch to epoch. The batches are gathered in-graph, as Keras does
        for arrays.
        """
        import tensorflow as tf

        orders = np.stack([self.permutation(epoch) for epoch in range(epochs)])
        index_batches = tf.data.Dataset.from_tensor_slices(orders).flat_map(
            lambda order: tf.data.Dataset.from_tensor_slices(order).batch(self.batch_size)
        )
        arrays = tf.data.Dataset.from_tensors((self.x, self.y)).repeat()
        return (
            tf.data.Dataset.zip(index_batches, arrays)
            .map(lambda ids, xy: (tf.gather(xy[0], ids), tf.gather(xy[1], ids)))
            .prefetch(tf.data.AUTOTUNE)
        )

    def permutation(self, epoch: int) -> np.ndarray:
        """The order in which epoch `epoch` visits the examples."""
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.x))

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index: int):
        self._served.add(index)
        # `order` is replaced, never mutated, so a prefetching reader sees one whole epoch.
        ids = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        return self.x[ids], self.y[ids]

    def on_epoch_begin(self) -> None:
        self._served = set()

    def on_epoch_end(self) -> None:
        # Before training, the JAX and PyTorch trainers open and close an epoch to peek at
        # one batch; only an epoch that served every batch moves on to the next order.
        if len(self._served) == len(self):
            self.epoch += 1
            self.order = self.permutation(self.epoch)
        self._served = set()
