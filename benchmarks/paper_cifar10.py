"""The paper's CIFAR-10 experiment in one command: the four normalizations, trained one after the
other on the same ZCA-whitened data, the test error of every epoch and the comparison with the
paper's Table 1 written as files, and the time it all took.

Made for one prepared run on a GPU (`docs/paper_cifar10.md`, "The GPU run", says how to send
it to one): `--schedule gpu` trains 26 epochs per normalization, the learning-rate decay and
`beta_1 = 0.5` in the second half. It runs unchanged on a CPU with a small setting, which is
how it is tested (`tests/paper/test_gpu_script.py`).

Writes to `--out`, after every epoch: `<run>/metrics.json` and `<run>/history.csv` (as every
labkit run), `curves.csv` (every run's training and test error per epoch, in one file),
`comparison.md` and `comparison.csv` (our final test errors beside Table 1), and `summary.json`
(device, library versions, schedule, seconds per run and in all). `--bundle FILE.tar.gz` packs
the whole folder into one file after every epoch, for machines that hand back only a few files;
a run that is killed keeps the last one.

`--time-budget SECONDS`: before training, a throwaway model is compiled and timed for a few
steps, and the epochs are lowered (the schedule keeps its shape: held, then decayed over the
second half) so that every run ends within that many seconds of the command's start; the
epochs used are printed and recorded in `summary.json`.

Usage:

    python benchmarks/paper_cifar10.py --schedule gpu --out runs/paper_cifar10 \\
        [--normalization all] [--epochs N] [--seed 0] [--train-limit N] [--test-limit N] \\
        [--time-budget SECONDS] [--bundle FILE.tar.gz] [--jit-compile auto|true|false] \\
        [--steps-per-execution auto|N]

`--jit-compile` and `--steps-per-execution` default to `auto`, resolved as for every labkit run
(`labkit.speed`: on JAX, XLA and 32 steps per call for runs of >= 1,000 steps).

The last line printed is `paper_cifar10_seconds=X`, the command's wall time.

`--report DIR` trains nothing: it reads a finished `--out` folder (one fetched from the GPU
machine, say), prints the comparison with Table 1, and writes the test-error figure beside it
(`test_error.html`, and `test_error.png` where kaleido finds Chrome or Chromium).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import sys
import tarfile
import tempfile
import time
from pathlib import Path

START = time.perf_counter()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from labkit.batches import ShuffledBatches  # noqa: E402
from labkit.paper.compare import paper_comparison  # noqa: E402
from labkit.paper.data import load_paper_data  # noqa: E402
from labkit.paper.experiment import (  # noqa: E402
    EVALUATION_BATCH,
    compiled_paper_convnet,
    paper_speed,
    run_paper_experiment,
)
from labkit.paper.init import paper_data_init  # noqa: E402
from labkit.paper.params import NOTEBOOK_NORMALIZATIONS, PaperParams, paper_runs  # noqa: E402
from labkit.paper.schedule import SCHEDULES  # noqa: E402
from labkit.results import library_versions  # noqa: E402
from labkit.speed import Speed  # noqa: E402

# Steps the calibration times (after compiling; at least two calls at the runs'
# `steps_per_execution`), and the margin on its projection.
CALIBRATION_STEPS = 20
SAFETY = 1.2
MIN_EPOCHS = 2


def elapsed() -> float:
    return time.perf_counter() - START


def device_name() -> str:
    """The accelerator Keras trains on, in words."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        return f"{device.platform}: {device.device_kind}"
    if backend == "torch":
        import torch

        return f"cuda: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "cpu"
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return f"gpu: {gpus[0].name}" if gpus else "cpu"


