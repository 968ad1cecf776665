"""The tutorial reproduced side by side: tensorflow-addons and labkit, one machine, N seeds.

Runs the tutorial protocol (LeNet ConvNets, Adam, batch 32, 10 epochs, CIFAR-10, the test set
as validation data) for every seed in these arms, and writes one table:

- `tfa regular`, `tfa weightnorm`: TF 2.15 + tensorflow-addons 0.23
  (`tfa.layers.WeightNormalization` with its data init), in a side venv, through
  `tutorial_tfa_run.py`;
- `labkit regular`: `labkit.run_experiment`, the regular ConvNet;
- `labkit weightnorm (tfa init)`: labkit's layer with `init_style="tfa"` (tfa's formula, on
  the first training batch);
- `labkit weightnorm (paper init)`: `init_style="paper"` (Salimans & Kingma's, 512 examples);
- `labkit weightnorm (no init)`: `data_init=False`;
- `labkit regular (XLA)`, `labkit weightnorm (tfa init, XLA)` (only with `--arms`):
  `jit_compile=True`, which `"auto"` picks where TensorFlow runs Eigen's CPU kernels.

Every labkit arm runs `run_experiment` on its defaults otherwise (`jit_compile` and
`steps_per_execution` `"auto"`, see `labkit.speed`), on uint8 images as the notebook loads them;
the table says what each arm compiled with.

Both stacks read the same images (written once to `OUT/data*.npz`) and run with the same thread
settings, `--jobs` at a time. The table gives each arm's final and best validation accuracy as
mean ± 95% Student t interval over seeds, and each labkit arm's difference from its tfa
counterpart with a 95% Welch interval: "no difference shown" when that interval holds zero. A
second table sets each WeightNorm arm against the regular ConvNet of its own stack.
Runs already in `OUT` are reused, so an interrupted benchmark resumes. `--pin` puts each run
on a core of its own; each record keeps its process CPU time beside its wall time.

    python benchmarks/reproduce_tutorial.py --seeds 0-4 --tfa-python ../tfa-venv/bin/python \
        --out runs/reproduction

Without `--tfa-python` (or `$LABKIT_TFA_PYTHON`) only the labkit arms run, and the table
compares them with tfa's records in `../shared/anchors/tfa_tutorial_5seeds.json` instead,
marked as measured elsewhere.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ANCHORS = HERE.parent.parent / "shared" / "anchors" / "tfa_tutorial_5seeds.json"
# The tutorial's published single run (original CIFAR-10, TF 2.x + tfa, one seed).
TUTORIAL = {"regular": 0.6029, "weightnorm": 0.6018}


@dataclass(frozen=True)
class Arm:
    name: str
    stack: str  # "tfa" or "labkit"
    model: str  # "regular" or "weightnorm"
    params: dict
    reference: str  # the tfa arm a labkit arm is compared with


ARMS = (
    Arm("tfa regular", "tfa", "regular", {}, ""),
    Arm("tfa weightnorm", "tfa", "weightnorm", {}, ""),
    Arm("labkit regular", "labkit", "regular", {"weight_norm": False}, "tfa regular"),
    Arm(
        "labkit weightnorm (tfa init)",
        "labkit",
        "weightnorm",
        {"weight_norm": True, "data_init": True, "init_style": "tfa"},
        "tfa weightnorm",
    ),
    Arm(
        "labkit weightnorm (paper init)",
        "labkit",
        "weightnorm",
        {"weight_norm": True, "data_init": True, "init_style": "paper"},
        "tfa weightnorm",
    ),
    Arm(
        "labkit weightnorm (no init)",
        "labkit",
        "weightnorm",
        {"weight_norm": True, "data_init": False},
        "tfa weightnorm",
    ),
    # XLA, which "auto" picks where TensorFlow runs Eigen's CPU kernels, reorders float
    # operations: these two show it changes no statistic (run them with --arms).
    Arm("labkit regular (XLA)", "labkit", "regular", {"jit_compile": True}, "tfa regular"),
    Arm(
        "labkit weightnorm (tfa init, XLA)",
        "labkit",
        "weightnorm",
        {"weight_norm": True, "init_style": "tfa", "jit_compile": True},
        "tfa weightnorm",
    ),
)
ARMS_BY_NAME = {arm.name: arm for arm in ARMS}
DEFAULT_ARMS = [arm.name for arm in ARMS if "XLA" not in arm.name]


def parse_seeds(text: str) -> list[int]:
    """`"0-4"` or `"0,2,5"` → seeds."""
    seeds: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        seeds.extend(range(int(low), int(high or low) + 1))
    return seeds


def slug(arm: str) -> str:
    return arm.replace(" ", "-").replace("(", "").replace(")", "")


# --- children --------------------------------------------------------------------------------


def run_labkit_child(args: argparse.Namespace) -> None:
    """One labkit run (in its own process, so thread settings and seeds start clean)."""
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    from labkit.data import CIFAR10_CLASSES, Dataset
    from labkit.experiment import run_experiment

    with np.load(args.data) as data:  # uint8 images, as `ExperimentParams.load_data` gives
        x_train, x_test = data["x_train"], data["x_test"]
        y_train, y_test = (np.eye(10, dtype="float32")[data[k]] for k in ("y_train", "y_test"))
    dataset = Dataset("cifar10", x_train, y_train, x_test, y_test, CIFAR10_CLASSES)
    params = {**ARMS_BY_NAME[args.arm].params, "seed": args.seed, "epochs": args.epochs}
    start, cpu = time.perf_counter(), time.process_time()
    result = run_experiment(params, data=dataset)
    record = {
        "history": result.history,
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu,
        "compiled": result.compiled,
        "versions": result.versions,
    }
    Path(args.out).write_text(json.dumps(record))


# --- driver ----------------------------------------------------------------------------------


def write_data(out: Path, seed: int, train_limit: int) -> Path:
    """The images both stacks train on, as uint8 (`labkit.load_dataset(dtype="uint8")`)."""
    path = out / (f"data-seed{seed}.npz" if train_limit else "data.npz")
    if path.exists():
        return path
    from labkit.data import load_dataset

    data = load_dataset("cifar10", limit=train_limit or None, seed=seed, dtype="uint8")
    arrays = {
        "x_train": data.x_train,
        "x_test": data.x_test,
        "y_train": data.y_train.astype(np.int64),
        "y_test": data.y_test.astype(np.int64),
    }
    partial = path.with_suffix(".partial.npz")
    np.savez(partial, **arrays)
    partial.replace(path)
    return path


def command(arm: Arm, seed: int, data: Path, out: Path, args: argparse.Namespace) -> list[str]:
    common = ["--seed", str(seed), "--epochs", str(args.epochs), "--threads", str(args.threads)]
    common += ["--data", str(data), "--out", str(out)]
    if arm.stack == "tfa":
        script = HERE / "tutorial_tfa_run.py"
        return [args.tfa_python, str(script), "--model", arm.model, *common]
    return [sys.executable, str(Path(__file__).resolve()), "--child", "--arm", arm.name, *common]


def run_all(args: argparse.Namespace, arms: list[Arm]) -> None:
    """Runs every (seed, arm) that has no result yet, `--jobs` at a time, seed by seed."""
    from tqdm import tqdm

    args.out.mkdir(parents=True, exist_ok=True)
    pending = []
    for seed in args.seeds:  # seed-major: an interrupted benchmark has every arm for its seeds
        for arm in arms:
            result = args.out / f"{slug(arm.name)}-seed{seed}.json"
            if not result.exists():
                pending.append((arm, seed, result))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "OMP_NUM_THREADS": str(args.threads or "")}
    if not args.threads:
        env.pop("OMP_NUM_THREADS")
    running: list[tuple[subprocess.Popen, Path, str, int | None]] = []
    failed = []
    cores = sorted(os.sched_getaffinity(0))
    with tqdm(total=len(pending), desc="runs", unit="run") as progress:
        while pending or running:
            while pending and len(running) < args.jobs:
                arm, seed, result = pending.pop(0)
                data = write_data(args.out, seed, args.train_limit)
                log = result.with_suffix(".log")
                cmd = command(arm, seed, data, result, args)
                # --pin: each run on a core of its own, so CPU time per run is comparable.
                busy = {item[3] for item in running}
                core = next((c for c in cores if c not in busy), None) if args.pin else None
                if core is not None:
                    cmd = ["taskset", "-c", str(core), *cmd]
                with open(log, "w") as handle:
                    process = subprocess.Popen(
                        cmd, stdout=handle, stderr=subprocess.STDOUT, env=env
                    )
                running.append((process, result, f"{arm.name} seed {seed}", core))
            time.sleep(2)
            for item in list(running):
                process, result, label, _ = item
                if process.poll() is None:
                    continue
                running.remove(item)
                progress.update(1)
                if process.returncode != 0 or not result.exists():
                    failed.append(
                        f"{label} (exit {process.returncode}, see {result.with_suffix('.log')})"
                    )
    for line in failed:
        print(f"failed: {line}", file=sys.stderr)


def load_results(out: Path, arms: list[Arm], seeds: list[int]) -> dict[str, list[dict]]:
    results: dict[str, list[dict]] = {}
    for arm in arms:
        for seed in seeds:
            path = out / f"{slug(arm.name)}-seed{seed}.json"
            if path.exists():
                results.setdefault(arm.name, []).append(
                    {"seed": seed, **json.loads(path.read_text())}
                )
    return results


def anchor_results() -> dict[str, list[dict]]:
    """tfa's own 5-seed records, measured on another machine (when no tfa venv is given)."""
    records = json.loads(ANCHORS.read_text())
    names = {"reg": "tfa regular (anchors)", "wn": "tfa weightnorm (anchors)"}
    results: dict[str, list[dict]] = {}
    for record in records:
        history = {k: record[k] for k in ("loss", "accuracy", "val_loss", "val_accuracy")}
        results.setdefault(names[record["model"]], []).append(
            {"seed": record["seed"], "history": history, "seconds": record["secs"]}
        )
    return results


