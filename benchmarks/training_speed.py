"""How fast the tutorial trains: labkit's default step against the plain one and the tfa stack.

Every measurement runs in child processes, each pinned to one core (`taskset`) with one
TensorFlow thread (`OMP_NUM_THREADS=1` for JAX and PyTorch), and leads with **process CPU
time**, which other load on a shared machine moves far less than wall time (shown beside it).

1. **Step cost** (`steps`). One process per backend holds the tutorial's two ConvNets once per
   arm and trains them in blocks of one epoch (`--images` CIFAR-shaped uint8 images, batch
   32, through `labkit.batches.ShuffledBatches` as `run_experiment` feeds them, no
   validation), the arms' order rotating from round to round; a callback times each epoch
   from its start to its end, so `fit`'s setup is not counted. The first epoch of each model
   (tracing and compiling) is not counted either. Arms:

   - `plain`: `jit_compile=False, steps_per_execution=1` (JAX: Keras' compiled step, as
     labkit ran before `"auto"`, `jit_compile=True, steps_per_execution=1`);
   - `default`: `"auto"`, resolved by `labkit.speed` (its settings are printed);
   - `xla32` (TensorFlow): `jit_compile=True, steps_per_execution=32`, the issue's proposal;
   - `tfa` (with `--tfa-python`): TF 2.15 + tf.keras 2.15 + tensorflow-addons 0.23 in a side
     venv, `fit` on float32 arrays with `shuffle=True`, as the tutorial ran; it runs at the
     same time as the TensorFlow process, on the other core.

   Each backend's process runs twice, on one core and then the other (tfa's process on the
   other core at the same time), and the rounds of both halves are pooled. Per arm and
   ConvNet: the median CPU and wall milliseconds per step over rounds, with the range; ratios
   are medians of the per-round ratios (same round, same process) with their range, and for
   the tfa stack the ratio of medians (another process, same time windows).
2. **Time to the first point** (`first`). A fresh process per arm and round does what the
   panel's Train does with the data already loaded: `run_experiment` on `--short-images`
   images for one epoch, both ConvNets one after the other; it records the seconds from the
   call to the first `on_train_batch_end` (where `LivePlot` draws its first point) and to the
   end of the run.
3. **A whole tutorial training** (`--phases whole`): both ConvNets, 10 epochs of the 50,000 CIFAR-10
   images with validation, compile included, exactly as the notebook (`ExperimentParams.
   load_data`, `run_experiments`); `plain` on one core and `default` on the other at the same
   time, so both see the same load. Needs the offline archive (`LABKIT_CIFAR10_ARCHIVE`) or
   internet. Each process also reports its peak resident memory (VmHWM).
4. **The main job's memory** (`--phases notebook`): papermill runs `notebooks/weight_norm.ipynb` on
   its defaults (both ConvNets, 10 epochs), and the kernel's VmHWM is read as it ends.

Every process reports its VmHWM. The last line printed is `training_speed_ratio=X`: default
over plain CPU time per step of the WeightNorm ConvNet on TensorFlow (or the first backend).

    python benchmarks/training_speed.py --tfa-python ../tfa-venv/bin/python
    LABKIT_CIFAR10_ARCHIVE=../shared/data/cifar10-jpeg-q75.tar.gz python \\
        benchmarks/training_speed.py --phases whole,notebook

With `TF_ENABLE_ONEDNN_OPTS=0` TensorFlow runs Eigen's kernels instead of oneDNN's, as on CPUs
without AVX-512 VNNI/BF16/AMX; `"auto"` then resolves differently (see `labkit.speed`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONVNETS = ("regular", "weightnorm")
BATCH_SIZE = 32
ARMS = {  # (jit_compile, steps_per_execution) per backend; "default" is "auto"
    "tensorflow": {"plain": (False, 1), "default": ("auto", "auto"), "xla32": (True, 32)},
    "jax": {"plain": (True, 1), "default": ("auto", "auto")},
    "torch": {"plain": (False, 1), "default": ("auto", "auto")},
}


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def epoch_timer(callback_base):
    """A Keras callback (Keras 3 or tf.keras 2) that keeps each epoch's CPU and wall seconds."""

    class EpochTimer(callback_base):
        def __init__(self):
            super().__init__()
            self.times: list[tuple[float, float]] = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = (time.process_time(), time.perf_counter())

        def on_epoch_end(self, epoch, logs=None):
            cpu, wall = self.start
            self.times.append((time.process_time() - cpu, time.perf_counter() - wall))

    return EpochTimer()


