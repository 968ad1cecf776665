"""Mini-batches drawn in a fresh, seeded order every epoch, the same on every backend.

`model.fit(x, y, shuffle=True)` on NumPy arrays does not do this in Keras 3 on TensorFlow:
after `keras.utils.set_random_seed`, every epoch replays the first epoch's permutation
(see `docs/keras-shuffle-bug.md`). `ShuffledBatches` owns the order instead: epoch `e`
uses `numpy.random.default_rng([seed, e]).permutation(n)`, so a seeded run is
reproducible, every epoch sees a new order, and TensorFlow, JAX and PyTorch train on the
same batch sequence. On TensorFlow the same sequence is also available as an in-graph
`tf.data` pipeline (`to_tf_dataset`), which avoids a Python call per batch.

Images may stay `uint8` until a batch is drawn: each batch is converted to float32 in [0, 1]
as it is served (`labkit.data.to_float_images`, in-graph on TensorFlow), so training holds the
images once, at a quarter of the float32 size, and TensorFlow reads each batch from that one
copy. Each epoch ends on its own last batch, so a
model compiled with `steps_per_execution > 1` never runs into the next epoch's batches.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from labkit.data import to_float_images

__all__ = ["ShuffledBatches", "validation_data"]


class ShuffledBatches(keras.utils.PyDataset):
    """A `keras.utils.PyDataset` of `(x, y)` batches in a new seeded permutation each epoch.

    Pass it to `fit` in place of the arrays, with `shuffle=False` (otherwise Keras also
    shuffles the order of the batches) and no `batch_size`.
    The last batch of an epoch holds the remainder, as with arrays.

    Args:
        x: Inputs, indexed along the first axis: images (uint8 pixels are served as float32
            in [0, 1], see `labkit.data.to_float_images`) or any float features.
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
            return {"x": self.to_tf_dataset(epochs), "shuffle": False}
        return {"x": self, "shuffle": False}

    def to_tf_dataset(self, epochs: int):
        """These batches as a `tf.data.Dataset` of one epoch, whose `e`-th iterator serves
        epoch `e`'s order; the orders of the first `epochs` epochs are drawn at once.

        Pass it to `fit` without `steps_per_epoch`: Keras then opens one iterator per epoch,
        so each epoch ends where its data ends and a multi-step execution
        (`steps_per_execution > 1`) stops there. Each batch's images are gathered from the
        arrays where they are (see `_gathered`: no copy of them in TensorFlow) and converted
        in-graph. (A model under a `tf.distribute` strategy peeks
        at one batch before training, which opens one iterator more: training then starts
        at the second order, still a fresh seeded one every epoch.)
        """
        import tensorflow as tf

        orders = [self.permutation(epoch) for epoch in range(epochs)]
        opened = []

        def next_order():  # called once per iterator, when it starts drawing
            epoch = len(opened)
            opened.append(epoch)
            yield orders[epoch] if epoch < len(orders) else self.permutation(epoch)

        index_batches = tf.data.Dataset.from_generator(
            next_order, output_signature=tf.TensorSpec(shape=(len(self.x),), dtype=tf.int64)
        ).flat_map(lambda order: tf.data.Dataset.from_tensor_slices(order).batch(self.batch_size))
        return _gathered(self.x, self.y, index_batches, len(self))

    def permutation(self, epoch: int) -> np.ndarray:
        """The order in which epoch `epoch` visits the examples."""
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.x))

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index: int):
        self._served.add(index)
        # `order` is replaced, never mutated, so a prefetching reader sees one whole epoch.
        ids = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        return to_float_images(self.x[ids]), self.y[ids]

    def on_epoch_begin(self) -> None:
        self._served = set()

    def on_epoch_end(self) -> None:
        # Before training, the JAX and PyTorch trainers open and close an epoch to peek at
        # one batch; only an epoch that served every batch moves on to the next order.
        if len(self._served) == len(self):
            self.epoch += 1
            self.order = self.permutation(self.epoch)
        self._served = set()


class _OrderedBatches(keras.utils.PyDataset):
    """`(x, y)` in their order, `batch_size` at a time, images converted as they are served."""

    def __init__(self, x, y, batch_size: int):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index: int):
        window = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return to_float_images(self.x[window]), self.y[window]


def validation_data(x, y, batch_size: int):
    """`(x, y)` for `fit(validation_data=...)`, in order, converting images batch by batch
    (in-graph on TensorFlow), so uint8 images are never held as float32 all at once.

    Example:

    >>> model.fit(..., validation_data=validation_data(x_test, y_test, 32))  # doctest: +SKIP
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        index_batches = tf.data.Dataset.range(len(x)).batch(batch_size)
        return _gathered(x, y, index_batches, math.ceil(len(x) / batch_size))
    return _OrderedBatches(x, y, batch_size)


def _gathered(x, y, index_batches, batches: int):
    """`tf.data` batches `(x[ids], y[ids])` for each `ids` of `index_batches`, images converted.

    The images are read from the NumPy array itself (`tf.numpy_function`): handing the array
    to `tf.data` would copy it into TensorFlow (once more while tf.data optimizes its graph),
    up to three copies of CIFAR-10 beside the one the `Dataset` holds. The labels are small
    and gathered in-graph.
    """
    import tensorflow as tf

    images = tf.TensorSpec((None, *x.shape[1:]), tf.as_dtype(x.dtype))

    def batch(ids):
        pixels = tf.numpy_function(lambda i: x[i], [ids], images.dtype, stateful=False)
        return to_float_images(tf.ensure_shape(pixels, images.shape)), tf.gather(y, ids)

    return (
        index_batches.map(batch)
        .apply(tf.data.experimental.assert_cardinality(batches))
        .prefetch(tf.data.AUTOTUNE)
    )