def _finals(runs: list[dict], metric: str = "val_accuracy", best: bool = False) -> list[float]:
    return [max(r["history"][metric]) if best else r["history"][metric][-1] for r in runs]


def _median_per_epoch(runs: list[dict], key: str, epochs: int) -> str:
    values = [run[key] for run in runs if key in run]
    return f"{np.median(values) / epochs:.1f}" if values else ""


def _compiled(runs: list[dict]) -> str:
    """The `jit_compile` / `steps_per_execution` labkit's runs used (tfa's: its fit's own)."""
    settings = {
        f"jit_compile={c['jit_compile']}, spe={c['steps_per_execution']}"
        for c in (run.get("compiled") for run in runs)
        if c
    }
    return "; ".join(sorted(settings))


def _difference(a: list[float], b: list[float]) -> tuple[str, str]:
    """`mean(a) - mean(b)` with its 95% Welch interval, and the verdict it supports."""
    from labkit.stats import difference_interval

    diff = difference_interval(a, b)
    return diff.format("+.4f"), "differs" if diff.excludes_zero else "no difference shown"


def table(results: dict[str, list[dict]], epochs: int):
    """One row per arm: final/best val_accuracy with intervals, and the difference from tfa."""
    import pandas as pd

    from labkit.stats import mean_interval

    rows = []
    for name, runs in results.items():
        arm = ARMS_BY_NAME.get(name)
        reference = arm.reference if arm else ""
        if reference and reference not in results:
            reference = f"{reference} (anchors)" if f"{reference} (anchors)" in results else ""
        final = _finals(runs)
        row = {
            "arm": name,
            "n": len(runs),
            "final val_accuracy": mean_interval(final).format(),
            "sd": f"{np.std(final, ddof=1):.4f}" if len(final) > 1 else "",
            "min – max": f"{min(final):.4f} – {max(final):.4f}",
            "best val_accuracy": mean_interval(_finals(runs, best=True)).format(),
            "final val_loss": mean_interval(_finals(runs, "val_loss")).format(),
            "s / epoch": f"{np.median([run['seconds'] for run in runs]) / epochs:.1f}",
            "CPU s / epoch": _median_per_epoch(runs, "cpu_seconds", epochs),
            "compiled": _compiled(runs),
            "Δ final vs tfa": "",
            "verdict": "",
        }
        if reference:
            difference, row["verdict"] = _difference(final, _finals(results[reference]))
            row["Δ final vs tfa"] = f"{difference} (vs {reference})"
        rows.append(row)
    return pd.DataFrame(rows)