def calibrate(params: PaperParams, data, speed: Speed) -> dict[str, float]:
    """Seconds to compile, per training step and per evaluated image, on a throwaway model
    with the most layers (weight norm + mean-only batch norm), compiled as the runs are."""
    probe = dataclasses.replace(params, normalization="weightnorm+meanonly", run_name=None)
    steps = max(CALIBRATION_STEPS, 2 * speed.steps_per_execution)
    count = min(steps * params.batch_size, len(data.x_train))
    batches = ShuffledBatches(
        data.x_train[:count], data.y_train[:count], params.batch_size, seed=params.seed
    )
    model = compiled_paper_convnet(probe, data, len(batches), speed)
    paper_data_init(model, data.x_train[:count])  # before training, as JAX requires
    test = (data.x_test[: 2 * EVALUATION_BATCH], data.y_test[: 2 * EVALUATION_BATCH])
    timings = []
    for _ in range(2):  # the first call compiles
        began = time.perf_counter()
        model.fit(**batches.fit_arguments(1), epochs=1, verbose=0)
        trained = time.perf_counter()
        model.evaluate(*test, batch_size=EVALUATION_BATCH, verbose=0)
        timings.append((trained - began, time.perf_counter() - trained))
    (first_fit, first_eval), (fit, evaluate) = timings
    return {
        "compile_s": first_fit - fit + first_eval - evaluate,
        "step_s": fit / len(batches),
        "test_image_s": evaluate / len(test[0]),
    }


