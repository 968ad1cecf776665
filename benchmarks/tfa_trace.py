"""Records a tensorflow-addons training trace, to pin a labkit port to it step by step.

Runs in the old stack (TensorFlow 2.15 + tensorflow-addons 0.23 + Keras 2), never in
labkit's own environment (see `../shared/anchors/README.md` for the side venv):

    /work/tfa-venv/bin/python benchmarks/tfa_trace.py --data batches.npz --out trace.npz
        [--model module:function] [--variants no_init,data_init] [--seed 0] [--steps 50]
        [--batch-size 32] [--loss categorical_crossentropy] [--optimizer adam]

`--data` is an `.npz` with the training inputs, `x` (or `x_uint8`, images divided by 255
when used), and their targets `y` (integer labels are one-hot encoded for
`categorical_crossentropy`); the first `steps * batch_size` examples are used, in order.
`--model module:function` (imported from the current directory) or `path/file.py:function`
names a function `function(data_init: bool)` returning a tf.keras model with
`tfa.layers.WeightNormalization` layers; the default, `tutorial`, is the TensorFlow
tutorial's WeightNorm ConvNet (from `tutorial_tfa_run.py` beside this script).

For each variant (`no_init`: tfa's `data_init=False`, `data_init`: `True`) it seeds with
`tf.keras.utils.set_random_seed(seed)`, builds the model, records its initial weights,
trains one epoch over the batches without shuffling with the optimizer at its defaults,
and records the `loss` of every batch's logs. The trace (format: `labkit/lockstep.py`)
then replays against the labkit port of the model, in labkit's environment:

    from labkit.lockstep import load_trace, replay_trace
    trace = load_trace("trace.npz", "data_init")
    losses = replay_trace(labkit_model, trace)  # compare with trace.losses

(use `init_style="tfa"` in the port to reproduce tfa's data-dependent init).
`tests/test_tfa_lockstep.py` does this with `../shared/anchors/tfa_lockstep.npz`, a trace of
the default model with seed 0. Given that file's own batches (`--data
../shared/anchors/tfa_lockstep.npz`), this script reproduces its initial kernels bit for
bit and its `data_init` losses to 3e-7; its `no_init` losses to 7e-7 for 15 steps, then to
4e-4 by step 50: that trajectory amplifies float rounding, which differs between machines
and TensorFlow's oneDNN and Eigen kernels (`TF_ENABLE_ONEDNN_OPTS=0` selects Eigen's).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_addons as tfa  # noqa: E402
from tutorial_tfa_run import build as build_tutorial  # noqa: E402  (beside this script)

layers = tf.keras.layers
VARIANTS = {"no_init": False, "data_init": True}


def tutorial_convnet(data_init: bool = True) -> tf.keras.Model:
    """The TensorFlow Weight Normalization tutorial's WeightNorm ConvNet, in tfa."""
    return build_tutorial("weightnorm", num_classes=10, data_init=data_init)


def weighted_layers(model: tf.keras.Model) -> Iterator[tuple[bool, layers.Layer]]:
    """Yields `(True, wrapper)` per tfa `WeightNormalization` and `(False, layer)` per other
    layer with weights, in order, descending into nested models (as `labkit.lockstep`)."""
    for layer in model.layers:
        if isinstance(layer, tfa.layers.WeightNormalization):
            yield True, layer
        elif isinstance(layer, tf.keras.Model):
            yield from weighted_layers(layer)
        elif layer.weights:
            yield False, layer


def initial_weights(model: tf.keras.Model, variant: str) -> dict[str, np.ndarray]:
    """The trace's weight arrays of `model` as built (before tfa's first-call init)."""
    arrays = {}
    layers_ = list(weighted_layers(model))
    wrappers = [layer for wrapped, layer in layers_ if wrapped]
    others = [layer for wrapped, layer in layers_ if not wrapped]
    for i, wrapper in enumerate(wrappers):
        arrays[f"v{i}_{variant}"] = wrapper.v.numpy()
        # By name: tfa's first call replaces the wrapped layer's `v` attribute by a tensor,
        # which drops the variable from that layer's `weights`.
        for weight in [wrapper.v, *wrapper.layer.weights]:
            name = weight.name.split("/")[-1].split(":")[0]
            arrays[f"wrapped{i}_{name}_{variant}"] = weight.numpy()
    for j, layer in enumerate(others):
        for k, weight in enumerate(layer.get_weights()):
            arrays[f"w{j}_{k}_{variant}"] = weight
    return arrays


