"""Cost of `WeightNormalization` on the tutorial's ConvNet: training, inference, init path.

Trains the tutorial's two ConvNets (identical but for the wrapper) on random CIFAR-shaped
batches of 32 with Adam, compiled as Keras compiles by default, and measures **process CPU
time** (wall time on shared machines swings by tens of percent) over interleaved blocks of
`--steps` train steps. The order of the variants rotates from block to block, so slow drift
of the machine hits all of them alike. Reported per variant pair: the ratio of the median
block costs and the median of the per-block ratios.

Variants:

- `plain`: the regular ConvNet.
- `wn`: the weight-normalized ConvNet, initialized with `labkit.data_init(model, x)`
  before training (its train step carries no init logic).
- `wn_auto`: the weight-normalized ConvNet initialized automatically by its first train
  step (TensorFlow and PyTorch; on TensorFlow its compiled step keeps one scalar `cond`
  per layer). Skipped on JAX, where in-`fit` init is unavailable.
- `floor`: the same ConvNet built from minimal hand-written weight-normalized layers
  (`w = g * v / ||v||` in `keras.ops`, no wrapper, no init logic). Any implementation of
  the reparameterization pays at least this, so `wn/floor` is what labkit's wrapper
  itself adds, and `floor/plain` what the reparameterization costs.
- `removed`: `labkit.remove_weight_norm(wn)`, for inference.

The last line printed is `weightnorm_overhead_ratio=X`, the training cost of `wn` over
`plain` (ratio of medians). Runs unchanged on a GPU (times are then host CPU time; wall
time is reported too).

The batches are converted to backend tensors once, so no step pays a NumPy conversion, and
each `train_on_batch` reuses the step traced (and, with `--jit-compile true`, compiled) during
the untimed warm-up. On TensorFlow the header says whether TensorFlow runs its oneDNN CPU
kernels: XLA's CPU code does not use them, so with `--jit-compile true` the steps are slower
where oneDNN is on (x86 CPUs with AVX-512 VNNI/BF16/AMX) and faster where TensorFlow runs
Eigen's kernels (`TF_ENABLE_ONEDNN_OPTS=0`, or CPUs without those features); see
`benchmarks/training_speed.py` for the tutorial's whole step.

Usage:

    python benchmarks/weightnorm_overhead.py [--blocks 20] [--steps 40] [--quick]
        [--jit-compile auto|true|false] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from labkit.models import build_convnet  # noqa: E402
from labkit.weightnorm import data_init, remove_weight_norm  # noqa: E402

BATCH_SIZE = 32
INPUT_SHAPE = (32, 32, 3)
NUM_CLASSES = 10
PREDICT_BATCH_SIZE = 256


def build(weight_norm: bool) -> keras.Model:
    """The tutorial's ConvNet, every Conv2D and Dense weight-normalized if `weight_norm`."""
    return build_convnet(weight_norm=weight_norm, input_shape=INPUT_SHAPE)