def random_images(count: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
    y = np.eye(10, dtype="float32")[rng.integers(0, 10, count)]
    return x, y


def set_one_thread() -> None:
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)


# --- children --------------------------------------------------------------------------------


def child_steps(args) -> dict:
    """Step cost of each arm's two ConvNets in this process, interleaved by epoch."""
    set_one_thread()
    import keras

    from labkit.batches import ShuffledBatches
    from labkit.models import build_convnet
    from labkit.speed import resolve_speed
    from labkit.weightnorm import data_init

    x, y = random_images(args.images)
    models, settings = {}, {}
    for arm in args.arms.split(","):
        jit_compile, spe = ARMS[keras.backend.backend()][arm]
        # "auto" for a whole tutorial training (15,630 steps), as the notebook's runs get it.
        speed = resolve_speed(jit_compile, spe, steps=10 * 1563)
        settings[arm] = speed.compile_arguments()
        for convnet in CONVNETS:
            keras.utils.set_random_seed(0)
            model = build_convnet(weight_norm=convnet == "weightnorm", init_style="tfa")
            if convnet == "weightnorm":
                data_init(model, x[:BATCH_SIZE].astype("float32") / 255)
            model.compile(
                keras.optimizers.Adam(0.001),
                "categorical_crossentropy",
                metrics=["accuracy"],
                **speed.compile_arguments(),
            )
            models[arm, convnet] = model

    def fit_epoch(model, timer):
        batches = ShuffledBatches(x, y, BATCH_SIZE, seed=0)
        model.fit(**batches.fit_arguments(1), verbose=0, callbacks=[timer])

    timed = interleave(models, fit_epoch, epoch_timer(keras.callbacks.Callback), args.rounds)
    return {"settings": settings, "steps": -(-args.images // BATCH_SIZE), **timed}


def interleave(models: dict, fit_epoch, timer, rounds: int) -> dict:
    """Fits every model one epoch per round, in an order rotating by round."""

    def epoch(model):
        timer.times.clear()
        fit_epoch(model, timer)
        return timer.times[0]

    keys = list(models)
    first = {f"{a}/{c}": epoch(models[a, c]) for a, c in keys}  # traces and compiles
    times: dict[str, list] = {f"{a}/{c}": [] for a, c in keys}
    for round_ in range(rounds):
        shift = round_ % len(keys)
        for arm, convnet in keys[shift:] + keys[:shift]:
            times[f"{arm}/{convnet}"].append(epoch(models[arm, convnet]))
    return {"first_epoch": first, "rounds": times, "peak_rss_mb": peak_rss_mb()}


def child_tfa_steps(args) -> dict:
    """The same protocol on the tfa stack (run by the side venv's Python; no labkit)."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    sys.path.insert(0, str(HERE))
    from tutorial_tfa_run import build

    x, y = random_images(args.images)
    x = x.astype("float32") / 255
    models = {}
    for convnet in CONVNETS:
        tf.keras.utils.set_random_seed(0)
        model = build(convnet, 10)
        model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
        models["tfa", convnet] = model

    def fit_epoch(model, timer):  # arrays, shuffled by fit, as the tutorial did
        model.fit(x, y, batch_size=BATCH_SIZE, shuffle=True, verbose=0, callbacks=[timer])

    timed = interleave(models, fit_epoch, epoch_timer(tf.keras.callbacks.Callback), args.rounds)
    return {"steps": -(-args.images // BATCH_SIZE), **timed}


def child_first_point(args) -> dict:
    """Seconds from `run_experiment` to the first batch end, and to the end of a short run."""
    set_one_thread()
    import keras

    from labkit.data import CIFAR10_CLASSES, Dataset
    from labkit.experiment import run_experiment

    x, y = random_images(args.short_images)
    data = Dataset("cifar10", x, y, x[:500], y[:500], CIFAR10_CLASSES)
    jit_compile, spe = ARMS[keras.backend.backend()][args.arm]

    class FirstPoint(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if self.first is None:
                self.first = (time.process_time() - self.cpu, time.perf_counter() - self.wall)

    out = {}
    for convnet in CONVNETS:
        probe = FirstPoint()
        probe.first, probe.cpu, probe.wall = None, time.process_time(), time.perf_counter()
        params = {"weight_norm": convnet == "weightnorm", "init_style": "tfa", "epochs": 1}
        result = run_experiment(
            {**params, "jit_compile": jit_compile, "steps_per_execution": spe},
            callbacks=[probe],
            data=data,
        )
        whole = (time.process_time() - probe.cpu, time.perf_counter() - probe.wall)
        out[convnet] = {"first": probe.first, "run": whole, "compiled": result.compiled}
    return {**out, "peak_rss_mb": peak_rss_mb()}


def child_whole(args) -> dict:
    """Both ConvNets through the tutorial, as the notebook trains them."""
    set_one_thread()
    import keras

    from labkit.experiment import run_experiments
    from labkit.notebook_contract import notebook_runs

    jit_compile, spe = ARMS[keras.backend.backend()][args.arm]
    cpu, wall = time.process_time(), time.perf_counter()
    runs = notebook_runs(
        {"init_style": "tfa", "jit_compile": jit_compile, "steps_per_execution": spe}
    )
    data = runs[0].load_data()
    results = run_experiments(runs, data=data)
    return {
        "cpu": time.process_time() - cpu,
        "wall": time.perf_counter() - wall,
        "runs": {
            name: {
                "duration_s": r.duration_s,
                "epoch_seconds": r.epoch_seconds,
                "final_val_accuracy": r.final_val_accuracy,
                "compiled": r.compiled,
            }
            for name, r in results.items()
        },
        "peak_rss_mb": peak_rss_mb(),
    }


CHILDREN = {"steps": child_steps, "tfa-steps": child_tfa_steps}
CHILDREN |= {"first": child_first_point, "whole": child_whole}


# --- driver ----------------------------------------------------------------------------------


def start(kind: str, core: int, options: list[str], backend: str = "tensorflow", python=None):
    """Starts a child pinned to `core`; returns (process, path of its JSON result)."""
    out = Path(tempfile.mkstemp(suffix=".json", prefix=f"speed-{kind}-")[1])
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env |= {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    command = [python or sys.executable, __file__, "--child", kind, "--out", str(out), *options]
    process = subprocess.Popen(
        ["taskset", "-c", str(core), *command], env=env, stdout=subprocess.DEVNULL
    )
    return process, out


def finish(process, out: Path) -> dict | None:
    if process.wait() != 0:
        print(f"  (a child failed with exit {process.returncode})", file=sys.stderr)
        return None
    result = json.loads(out.read_text())
    out.unlink()
    return result


def median_range(values: list[float], scale: float = 1.0, digits: int = 2) -> str:
    values = [v * scale for v in values]
    low, high = min(values), max(values)
    return f"{statistics.median(values):.{digits}f} [{low:.{digits}f}-{high:.{digits}f}]"


def per_step(result: dict, key: str, column: int) -> list[float]:
    return [t[column] / result["steps"] * 1e3 for t in result["rounds"][key]]


def report_steps(backend: str, result: dict, tfa: dict | None) -> dict[str, float]:
    """Prints the step table of one backend; returns default/plain CPU ratios per ConvNet."""
    rounds = len(next(iter(result["rounds"].values())))
    print(f"\n{backend}: CPU ms per step, median [range] over {rounds} rounds; wall beside")
    for arm, settings in result["settings"].items():
        print(f"  {arm}: {settings}")
    rows = dict(result["rounds"])
    sources = {key: result for key in rows}
    if tfa:
        sources |= {key: tfa for key in tfa["rounds"]}
    for key, source in sources.items():
        first_cpu, first_wall = source["first_epoch"][key]
        print(
            f"  {key:<20} CPU {median_range(per_step(source, key, 0))}  "
            f"wall {median_range(per_step(source, key, 1))}  first epoch {first_cpu:.1f} s CPU, "
            f"{first_wall:.1f} s wall"
        )
    ratios = {}
    for convnet in CONVNETS:
        plain = per_step(result, f"plain/{convnet}", 0)
        for arm in result["settings"]:
            if arm == "plain":
                continue
            values = per_step(result, f"{arm}/{convnet}", 0)
            by_round = [a / b for a, b in zip(values, plain)]
            wall = [
                a / b
                for a, b in zip(
                    per_step(result, f"{arm}/{convnet}", 1), per_step(result, f"plain/{convnet}", 1)
                )
            ]
            print(
                f"  {arm}/plain, {convnet}: CPU {median_range(by_round, digits=3)}, "
                f"wall {median_range(wall, digits=3)}"
            )
            if arm == "default":
                ratios[convnet] = statistics.median(by_round)
            if tfa:
                ours = statistics.median(values)
                theirs = statistics.median(per_step(tfa, f"tfa/{convnet}", 0))
                print(f"  {arm}/tfa, {convnet}: CPU {ours / theirs:.3f} (ratio of medians)")
        if tfa:
            theirs = statistics.median(per_step(tfa, f"tfa/{convnet}", 0))
            print(f"  plain/tfa, {convnet}: CPU {statistics.median(plain) / theirs:.3f}")
    print(f"  peak RSS of the process: {result['peak_rss_mb']:.0f} MB")
    return ratios


PHASES = ("steps", "first", "whole", "notebook")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8, help="timed epochs per model and half")
    parser.add_argument("--images", type=int, default=5120, help="images per timed epoch")
    parser.add_argument("--short-images", type=int, default=2000, help="images of a short run")
    parser.add_argument("--first-rounds", type=int, default=2, help="fresh processes per arm")
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--tfa-python", default=os.environ.get("LABKIT_TFA_PYTHON"))
    parser.add_argument(
        "--phases", default="steps,first", help=f"comma-separated, of {', '.join(PHASES)}"
    )
    parser.add_argument("--child", choices=CHILDREN, help=argparse.SUPPRESS)
    parser.add_argument("--arms", help=argparse.SUPPRESS)
    parser.add_argument("--arm", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        Path(args.out).write_text(json.dumps(CHILDREN[args.child](args)))
        return
    for name in ("rounds", "images", "short_images", "first_rounds"):
        if getattr(args, name) < 1:
            parser.error(
                f"--{name.replace('_', '-')} must be >= 1. Received: {getattr(args, name)}"
            )
    phases = [phase for phase in args.phases.split(",") if phase]
    if not set(phases) <= set(PHASES):
        parser.error(f"--phases takes {', '.join(PHASES)}. Received: {args.phases}")
    backends = [b for b in args.backends.split(",") if b]
    ratios = step_phase(args, backends) if "steps" in phases else {}
    if "first" in phases:
        first_point_phase(args, backends)
    if "whole" in phases:
        whole_phase()
    if "notebook" in phases:
        peak, seconds = notebook_peak_rss()
        print(
            f"\nmain job: papermill notebooks/weight_norm.ipynb, kernel peak RSS {peak:.0f} MB, "
            f"{seconds:.0f} s wall"
        )
    first = ratios.get("tensorflow") or next(iter(ratios.values()), {})
    print(f"\ntraining_speed_ratio={first.get('weightnorm', float('nan')):.3f}")


def step_phase(args, backends: list[str]) -> dict[str, dict[str, float]]:
    """Each backend's process twice, on core 0 then on core 1 (tfa's on the other core at the
    same time), so a core that others load more weighs on every arm alike; rounds pooled."""
    sizes = ["--rounds", str(args.rounds), "--images", str(args.images)]
    print(
        f"step cost: {args.images} images ({-(-args.images // BATCH_SIZE)} steps) per epoch, "
        f"{args.rounds} rounds on each core; one core and one thread per process"
    )
    ratios: dict[str, dict[str, float]] = {}
    for backend in backends:
        halves, tfa_halves = [], []
        for core in (0, 1):
            job = start("steps", core, [*sizes, "--arms", ",".join(ARMS[backend])], backend)
            tfa_job = None
            if backend == "tensorflow" and args.tfa_python:
                tfa_job = start("tfa-steps", 1 - core, sizes, python=args.tfa_python)
            halves.append(finish(*job))
            tfa_halves.append(finish(*tfa_job) if tfa_job else None)
        result, tfa = pooled(halves), pooled(tfa_halves)
        if result:
            ratios[backend] = report_steps(backend, result, tfa)
    return ratios


def pooled(halves: list[dict | None]) -> dict | None:
    """The two halves' rounds as one result (first epochs and settings from the first)."""
    if not all(halves):
        return None
    rounds = {
        key: [t for half in halves for t in half["rounds"][key]] for key in halves[0]["rounds"]
    }
    peak = max(half["peak_rss_mb"] for half in halves)
    return {**halves[0], "rounds": rounds, "peak_rss_mb": peak}


def first_point_phase(args, backends: list[str]) -> None:
    print(f"\ntime to the first point and a short run ({args.short_images} images, 1 epoch)")
    for backend in backends:
        firsts: dict[str, list[dict]] = {}
        for round_ in range(args.first_rounds):
            for arm in ARMS[backend] if round_ % 2 == 0 else reversed(list(ARMS[backend])):
                options = ["--arm", arm, "--short-images", str(args.short_images)]
                result = finish(*start("first", round_ % 2, options, backend))
                if result:
                    firsts.setdefault(arm, []).append(result)
        for arm, results in firsts.items():
            for convnet in CONVNETS:
                column = [r[convnet] for r in results]
                print(
                    f"  {backend} {arm:<8} {convnet:<10} first point "
                    f"{median_range([c['first'][0] for c in column], digits=1)} s CPU, "
                    f"{median_range([c['first'][1] for c in column], digits=1)} s wall; "
                    f"whole run {median_range([c['run'][0] for c in column], digits=1)} s CPU "
                    f"({column[0]['compiled']})"
                )
            print(f"  {backend} {arm:<8} peak RSS {results[0]['peak_rss_mb']:.0f} MB")


def whole_phase() -> None:
    print("\nwhole tutorial, both ConvNets, compile included (plain and default at once)")
    jobs = {
        arm: start("whole", core, ["--arm", arm]) for core, arm in enumerate(("plain", "default"))
    }
    whole = {arm: finish(*job) for arm, job in jobs.items()}
    for arm, result in whole.items():
        if result:
            epochs = {n: r["epoch_seconds"] for n, r in result["runs"].items()}
            accuracy = ", ".join(
                f"{n} {r['final_val_accuracy']:.4f}" for n, r in result["runs"].items()
            )
            print(
                f"  {arm:<8} wall {result['wall']:.0f} s, CPU {result['cpu']:.0f} s, peak RSS "
                f"{result['peak_rss_mb']:.0f} MB, final val_accuracy {accuracy}; epochs (s): "
                f"{epochs}"
            )
    if all(whole.values()):
        for column in ("wall", "cpu"):
            ratio = whole["default"][column] / whole["plain"][column]
            print(f"  default/plain {column}: {ratio:.3f}")


def notebook_peak_rss() -> tuple[float, float]:
    """Runs the tutorial notebook with papermill; returns its kernel's VmHWM (MB) and the
    run's wall seconds."""
    out = Path(tempfile.mkdtemp(prefix="speed-notebook-"))
    command = [sys.executable, "-m", "papermill", str(HERE.parent / "notebooks/weight_norm.ipynb")]
    command += [str(out / "run.ipynb"), "-p", "output_dir", str(out / "runs"), "--no-progress-bar"]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0.0
    while process.poll() is None:
        for pid in _descendants(process.pid):
            peak = max(peak, _vmhwm_mb(pid))
        time.sleep(1)
    if process.returncode != 0:
        print(f"  (papermill failed with exit {process.returncode})", file=sys.stderr)
    return peak, time.perf_counter() - started


def _descendants(pid: int) -> list[int]:
    children = []
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            child = int(status.parent.name)
            children += [child, *_descendants(child)]
    return children


def _vmhwm_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


if __name__ == "__main__":
    main()