def record(
    build: Callable[[bool], tf.keras.Model],
    variant: str,
    x: np.ndarray,
    y: np.ndarray,
    args: argparse.Namespace,
) -> dict[str, np.ndarray]:
    """Trains a fresh model for one variant and returns its initial weights and losses."""
    tf.keras.utils.set_random_seed(args.seed)
    model = build(VARIANTS[variant])
    arrays = initial_weights(model, variant)
    model.compile(optimizer=tf.keras.optimizers.get(args.optimizer), loss=args.loss)
    losses: list[float] = []
    logger = tf.keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: losses.append(float(logs["loss"]))
    )
    if args.loss == "categorical_crossentropy" and y.ndim == 1:
        y = tf.keras.utils.to_categorical(y, model.output_shape[-1])
    model.fit(
        x,
        y,
        batch_size=args.batch_size,
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=[logger],
    )
    arrays[f"losses_{variant}"] = np.asarray(losses)
    return arrays


def load_builder(spec: str) -> Callable[[bool], tf.keras.Model]:
    """`tutorial`, `module:function` (imported from the current directory) or
    `path/to/file.py:function`."""
    if spec == "tutorial":
        return tutorial_convnet
    module, _, function = spec.rpartition(":")
    if not module or not function:
        raise SystemExit(f"--model must be 'module:function' or 'tutorial'. Received: {spec!r}")
    if module.endswith(".py"):
        loader = importlib.util.spec_from_file_location(Path(module).stem, module)
        imported = importlib.util.module_from_spec(loader)
        loader.loader.exec_module(imported)
    else:
        sys.path.insert(0, os.getcwd())
        imported = importlib.import_module(module)
    return getattr(imported, function)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", required=True, help=".npz with x (or x_uint8) and y")
    parser.add_argument("--out", required=True, help="the trace .npz to write")
    parser.add_argument("--model", default="tutorial", help="module:function, or 'tutorial'")
    parser.add_argument("--variants", default="no_init,data_init")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--loss", default="categorical_crossentropy")
    parser.add_argument("--optimizer", default="adam")
    args = parser.parse_args(argv)
    variants = args.variants.split(",")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown or args.steps < 1 or args.batch_size < 1:
        parser.error(f"--variants: choose from {', '.join(VARIANTS)}; --steps, --batch-size >= 1")

    count = args.steps * args.batch_size
    with np.load(args.data) as data:
        inputs = {k: data[k][:count] for k in ("x", "x_uint8") if k in data.files}
        y = data["y"][:count]
    if len(inputs) != 1 or len(y) < count:
        parser.error(f"--data needs x or x_uint8, and y, with at least {count} examples")
    ((name, stored),) = inputs.items()
    x = stored.astype("float32") / 255.0 if name == "x_uint8" else stored

    build = load_builder(args.model)
    trace = {name: stored, "y": y}
    for variant in variants:
        trace.update(record(build, variant, x, y, args))
        print(
            f"{variant}: loss {trace[f'losses_{variant}'][0]:.6f} -> "
            f"{trace[f'losses_{variant}'][-1]:.6f} over {args.steps} steps"
        )
    trace.update(
        batch_size=np.array(args.batch_size),
        loss=np.array(args.loss),
        optimizer=np.array(args.optimizer),
        seed=np.array(args.seed),
        versions=np.array(f"tensorflow {tf.__version__}, tensorflow-addons {tfa.__version__}"),
    )
    np.savez_compressed(args.out, **trace)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