def weightnorm_effect(results: dict[str, list[dict]]):
    """Each WeightNorm arm against the regular ConvNet of its own stack (final and best)."""
    import pandas as pd

    rows = []
    for name, runs in results.items():
        arm = ARMS_BY_NAME.get(name)
        regular = f"{arm.stack} regular" if arm else ""
        if not arm or arm.model != "weightnorm" or regular not in results:
            continue
        final, final_verdict = _difference(_finals(runs), _finals(results[regular]))
        best, best_verdict = _difference(
            _finals(runs, best=True), _finals(results[regular], best=True)
        )
        rows.append(
            {
                "WeightNorm arm": name,
                "Δ final val_accuracy vs regular": final,
                "verdict (final)": final_verdict,
                "Δ best val_accuracy vs regular": best,
                "verdict (best)": best_verdict,
            }
        )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=parse_seeds, default=parse_seeds("0-4"))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--train-limit", type=int, default=0, help="0: all 50,000 images")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads per run")
    parser.add_argument(
        "--pin", action="store_true", help="pin each run to a core of its own (taskset)"
    )
    parser.add_argument("--arms", nargs="+", choices=list(ARMS_BY_NAME), default=None)
    parser.add_argument("--tfa-python", default=os.environ.get("LABKIT_TFA_PYTHON"))
    parser.add_argument("--out", type=Path, default=Path("runs/reproduction"))
    # One child run (used by the driver itself).
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--arm", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_labkit_child(args)
        return

    arms = [ARMS_BY_NAME[name] for name in args.arms or DEFAULT_ARMS]
    if not args.tfa_python:
        arms = [arm for arm in arms if arm.stack != "tfa"]
        print("No --tfa-python: labkit arms only, compared with tfa's anchor records.")
    start = time.perf_counter()
    run_all(args, arms)
    results = load_results(args.out, arms, args.seeds)
    if not args.tfa_python and ANCHORS.exists():
        results.update(anchor_results())
    summary = table(results, args.epochs)
    summary.to_csv(args.out / "table.csv", index=False)
    effect = weightnorm_effect(results)
    effect.to_csv(args.out / "weightnorm_effect.csv", index=False)
    markdown = summary.to_markdown(index=False) + "\n\n" + effect.to_markdown(index=False)
    (args.out / "table.md").write_text(markdown + "\n")
    print(markdown)
    print(
        f"tutorial (published, one run): regular {TUTORIAL['regular']}, "
        f"weightnorm {TUTORIAL['weightnorm']}"
    )
    print(f"wall time: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
