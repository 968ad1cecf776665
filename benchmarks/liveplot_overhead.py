"""What `labkit.LivePlot` adds to the time of a `fit`: interleaved A/B runs, median of repeats.

Fits the tutorial's regular ConvNet (the cheaper one, so the worst case for relative overhead)
with no callback (the baseline), with a callback that does nothing (the control), and with
`LivePlot` in each of these arms:

- `static`, `widget`: the renderer modes with default options (per-step values, smoothed);
  `widget` runs only when asked for (`--arms`): `view` does all it does and more;
- `view`: the widget with smoothing (0.6), log losses and the learning-rate trace on (every
  model here trains with a decaying learning rate, so the trace is drawn);
- `diagnostics`: the same, plus the weight-norm diagnostics row, on the WeightNorm ConvNet,
  compared with a fit of that model without callbacks (`baseline_wn`).

Each round fits every arm once, in an order that rotates by one arm from round to round and is
reversed every other round, so that drift in the load of a shared machine hits every arm alike.
Up to `--rounds` rounds run (24), as many as the time budget allows (`--budget`, 330 s for the
whole run, so that it ends within 6 minutes; at least one). A median interval needs 6 rounds:
where the machine is too loaded for 6 in the budget, the medians come without intervals and the
output says so (a larger `--budget` gives them). Two ratios to the baseline come out of each
round; the table gives each one's median over rounds with a distribution-free 95% interval
(`labkit.stats.median_interval`):

- `wall ratio`: the fit's wall time over the baseline's. On a shared 2-core machine a fit's
  time varies by 10% or more from one fit to the next, so a few dozen rounds cannot resolve 2% (the
  control's interval shows how far they get).
- `added`: 1 + the share of the fit's process CPU time spent in Keras' callback calls
  (LivePlot's hooks, Keras' own bookkeeping) and in garbage collection, minus the baseline's
  share, same round. Everything LivePlot does runs there, between two training steps, while
  TensorFlow waits; both shares are measured inside the fit, and in CPU time, which other
  tenants of a shared machine do not inflate (wall time inside the hooks did, by up to 2x
  under heavy load). This is the ratio the target is judged on; the verdict also says whether
  the wall ratios agree.

`in hooks` is the CPU time inside LivePlot's own hooks alone, as a share of the fit's.

`--cpu N` pins the process to core N (TensorFlow's one thread and Python's then share it). It
is not pinned by default: CPU time needs no pinning to be fair between the arms, and on a
shared machine a pinned process waits for its one core while the other may be free.

TensorFlow runs on one thread by default (`--threads`): the tutorial's ConvNet trains as fast
on one core as on two of this machine, and a fit that leaves the second core to the machine's
other load varies less. LivePlot's hooks run between two steps either way, so their time adds
to the fit's as it does with more threads.

A fit is one epoch of 10,000 images (313 batches of 32) and 1,000 validation images by
default: a fifth of one of the tutorial's epochs, so what LivePlot does once per fit (the
first and last figure) weighs more than in a real run, not less.

Each arm keeps one `LivePlot` across its fits, as a notebook does when it retrains: the warm-up
fit creates the `FigureWidget`, and every fit restarts the run and ends with the final figure.
There is no frontend: the widget arm builds and serializes every update as in a kernel, but
ipywidgets has no comm to send it on; the static arm builds its end-of-fit figure bundle and
hands it to a display function that drops it.

Prints the table, a verdict on the target (every arm's `added` <= 1.02) computed from the
intervals, and last `liveplot_overhead_ratio=X`: the worst LivePlot arm's median `added`.

Usage:

    python benchmarks/liveplot_overhead.py                 # random images, at most 6 minutes
    python benchmarks/liveplot_overhead.py --data cifar10  # offline CIFAR-10 subset
    python benchmarks/liveplot_overhead.py --arms view,diagnostics --rounds 6
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import statistics
import time
from dataclasses import dataclass

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
DEFAULT_ARMS = ("static", "view", "diagnostics")
# The fewest rounds that give a median interval (`labkit.stats.median_interval`).
INTERVAL_ROUNDS = 6
HOOKS = ("on_train_begin", "on_epoch_begin", "on_train_batch_end", "on_epoch_end", "on_train_end")
# Every call `fit` makes to its callbacks.
CALLBACK_LIST_HOOKS = (
    *HOOKS,
    "on_train_batch_begin",
    "on_test_begin",
    "on_test_batch_begin",
    "on_test_batch_end",
    "on_test_end",
)


STARTED = time.perf_counter()


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10_000, help="training images per fit")
    parser.add_argument("--val-images", type=int, default=1000, help="validation images")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per fit")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=24, help="most rounds of all arms")
    parser.add_argument(
        "--budget",
        type=float,
        default=330,
        help="seconds for the whole run: no round starts that would end past it (1 at least)",
    )
    parser.add_argument("--target", type=float, default=1.02, help="the largest ratio allowed")
    parser.add_argument(
        "--arms", default=",".join(DEFAULT_ARMS), help=f"comma-separated, of {', '.join(ARMS)}"
    )
    parser.add_argument("--data", choices=("random", "cifar10"), default="random")
    parser.add_argument(
        "--threads", type=int, default=1, help="TensorFlow threads per op and between ops (0: all)"
    )
    parser.add_argument("--cpu", type=int, default=None, help="core to pin to (default: none)")
    args = parser.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})  # before TensorFlow starts its threads
    arms_asked = [arm for arm in args.arms.split(",") if arm]
    unknown = sorted(set(arms_asked) - set(ARMS))
    if unknown or not arms_asked:
        parser.error(f"unknown arm {(unknown or [''])[0]!r}; choose from {', '.join(ARMS)}")

    import keras

    if keras.backend.backend() == "tensorflow" and args.threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)

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

    for name in HOOKS:
        setattr(TimedLivePlot, name, _timed(getattr(LivePlot, name), "hooks"))
    for name in CALLBACK_LIST_HOOKS:
        method = getattr(keras.callbacks.CallbackList, name)
        setattr(keras.callbacks.CallbackList, name, _timed(method, "callbacks"))
    gc.callbacks.append(_time_collections)

    callbacks = {BASELINE: [], CONTROL: [Control()]}
    model_of = {BASELINE: "regular", CONTROL: "regular"}
    if "weightnorm" in models:
        callbacks[BASELINE_WN], model_of[BASELINE_WN] = [], "weightnorm"
    for arm in arms_asked:
        model_of[arm], options = ARMS[arm]
        callbacks[arm] = [TimedLivePlot(**options, show=False)]
    baseline_of = {
        arm: BASELINE_WN if kind == "weightnorm" else BASELINE for arm, kind in model_of.items()
    }

    def fit(arm: str) -> Fit:
        _CLOCK.update(hooks=0.0, callbacks=0.0, gc=0.0)
        start, cpu_start = time.perf_counter(), time.process_time()
        models[model_of[arm]].fit(
            x,
            y,
            batch_size=args.batch_size,
            epochs=args.epochs,
            validation_data=(x_val, y_val),
            callbacks=callbacks[arm],
            verbose=0,
        )
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        thread = (_CLOCK["callbacks"] + _CLOCK["gc"]) / cpu
        return Fit(seconds, _CLOCK["hooks"] / cpu, thread)

    arms = list(callbacks)
    # Warm-up: each model's tracing (its baseline), each LivePlot arm's figure and imports.
    for arm in [arm for arm in arms if arm not in (CONTROL,)]:
        fit(arm)
    fits: dict[str, list[Fit]] = {arm: [] for arm in arms}
    rounds = 0
    while rounds < args.rounds:
        round_start = time.perf_counter()
        order = arms[rounds % len(arms) :] + arms[: rounds % len(arms)]
        for arm in order[::-1] if rounds % 2 else order:
            fits[arm].append(fit(arm))
        rounds += 1
        now = time.perf_counter()
        if now + (now - round_start) > STARTED + args.budget:
            break

    steps = -(-args.images // args.batch_size)
    print(
        f"fit: {args.images} {args.data} images, {steps} batches of {args.batch_size}, "
        f"{args.epochs} epoch(s), {args.threads or 'all'} TensorFlow thread(s); "
        f"{rounds} rounds of one fit per arm (of at most {args.rounds}, in a budget of "
        f"{args.budget:g} s)"
    )
    print(
        f"{'arm':<12} {'median s':>9} {'wall ratio':>11} {'95% interval':>17} "
        f"{'in hooks':>9} {'added':>8} {'95% interval':>17}"
    )
    added = {}
    for arm in arms:
        base = fits[baseline_of[arm]]
        wall = median_interval([a.seconds / b.seconds for a, b in zip(fits[arm], base)])
        # What the arm adds on the training thread, measured inside each fit: the time in
        # Keras' callback calls and in garbage collection, over the baseline's, same round.
        extra = median_interval([1 + a.thread - b.thread for a, b in zip(fits[arm], base)])
        hooks = statistics.median(one.hooks for one in fits[arm])
        print(
            f"{arm:<12} {statistics.median(one.seconds for one in fits[arm]):>9.3f} "
            f"{wall.median:>11.4f} {_bounds(wall):>17} "
            f"{f'{hooks:.2%}' if arm in arms_asked else '-':>9} "
            f"{extra.median:>8.4f} {_bounds(extra):>17}"
        )
        if arm in arms_asked:
            added[arm] = (wall, extra)
    if rounds < INTERVAL_ROUNDS:
        print(
            f"only {rounds} round(s) fit in the {args.budget:g} s budget on this machine now: "
            f"intervals need {INTERVAL_ROUNDS} (rerun with a larger --budget)"
        )
    for line in _verdict(added, args.target):
        print(line)
    worst = max(extra.median for _, extra in added.values())
    print(f"liveplot_overhead_ratio={worst:.4f}")
    return worst


@dataclass
class Fit:
    """One timed fit: wall seconds, and the shares of its process CPU time spent in LivePlot's
    hooks and in Keras' callback calls (which hold those hooks) or garbage collection."""

    seconds: float
    hooks: float
    thread: float


