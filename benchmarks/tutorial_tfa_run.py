"""One run of the tutorial protocol on its own stack (TensorFlow 2.15 + tensorflow-addons).

Run with the Python of a side venv that has the old stack (see `../shared/anchors/README.md`); it
does not import labkit. `reproduce_tutorial.py` calls it once per (model, seed) with the same
images labkit trains on, so both stacks see identical data:

    tfa-venv/bin/python benchmarks/tutorial_tfa_run.py --data data.npz --model weightnorm \
        --seed 0 --epochs 10 --threads 1 --out tfa-weightnorm-seed0.json

The protocol is the tutorial's, unchanged: `tf.keras.utils.set_random_seed(seed)`, the LeNet
ConvNet (every Conv2D and Dense in `tfa.layers.WeightNormalization` for `weightnorm`), Adam,
categorical cross-entropy, batch 32, `shuffle=True`, the test set as validation data.
"""

import argparse
import json
import platform
import time

import numpy as np
import tensorflow as tf


def build(model: str, num_classes: int, data_init: bool = True) -> tf.keras.Model:
    import tensorflow_addons as tfa

    layers = tf.keras.layers

    def wrap(layer):
        if model != "weightnorm":
            return layer
        return tfa.layers.WeightNormalization(layer, data_init=data_init)

    return tf.keras.Sequential(
        [
            tf.keras.Input((32, 32, 3)),
            wrap(layers.Conv2D(6, 5, activation="relu")),
            layers.MaxPooling2D(2, 2),
            wrap(layers.Conv2D(16, 5, activation="relu")),
            layers.MaxPooling2D(2, 2),
            layers.Flatten(),
            wrap(layers.Dense(120, activation="relu")),
            wrap(layers.Dense(84, activation="relu")),
            wrap(layers.Dense(num_classes, activation="softmax")),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="npz with x_train, y_train, x_test, y_test")
    parser.add_argument("--model", choices=["regular", "weightnorm"], required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (0: default)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    with np.load(args.data) as data:
        x_train, x_test = (data[k].astype("float32") / 255.0 for k in ("x_train", "x_test"))
        y_train, y_test = (data[k] for k in ("y_train", "y_test"))
    num_classes = int(y_train.max()) + 1
    y_train, y_test = (tf.keras.utils.to_categorical(y, num_classes) for y in (y_train, y_test))

    tf.keras.utils.set_random_seed(args.seed)
    model = build(args.model, num_classes)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    start, cpu = time.perf_counter(), time.process_time()
    history = model.fit(
        x_train,
        y_train,
        batch_size=32,
        epochs=args.epochs,
        validation_data=(x_test, y_test),
        shuffle=True,
        verbose=0,
    )
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    import tensorflow_addons as tfa

    record = {
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "versions": {
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "tensorflow_addons": tfa.__version__,
        },
    }
    with open(args.out, "w") as file:
        json.dump(record, file)


if __name__ == "__main__":
    main()