def fitting_epochs(requested: int, runs: int, budget: float, costs: dict, data, batch: int):
    """The most epochs (at most `requested`) with which `runs` runs end within `budget`."""
    steps = int(np.ceil(len(data.x_train) / batch))
    epoch_s = steps * costs["step_s"] + len(data.x_test) * costs["test_image_s"]
    left = budget - elapsed() - runs * costs["compile_s"] * SAFETY
    fitting = int(left // (runs * epoch_s * SAFETY)) if left > 0 else 0
    return max(MIN_EPOCHS, min(requested, fitting)), epoch_s


class Progress(keras.callbacks.Callback):
    """Prints each epoch, and rewrites `curves.csv` (and the bundle) from the logs."""

    def __init__(self, run: str, epochs: int, rows: list, writer):
        super().__init__()
        self.run, self.epochs, self.rows, self.writer = run, epochs, rows, writer
        self.began = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.began = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        seconds = time.perf_counter() - self.began
        self.rows.append({"run": self.run, "epoch": epoch + 1, **logs, "seconds": seconds})
        print(
            f"[{elapsed():7.1f} s] {self.run} epoch {epoch + 1}/{self.epochs}: "
            f"train error {logs.get('error', float('nan')):.4f}, "
            f"test error {logs.get('val_error', float('nan')):.4f} ({seconds:.1f} s)",
            flush=True,
        )
        self.writer()


def write_outputs(out: Path, rows: list, results: dict, summary: dict, bundle: Path | None):
    import pandas as pd

    pd.DataFrame(rows).to_csv(out / "curves.csv", index=False)
    table = paper_comparison(results)
    table.to_csv(out / "comparison.csv")
    (out / "comparison.md").write_text(table.to_markdown(floatfmt=".4f") + "\n")
    summary["seconds"] = round(elapsed(), 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if bundle is not None:
        bundle.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=bundle.parent, suffix=".tmp")
        os.close(handle)
        os.chmod(temporary, 0o644)
        with tarfile.open(temporary, "w:gz") as archive:
            archive.add(out, arcname=out.name)
        os.replace(temporary, bundle)


def report(folder: Path) -> None:
    """Prints the comparison of a finished run folder and writes its figure beside it."""
    from labkit.paper.compare import describe_comparison, load_paper_results
    from labkit.paper.figures import error_figure
    from labkit.plotting.export import save_figures

    results = load_paper_results(folder)
    table = paper_comparison(results)
    print(table.to_markdown(floatfmt=".4f") + "\n\n" + describe_comparison(table))
    figure = error_figure(results)
    save_figures({folder / "test_error.html": figure})
    try:
        save_figures({folder / "test_error.png": figure})
    except RuntimeError as error:  # no browser for kaleido: the HTML is there
        print(f"no PNG: {error}")
    print(f"figure: {folder / 'test_error.html'}")


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schedule", choices=tuple(SCHEDULES), default="gpu")
    parser.add_argument("--normalization", choices=NOTEBOOK_NORMALIZATIONS, default="all")
    parser.add_argument("--epochs", type=int, default=0, help="0: the schedule's")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-limit", type=int, default=-1, help="-1: the schedule's; 0: all")
    parser.add_argument("--test-limit", type=int, default=-1, help="-1: the schedule's; 0: all")
    parser.add_argument("--learning-rate", type=float, default=0.001)
    parser.add_argument("--out", type=Path, default=Path("runs/paper_cifar10"))
    parser.add_argument("--bundle", type=Path, default=None, help="a .tar.gz of --out")
    parser.add_argument("--time-budget", type=float, default=0.0, help="seconds; 0: none")
    parser.add_argument("--jit-compile", choices=("auto", "true", "false"), default="auto")
    parser.add_argument(
        "--steps-per-execution", default="auto", help="steps per compiled call: auto or N"
    )
    parser.add_argument("--report", type=Path, default=None, help="report on a finished --out")
    args = parser.parse_args(argv)
    if args.report is not None:
        report(args.report)
        return elapsed()

    jit = {"auto": "auto", "true": True, "false": False}[args.jit_compile]
    per_call = args.steps_per_execution
    per_call = int(per_call) if per_call.isdigit() else per_call
    settings = dict(
        schedule=args.schedule,
        epochs=args.epochs,
        seed=args.seed,
        train_limit=args.train_limit,
        test_limit=args.test_limit,
        learning_rate=args.learning_rate,
        output_dir=str(args.out),
        jit_compile=jit,
        steps_per_execution=per_call,
    )
    try:
        runs = paper_runs(args.normalization, **settings)  # bad values fail before any work
    except ValueError as error:
        parser.error(str(error))
    device = device_name()
    print(f"[{elapsed():7.1f} s] backend {keras.backend.backend()} on {device}", flush=True)
    data = load_paper_data(runs[0])
    print(f"[{elapsed():7.1f} s] data: {data}", flush=True)

    requested = runs[0].epochs_to_run
    summary = {
        "command": "python benchmarks/paper_cifar10.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "device": device,
        "host": platform.node(),
        "versions": library_versions(),
        "schedule": args.schedule,
        "requested_epochs": requested,
        "train_images": len(data.x_train),
        "test_images": len(data.x_test),
        "runs": {},
    }
    speed = paper_speed(runs[0], math.ceil(len(data.x_train) / runs[0].batch_size))
    summary["compiled"] = speed.compile_arguments()
    print(f"[{elapsed():7.1f} s] compiled with {speed}", flush=True)
    epochs = requested
    if args.time_budget:
        costs = calibrate(runs[0], data, speed)
        epochs, epoch_s = fitting_epochs(
            requested, len(runs), args.time_budget, costs, data, runs[0].batch_size
        )
        summary["calibration"] = {**costs, "projected_epoch_s": epoch_s}
        print(
            f"[{elapsed():7.1f} s] calibration: compile {costs['compile_s']:.1f} s, "
            f"{costs['step_s'] * 1e3:.1f} ms a step, {epoch_s:.1f} s an epoch -> {epochs} "
            f"epochs per run (asked {requested}) within {args.time_budget:.0f} s",
            flush=True,
        )
        runs = [dataclasses.replace(run, epochs=epochs) for run in runs]
    summary["epochs"] = epochs
    summary["decay_start"] = runs[0].plan.decay_start

    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    results: dict = {}

    def write() -> None:
        write_outputs(args.out, rows, results, summary, args.bundle)

    for params in runs:
        began = time.perf_counter()
        progress = Progress(params.run_name, epochs, rows, write)
        result = run_paper_experiment(params, callbacks=[progress], data=data)
        results[params.run_name] = result
        summary["runs"][params.run_name] = {
            "status": result.status,
            "seconds": round(time.perf_counter() - began, 1),
            "training_seconds": result.duration_s,
            "final_test_error": result.history["val_error"][-1],
        }
        write()

    print("\n" + paper_comparison(results).to_markdown(floatfmt=".4f"))
    total = elapsed()
    print(f"\nwall time of the command on {device}: {total:.1f} s ({total / 60:.1f} min)")
    print(f"paper_cifar10_seconds={total:.1f}")
    return total


if __name__ == "__main__":
    main()