# CPU seconds spent in each kind of timed call during the running fit.
_CLOCK = {"hooks": 0.0, "callbacks": 0.0, "gc": 0.0, "depth": 0, "gc_start": 0.0}


def _bounds(interval) -> str:
    return "-" if math.isnan(interval.low) else f"[{interval.low:.4f}, {interval.high:.4f}]"


def _verdict(added: dict, target: float) -> list[str]:
    """The target, judged on the direct measurement; whether the wall clock agrees."""
    above = [arm for arm, (_, extra) in added.items() if extra.median > target]
    unsure = [arm for arm, (_, extra) in added.items() if not extra.high <= target]
    if above:
        lines = [f"target <= {target}: not met ({', '.join(above)} above it)"]
    elif unsure:
        lines = [f"target <= {target}: met by the medians, not shown for {', '.join(unsure)}"]
    else:
        lines = [f"target <= {target}: shown (every arm's interval of `added` lies under it)"]
    # (With fewer than 6 rounds there is no wall interval to disagree.)
    clash = [arm for arm, (wall, extra) in added.items() if wall.low > extra.median]
    if clash:
        lines.append(f"the wall clock disagrees for {', '.join(clash)}: its interval lies above")
    else:
        lines.append("the wall-clock intervals agree (each holds its arm's `added` median)")
    return lines


def _timed(method, clock: str):
    """`method`, adding the process CPU seconds it takes to `_CLOCK[clock]`; collections while
    it runs count as its time, not as `gc`."""

    def timed(self, *args, **kwargs):
        start = time.process_time()
        _CLOCK["depth"] += 1
        try:
            return method(self, *args, **kwargs)
        finally:
            _CLOCK["depth"] -= 1
            _CLOCK[clock] += time.process_time() - start

    return timed


def _time_collections(phase: str, info: dict) -> None:
    """`gc.callbacks` hook: adds collections outside timed calls to `_CLOCK["gc"]`."""
    if _CLOCK["depth"]:
        return  # already counted by the call it interrupted
    if phase == "start":
        _CLOCK["gc_start"] = time.process_time()
    elif _CLOCK["gc_start"]:
        _CLOCK["gc"] += time.process_time() - _CLOCK["gc_start"]
        _CLOCK["gc_start"] = 0.0


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
