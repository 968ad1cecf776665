"""What `labkit.LivePlot` adds to `fit` wall time: interleaved A/B runs, median of repeats.

Fits the tutorial's regular ConvNet (the cheaper one, so the worst case for relative overhead)
with no callback (the baseline), with a callback that does nothing (the control: it shows the
noise floor of this machine), and with `LivePlot` in each of these arms:

- `static`, `widget`: the renderer modes with default options;
- `view`: the widget with smoothing (0.6), log losses and the learning-rate trace on (every
  model here trains with a decaying learning rate, so the trace is drawn);
- `diagnostics`: the same, plus the weight-norm diagnostics row, on the WeightNorm ConvNet,
  whose ratio is taken to a fit of that model without callbacks (`baseline_wn`).

Each round runs every arm twice in mirrored order (A B C C B A), starting from a rotating arm,
so that drift and trends in the load of a shared machine hit every arm alike. An arm's ratio is
the median over rounds of (its mean fit time) / (its model's baseline's, same round), with a
distribution-free 95% interval (`labkit.stats.median_interval`; 6 rounds at least).

A fit is one epoch of 10,000 images (313 batches of 32) and 1,000 validation images by
default: a fifth of one of the tutorial's epochs, long enough that what LivePlot does once per
fit (the first and last figure) weighs about as much as it does in a real run.

Each arm keeps one `LivePlot` across its fits, as a notebook does when it retrains: the warm-up
fit creates the `FigureWidget`, and every fit restarts the run and ends with the final figure.
There is no frontend: the widget arm builds and serializes every update as in a kernel, but
ipywidgets has no comm to send it on; the static arm builds its end-of-fit figure bundle and
hands it to a display function that drops it. As a check that machine noise cannot blur, the
table also gives the time spent inside LivePlot's own hooks as a share of the fit.

Prints a table, a verdict on the target (every arm's ratio <= 1.02) computed from the
intervals and, last, `liveplot_overhead_ratio=X`: the worst LivePlot arm's median ratio.

Usage:

    python benchmarks/liveplot_overhead.py                 # random images, about 10 minutes
    python benchmarks/liveplot_overhead.py --data cifar10  # offline CIFAR-10 subset
    python benchmarks/liveplot_overhead.py --arms view,diagnostics --rounds 6
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

BASELINE, CONTROL, BASELINE_WN = "baseline", "control", "baseline_wn"
# LivePlot arms: (model, LivePlot arguments). Models: "regular" or "weightnorm".
VIEW = {"smoothing": 0.6, "log_y": True, "learning_rate": True}
ARMS = {
    "static": ("regular", {"mode": "static"}),
    "widget": ("regular", {"mode": "widget"}),
    "view": ("regular", {"mode": "widget", **VIEW}),
    "diagnostics": ("weightnorm", {"mode": "widget", **VIEW, "diagnostics": True}),
}
HOOKS = ("on_train_begin", "on_epoch_begin", "on_train_batch_end", "on_epoch_end", "on_train_end")


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10_000, help="training images per fit")
    parser.add_argument("--val-images", type=int, default=1000, help="validation images")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per fit")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=12, help="mirrored rounds of all arms")
    parser.add_argument("--target", type=float, default=1.02, help="the largest ratio allowed")
    parser.add_argument("--arms", default=",".join(ARMS), help="comma-separated LivePlot arms")
    parser.add_argument("--data", choices=("random", "cifar10"), default="random")
    args = parser.parse_args(argv)
    arms_asked = [arm for arm in args.arms.split(",") if arm]
    unknown = sorted(set(arms_asked) - set(ARMS))
    if unknown or not arms_asked:
        parser.error(f"unknown arm {(unknown or [''])[0]!r}; choose from {', '.join(ARMS)}")

    import keras

    from labkit import LivePlot, data_init
    from labkit.models import build_convnet
    from labkit.stats import median_interval

    _drop_displays()
    x, y, x_val, y_val = _data(args.data, args.images, args.val_images)
    models = {}
    for kind in dict.fromkeys(["regular", *(ARMS[arm][0] for arm in arms_asked)]):
        keras.utils.set_random_seed(0)
        models[kind] = build_convnet(weight_norm=kind == "weightnorm")
        # A decaying learning rate, so that the `view` arms draw the learning-rate trace.
        schedule = keras.optimizers.schedules.ExponentialDecay(1e-3, 50, 0.95)
        models[kind].compile(
            keras.optimizers.Adam(schedule), "categorical_crossentropy", metrics=["accuracy"]
        )
        if kind == "weightnorm":
            data_init(models[kind], x[:512])

    class Control(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            pass

    class TimedLivePlot(LivePlot):
        """LivePlot that adds up the seconds spent in its hooks."""

        seconds = 0.0

    for name in HOOKS:
        setattr(TimedLivePlot, name, _timed(getattr(LivePlot, name)))

    callbacks = {BASELINE: [], CONTROL: [Control()]}
    model_of = {BASELINE: "regular", CONTROL: "regular"}
    if "weightnorm" in models:
        callbacks[BASELINE_WN], model_of[BASELINE_WN] = [], "weightnorm"
    for arm in arms_asked:
        model_of[arm], options = ARMS[arm]
        callbacks[arm] = [TimedLivePlot(**options, display=False)]
    baseline_of = {
        arm: BASELINE_WN if kind == "weightnorm" else BASELINE for arm, kind in model_of.items()
    }
    shares: dict[str, list[float]] = {arm: [] for arm in arms_asked}

    def fit(arm: str) -> float:
        for callback in callbacks[arm]:
            callback.seconds = 0.0
        start = time.perf_counter()
        models[model_of[arm]].fit(
            x,
            y,
            batch_size=args.batch_size,
            epochs=args.epochs,
            validation_data=(x_val, y_val),
            callbacks=callbacks[arm],
            verbose=0,
        )
        seconds = time.perf_counter() - start
        if arm in shares:
            shares[arm].append(callbacks[arm][0].seconds / seconds)
        return seconds

    arms = list(callbacks)
    for arm in arms:  # warm-up: tracing, imports, the widget
        fit(arm)
    for values in shares.values():
        values.clear()
    times: dict[str, list[float]] = {arm: [] for arm in arms}
    for round_ in range(args.rounds):
        order = arms[round_ % len(arms) :] + arms[: round_ % len(arms)]
        seconds = dict.fromkeys(arms, 0.0)
        for arm in order + order[::-1]:
            seconds[arm] += fit(arm) / 2
        for arm in arms:
            times[arm].append(seconds[arm])

    steps = -(-args.images // args.batch_size)
    print(
        f"fit: {args.images} {args.data} images, {steps} batches of {args.batch_size}, "
        f"{args.epochs} epoch(s); {args.rounds} mirrored rounds"
    )
    print(
        f"{'arm':<12} {'median s':>9} {'min s':>8} {'max s':>8} {'ratio':>8} "
        f"{'95% interval':>17} {'in hooks':>9}"
    )
    ratios = {}
    for arm in arms:
        base = times[baseline_of[arm]]
        ratio = median_interval([t / b for t, b in zip(times[arm], base)])
        share = f"{statistics.median(shares[arm]):.2%}" if arm in shares else "-"
        values = times[arm]
        bounds = "-" if math.isnan(ratio.low) else f"[{ratio.low:.4f}, {ratio.high:.4f}]"
        print(
            f"{arm:<12} {statistics.median(values):>9.3f} {min(values):>8.3f} "
            f"{max(values):>8.3f} {ratio.median:>8.4f} {bounds:>17} {share:>9}"
        )
        if arm in shares:
            ratios[arm] = ratio
    worst = max(ratios.values(), key=lambda ratio: ratio.median)
    print(_verdict(ratios, args.target))
    print(f"liveplot_overhead_ratio={worst.median:.4f}")
    return worst.median


def _verdict(ratios: dict, target: float) -> str:
    """Whether the intervals show every arm's ratio at or under `target`."""
    above = [arm for arm, ratio in ratios.items() if ratio.median > target]
    unsure = [arm for arm, ratio in ratios.items() if not ratio.high <= target]
    if above:
        return f"target <= {target}: not met ({', '.join(above)} above it)"
    if unsure:
        return (
            f"target <= {target}: met by the medians; not shown for {', '.join(unsure)}, "
            "whose 95% interval reaches above it (more rounds narrow it)"
        )
    return f"target <= {target}: shown (every arm's 95% interval lies at or under it)"


def _timed(hook):
    def timed(self, *args, **kwargs):
        start = time.perf_counter()
        hook(self, *args, **kwargs)
        self.seconds += time.perf_counter() - start

    return timed


def _data(source: str, images: int, val_images: int):
    if source == "cifar10":
        from labkit.data import load_dataset

        data = load_dataset("cifar10", labels="onehot", limit=images, test_limit=val_images)
        return data.x_train, data.y_train, data.x_test, data.y_test
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, images + val_images)
    pixels = rng.random((images + val_images, 32, 32, 3), dtype=np.float32)
    onehot = np.eye(10, dtype="float32")[labels]
    return pixels[:images], onehot[:images], pixels[images:], onehot[images:]


def _drop_displays() -> None:
    """Makes the static renderer build its figure as in a kernel, then drops it."""
    import IPython.display

    from labkit.live import environment

    class Handle:
        def update(self, *args, **kwargs):
            pass

    environment.in_kernel = lambda: True
    IPython.display.display = lambda *args, **kwargs: Handle()


if __name__ == "__main__":
    main()