class MinimalWeightNormLayer(keras.layers.Layer):
    """`Dense(units)`, or `Conv2D(units, kernel_size)` ("valid"), with the kernel computed as
    `g * v / ||v||` on every call: the least work weight normalization can do."""

    def __init__(self, units: int, kernel_size: int | None = None, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units, self.kernel_size = units, kernel_size
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        window = (self.kernel_size,) * 2 if self.kernel_size else ()
        self.v = self.add_weight(shape=(*window, input_shape[-1], self.units))
        self.g = self.add_weight(shape=(self.units,), initializer="ones")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros")

    def call(self, x):
        axes = tuple(range(len(self.v.shape) - 1))
        w = self.v * (self.g * ops.rsqrt(ops.sum(ops.square(self.v), axis=axes) + 1e-12))
        y = ops.conv(x, w) if self.kernel_size else ops.matmul(x, w)
        return self.activation(y + self.b)


def build_floor() -> keras.Model:
    """The tutorial's ConvNet with every Conv2D and Dense made a `MinimalWeightNormLayer`."""

    def minimal(layer: keras.layers.Layer) -> keras.layers.Layer:
        if isinstance(layer, keras.layers.Conv2D):
            return MinimalWeightNormLayer(layer.filters, layer.kernel_size[0], layer.activation)
        if isinstance(layer, keras.layers.Dense):
            return MinimalWeightNormLayer(layer.units, activation=layer.activation)
        return layer.__class__.from_config(layer.get_config())

    return keras.models.clone_model(build(False), clone_function=minimal)


def compiled(model: keras.Model, jit_compile: bool | str = "auto") -> keras.Model:
    model.compile(keras.optimizers.Adam(), "categorical_crossentropy", jit_compile=jit_compile)
    return model


def time_blocks(
    tasks: dict[str, Callable[[], object]], blocks: int, steps: int
) -> dict[str, list[tuple[float, float]]]:
    """Runs each task `steps` times per block, rotating the order of the tasks per block.

    Returns, per task, one `(process CPU seconds, wall seconds)` pair per block.
    """
    names = list(tasks)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for block in range(blocks):
        shift = block % len(names)
        for name in names[shift:] + names[:shift]:
            task = tasks[name]
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(steps):
                task()
            times[name].append((time.process_time() - cpu, time.perf_counter() - wall))
    return times


def ratios(times: dict, numerator: str, denominator: str, column: int = 0) -> tuple[float, float]:
    """(ratio of the median block costs, median of the per-block ratios)."""
    top = [t[column] for t in times[numerator]]
    bottom = [t[column] for t in times[denominator]]
    return (
        statistics.median(top) / statistics.median(bottom),
        statistics.median(a / b for a, b in zip(top, bottom)),
    )


def report(title: str, times: dict, pairs: list[tuple[str, str]], steps: int) -> None:
    print(f"\n{title}")
    print(f"  {'variant':<9} {'CPU ms/step':>12} {'wall ms/step':>13}")
    for name, values in times.items():
        cpu = statistics.median(t[0] for t in values) / steps * 1e3
        wall = statistics.median(t[1] for t in values) / steps * 1e3
        print(f"  {name:<9} {cpu:>12.3f} {wall:>13.3f}")
    print(f"  {'ratio':<19} {'CPU med/med':>11} {'CPU med(r)':>11} {'wall med/med':>13}")
    for top, bottom in pairs:
        of_medians, median_of = ratios(times, top, bottom)
        wall, _ = ratios(times, top, bottom, column=1)
        label = f"{top}/{bottom}"
        print(f"  {label:<19} {of_medians:>11.3f} {median_of:>11.3f} {wall:>13.3f}")


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=20, help="timed blocks per variant")
    parser.add_argument("--steps", type=int, default=40, help="train steps per block")
    parser.add_argument("--quick", action="store_true", help="10 blocks of 5 steps")
    parser.add_argument(
        "--jit-compile",
        choices=("auto", "true", "false"),
        default="auto",
        help="XLA compilation; Keras' default `auto` uses it on GPUs, not on CPUs",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="TensorFlow intra- and inter-op threads (0: TensorFlow's default)",
    )
    args = parser.parse_args(argv)
    if args.threads and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    blocks, steps = (10, 5) if args.quick else (args.blocks, args.steps)
    if blocks < 1 or steps < 1:
        parser.error(f"--blocks and --steps must be positive. Received: {blocks}, {steps}")

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 1.0, (BATCH_SIZE, *INPUT_SHAPE)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, NUM_CLASSES, BATCH_SIZE), NUM_CLASSES)
    x_predict = rng.uniform(0.0, 1.0, (PREDICT_BATCH_SIZE, *INPUT_SHAPE)).astype("float32")
    x, y, x_predict = (ops.convert_to_tensor(array) for array in (x, y, x_predict))

    jit_compile = {"auto": "auto", "true": True, "false": False}[args.jit_compile]
    models = {
        "plain": compiled(build(False), jit_compile),
        "wn": compiled(data_init(build(True), x), jit_compile),
        "floor": compiled(build_floor(), jit_compile),
    }
    if keras.backend.backend() != "jax":
        models["wn_auto"] = compiled(build(True), jit_compile)
    train = {name: (lambda m=model: m.train_on_batch(x, y)) for name, model in models.items()}
    for task in train.values():  # trace, compile, and (wn_auto) initialize
        for _ in range(3):
            task()

    inference_models = {
        "plain": models["plain"],
        "removed": compiled(remove_weight_norm(models["wn"]), jit_compile),
        "wn": models["wn"],
    }
    predict = {
        name: (lambda m=model: m.predict_on_batch(x_predict))
        for name, model in inference_models.items()
    }
    for task in predict.values():
        for _ in range(3):
            task()

    onednn = ""
    if keras.backend.backend() == "tensorflow":
        from labkit.speed import tensorflow_uses_onednn

        onednn = f"onednn={tensorflow_uses_onednn()} "
    print(
        f"backend={keras.backend.backend()} jit_compile={models['plain'].jit_compile} {onednn}"
        f"threads={args.threads or 'default'} "
        f"blocks={blocks} steps/block={steps} batch={BATCH_SIZE} "
        f"predict_batch={PREDICT_BATCH_SIZE}"
    )
    train_pairs = [("wn", "plain"), ("floor", "plain"), ("wn", "floor")]
    if "wn_auto" in models:
        train_pairs += [("wn_auto", "plain"), ("wn_auto", "wn")]
    train_times = time_blocks(train, blocks, steps)
    report("Training (train_on_batch, Adam)", train_times, train_pairs, steps)
    report(
        "Inference (predict_on_batch)",
        time_blocks(predict, blocks, steps),
        [("removed", "plain"), ("wn", "plain")],
        steps,
    )
    overhead, _ = ratios(train_times, "wn", "plain")
    print(f"\nweightnorm_overhead_ratio={overhead:.3f}")
    return overhead


if __name__ == "__main__":
    main()
