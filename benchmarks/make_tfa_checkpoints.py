"""Writes the tensorflow-addons checkpoint fixtures that `labkit.load_tfa_model` is tested on.

Runs in the old stack (TensorFlow 2.15 + tensorflow-addons 0.23 + Keras 2), never in labkit's
own environment:

    /work/tfa-venv/bin/python benchmarks/make_tfa_checkpoints.py [--out tests/fixtures/tfa]

For each tiny model below it trains two small batches (so that tfa's init has run), then
writes what a tfa user would have on disk: `NAME.h5` (`model.save`, Keras 2's HDF5 format),
`NAME.weights.h5` (`model.save_weights`) and `NAME.expected.npz` (inputs `x` and tfa's
predictions `probs`). It also writes a Keras 2 model with no tfa layer (`keras2_plain`), a
tfa model with a layer Keras 3 lacks (`unmappable`: a weight-normalized `LocallyConnected1D`)
and an HDF5 file that is no checkpoint at all (`not_a_checkpoint.h5`). `versions.json` records
the stack that wrote them.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import h5py  # noqa: E402
import keras  # noqa: E402  (Keras 2, the one tf.keras is)
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_addons as tfa  # noqa: E402

layers = tf.keras.layers
WN = tfa.layers.WeightNormalization
BATCH = 8
STEPS = 2


def conv1d() -> tf.keras.Model:
    return tf.keras.Sequential(
        [
            layers.Input((12, 3)),
            WN(layers.Conv1D(4, 3, activation="relu")),
            layers.GlobalAveragePooling1D(),
            WN(layers.Dense(3, activation="softmax")),
        ]
    )


def conv3d() -> tf.keras.Model:
    return tf.keras.Sequential(
        [
            layers.Input((5, 5, 5, 2)),
            WN(layers.Conv3D(3, 3, strides=2, padding="same", activation="relu")),
            layers.Flatten(),
            layers.Dense(3, activation="softmax"),
        ]
    )


def dense_no_bias() -> tf.keras.Model:
    return tf.keras.Sequential(
        [
            layers.Input((5,)),
            WN(layers.Dense(4, use_bias=False, activation="tanh")),
            WN(layers.Dense(3, use_bias=False, activation="softmax")),
        ]
    )


def recurrent() -> tf.keras.Model:
    # tfa advises against data init for RNNs but runs it; cover both settings.
    return tf.keras.Sequential(
        [
            layers.Input((6, 3)),
            WN(layers.SimpleRNN(4, return_sequences=True), data_init=False),
            WN(layers.GRU(4, return_sequences=True)),
            WN(layers.LSTM(3)),
            layers.Dense(3, activation="softmax"),
        ]
    )


def conv2d_transpose() -> tf.keras.Model:
    return tf.keras.Sequential(
        [
            layers.Input((4, 4, 3)),
            # tfa's data init fails on Conv-Transpose (its `g` has the input channels' size).
            WN(layers.Conv2DTranspose(5, 3, strides=2, activation="relu"), data_init=False),
            layers.Flatten(),
            WN(layers.Dense(3, activation="softmax")),
        ]
    )


def functional() -> tf.keras.Model:
    inputs = layers.Input((6,))
    hidden = WN(layers.Dense(5, activation="relu"))(inputs)
    left = WN(layers.Dense(3))(hidden)
    right = layers.Dense(3)(inputs)
    outputs = layers.Activation("softmax")(layers.Add()([left, right]))
    return tf.keras.Model(inputs, outputs, name="two_branches")


def no_data_init() -> tf.keras.Model:
    return tf.keras.Sequential(
        [
            layers.Input((6, 6, 2)),
            WN(layers.Conv2D(3, 3, activation="relu"), data_init=False),
            layers.Flatten(),
            WN(layers.Dense(3, activation="softmax"), data_init=False),
        ]
    )


def keras2_plain() -> tf.keras.Model:
    return tf.keras.Sequential(
        [layers.Input((5,)), layers.Dense(4, activation="relu"), layers.Dense(3, "softmax")]
    )


def unmappable() -> tf.keras.Model:
    return tf.keras.Sequential(
        [
            layers.Input((6, 2)),
            WN(layers.LocallyConnected1D(3, 2), data_init=False),
            layers.Flatten(),
            layers.Dense(3, activation="softmax"),
        ]
    )


MODELS: dict[str, Callable[[], tf.keras.Model]] = {
    "conv1d": conv1d,
    "conv3d": conv3d,
    "dense_no_bias": dense_no_bias,
    "recurrent": recurrent,
    "conv2d_transpose": conv2d_transpose,
    "functional": functional,
    "no_data_init": no_data_init,
    "keras2_plain": keras2_plain,
    "unmappable": unmappable,
}


def write(name: str, build: Callable[[], tf.keras.Model], out: Path, seed: int) -> None:
    """Trains `STEPS` batches, then saves the model, its weights and its predictions."""
    tf.keras.utils.set_random_seed(seed)
    model = build()
    # Plain SGD keeps no optimizer slots, which keeps the files small.
    model.compile(tf.keras.optimizers.SGD(0.1), "categorical_crossentropy")
    rng = np.random.default_rng(seed)
    shape = (BATCH * STEPS, *model.input_shape[1:])
    x = rng.normal(size=shape).astype("float32")
    y = tf.keras.utils.to_categorical(rng.integers(0, 3, len(x)), 3)
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    model.save(out / f"{name}.h5")
    model.save_weights(out / f"{name}.weights.h5")
    x_test = rng.normal(size=(4, *shape[1:])).astype("float32")
    probs = model.predict(x_test, verbose=0)
    np.savez(out / f"{name}.expected.npz", x=x_test, probs=probs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("tests/fixtures/tfa"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for seed, (name, build) in enumerate(MODELS.items()):
        write(name, build, args.out, seed)
        print(f"wrote {name}")
    with h5py.File(args.out / "not_a_checkpoint.h5", "w") as f:
        f["values"] = np.arange(4, dtype="float32")
    versions = {"tensorflow": tf.__version__, "tensorflow_addons": tfa.__version__}
    versions["keras"] = keras.__version__
    (args.out / "versions.json").write_text(json.dumps(versions, indent=1) + "\n")
    print(f"{versions} into {args.out}")


if __name__ == "__main__":
    main()
