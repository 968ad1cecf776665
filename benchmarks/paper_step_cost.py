"""What one training step of the paper's CIFAR-10 ConvNet costs, and what the GPU plan needs.

For each normalization of `labkit.paper.build_paper_convnet`, at the paper's batch of 100:

- **FLOPs per step**, counted from the layer shapes: a convolution or dense layer does
  `2 x (output positions) x (output channels) x (kernel size x input channels)` FLOPs per
  example forward, and a training step about three times the forward pass (the backward pass
  computes the gradients of the inputs and of the weights, each as costly as the forward).
  The normalizations' own element-wise work is left out (under 1%). On the JAX backend XLA's
  own count of the compiled forward-and-backward step is printed beside it.
- **CPU time per step**: process CPU time of `train_on_batch` on random whitened-like
  batches, over `--blocks` interleaved blocks of `--steps` steps (the order of the models
  rotates from block to block), median and range; wall time beside it. Pin the process to
  one core (`taskset -c 0`) and keep `--threads 1` for a per-core figure.

It ends with the projections: CPU time per epoch of 50,000 images, and the GPU time the
`gpu` and `full` schedules need at a few effective rates (stated, not measured: no GPU was
used), counting a fixed per-step overhead as well.

Usage:

    taskset -c 0 python benchmarks/paper_step_cost.py [--blocks 3] [--steps 2] [--threads 1]
    KERAS_BACKEND=jax taskset -c 0 python benchmarks/paper_step_cost.py --flops-only
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from labkit.paper.experiment import compiled_paper_convnet  # noqa: E402
from labkit.paper.params import PaperParams  # noqa: E402
from labkit.paper.schedule import SCHEDULES  # noqa: E402
from labkit.variants import NORMALIZATIONS  # noqa: E402

BATCH = 100
TRAIN_IMAGES, TEST_IMAGES = 50_000, 10_000
# Effective GPU rates for the projection (TFLOP/s), and the fixed cost of one step
# (dispatch, optimizer, metrics): the tutorial's tiny ConvNet took 2.5-3.6 ms a step on an
# H100/H200 with JAX (docs/benchmarks.md), which is almost all overhead.
GPU_RATES = (25.0, 50.0, 100.0)
STEP_OVERHEAD_S = 0.003


class _Shapes:
    """CIFAR-10 shaped stand-in for a `Dataset` (what `compiled_paper_convnet` reads)."""

    num_classes = 10
    input_shape = (32, 32, 3)


def forward_flops(model: keras.Model) -> int:
    """FLOPs of one example's forward pass through the conv and dense layers."""
    total = 0
    for layer in model.layers:
        inner = getattr(layer, "layer", layer)  # through WeightNormalization
        if isinstance(inner, keras.layers.Conv2D):
            _, height, width, channels = layer.output.shape
            kernel = np.prod(inner.kernel.shape[:-1])  # kh x kw x input channels
            total += 2 * height * width * channels * int(kernel)
        elif isinstance(inner, keras.layers.Dense):
            total += 2 * int(np.prod(inner.kernel.shape))
    return int(total)


def xla_step_flops(model: keras.Model, x, y) -> float | None:
    """XLA's FLOP count of a compiled forward-and-backward pass (JAX backend only)."""
    if keras.backend.backend() != "jax":
        return None
    import jax

    loss = keras.losses.CategoricalCrossentropy(from_logits=True)

    def objective(trainable, non_trainable, x, y):
        logits, _ = model.stateless_call(trainable, non_trainable, x, training=True)
        return loss(y, logits)

    state = (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
    )
    compiled = jax.jit(jax.grad(objective)).lower(*state, x, y).compile()
    analysis = compiled.cost_analysis()
    analysis = analysis[0] if isinstance(analysis, list) else analysis
    return float(analysis.get("flops", float("nan")))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2, help="training steps per block")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (0: default)")
    parser.add_argument("--flops-only", action="store_true", help="count, do not time")
    args = parser.parse_args(argv)
    if args.threads and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)

    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.9, (BATCH, 32, 32, 3)).astype("float32")
    y = np.eye(10, dtype="float32")[rng.integers(0, 10, BATCH)]
    keras.utils.set_random_seed(0)
    models = {}
    for normalization in NORMALIZATIONS:
        params = PaperParams(normalization=normalization, schedule="full")
        models[normalization] = compiled_paper_convnet(params, _Shapes(), steps_per_epoch=500)

    print(f"backend {keras.backend.backend()}, keras {keras.__version__}, batch {BATCH}")
    forward = forward_flops(models["none"])
    step = 3 * forward * BATCH
    print(f"forward pass, one image: {forward / 1e6:.1f} MFLOP (conv and dense layers)")
    print(f"training step (3 x forward x {BATCH}): {step / 1e9:.1f} GFLOP")
    xla = xla_step_flops(models["none"], x, y)
    if xla is not None:
        print(f"XLA's count of the compiled forward+backward step ('none'): {xla / 1e9:.1f} GFLOP")
    if args.flops_only:
        return

    times: dict[str, list[tuple[float, float]]] = {name: [] for name in models}
    for model in models.values():
        model.train_on_batch(x, y)  # compile and warm up
    names = list(models)
    for block in range(args.blocks):
        order = names[block % len(names) :] + names[: block % len(names)]
        for name in order:
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(args.steps):
                models[name].train_on_batch(x, y)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            times[name].append((cpu / args.steps, wall / args.steps))

    print(f"\nper training step, {args.blocks} blocks x {args.steps} steps, median [min, max]:")
    print(f"{'normalization':22} {'CPU s/step':>24} {'wall s/step':>12} {'GFLOP/s (CPU)':>14}")
    medians = {}
    for name, values in times.items():
        cpu = [value[0] for value in values]
        wall = statistics.median(value[1] for value in values)
        medians[name] = statistics.median(cpu)
        span = f"{medians[name]:.2f} [{min(cpu):.2f}, {max(cpu):.2f}]"
        print(f"{name:22} {span:>24} {wall:>12.2f} {step / 1e9 / medians[name]:>14.1f}")

    steps_per_epoch = TRAIN_IMAGES // BATCH
    epoch_flops = steps_per_epoch * step + TEST_IMAGES * forward
    slowest = max(medians.values())
    print(
        f"\none epoch = {steps_per_epoch} steps + {TEST_IMAGES} test images = "
        f"{epoch_flops / 1e12:.1f} TFLOP"
    )
    print(
        f"CPU time per epoch (slowest normalization, this core): "
        f"{slowest * steps_per_epoch / 60:.0f} min"
    )
    for name in ("gpu", "full"):
        epochs = len(NORMALIZATIONS) * SCHEDULES[name].epochs
        print(
            f"\nschedule {name!r}: {len(NORMALIZATIONS)} normalizations x "
            f"{SCHEDULES[name].epochs} epochs = {epochs} epochs, "
            f"{epochs * epoch_flops / 1e15:.2f} PFLOP"
        )
        for rate in GPU_RATES:
            seconds = epochs * (epoch_flops / (rate * 1e12) + steps_per_epoch * STEP_OVERHEAD_S)
            print(
                f"  at {rate:5.0f} TFLOP/s effective + {STEP_OVERHEAD_S * 1e3:.0f} ms a step: "
                f"{seconds / 60:6.1f} min of training"
            )


if __name__ == "__main__":
    main()
