"""benchmarks/paper_cifar10.py, the one-command GPU run: its budget arithmetic, and the command
itself on a tiny CIFAR-10 copy, with the settings planned for the GPU.

The command runs on the backend of `KERAS_BACKEND` (TensorFlow in CI, where JAX's compiles
would double this test's time); before a GPU run, run this module with `KERAS_BACKEND=jax`, the
GPU run's backend. No timing is asserted: the numbers depend on the machine.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "paper_cifar10.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("paper_cifar10", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Data:
    x_train = [0] * 50_000
    x_test = [0] * 10_000


def test_the_budget_lowers_the_epochs_and_keeps_at_least_two(script, monkeypatch):
    costs = {"compile_s": 10.0, "step_s": 0.005, "test_image_s": 1e-5}  # 2.6 s an epoch
    monkeypatch.setattr(script, "elapsed", lambda: 60.0)
    epochs, epoch_s = script.fitting_epochs(26, 4, 600.0, costs, _Data(), 100)
    assert epoch_s == pytest.approx(2.6)
    # (600 - 60 - 4 x 10 x 1.2) / (4 x 2.6 x 1.2) = 39.4: all 26 fit
    assert epochs == 26
    # (300 - 60 - 48) / 12.48 = 15.4
    assert script.fitting_epochs(26, 4, 300.0, costs, _Data(), 100)[0] == 15
    assert script.fitting_epochs(26, 4, 70.0, costs, _Data(), 100)[0] == script.MIN_EPOCHS


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_command_runs_and_writes_every_file(script, tiny_archive, tmp_path, capsys):
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    steps_per_execution = "1" if backend == "torch" else "2"  # Keras' limit on PyTorch
    out, bundle = tmp_path / "paper", tmp_path / "returned" / "paper.tar.gz"
    env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "LABKIT_CIFAR10_ARCHIVE": str(tiny_archive),
        "LABKIT_CACHE_DIR": str(tmp_path / "cache"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    command = [
        sys.executable, str(SCRIPT), "--schedule", "cpu", "--normalization", "weightnorm",
        "--epochs", "2", "--train-limit", "0", "--test-limit", "0", "--time-budget", "900",
        "--steps-per-execution", steps_per_execution, "--out", str(out), "--bundle", str(bundle),
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert f"backend {backend} on " in lines[0]
    assert any("calibration:" in line and "-> 2 epochs per run" in line for line in lines)
    assert lines[-1].startswith("paper_cifar10_seconds=")
    curves = pd.read_csv(out / "curves.csv")
    assert curves["run"].tolist() == ["weightnorm", "weightnorm"] and "val_error" in curves
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == 2 and summary["decay_start"] == 1
    assert summary["runs"]["weightnorm"]["status"] == "completed"
    assert summary["train_images"] == 100 and summary["versions"]["backend"] == backend
    assert "| weightnorm" in (out / "comparison.md").read_text()
    with tarfile.open(bundle) as archive:
        names = set(archive.getnames())
    assert {"paper/curves.csv", "paper/summary.json", "paper/weightnorm/metrics.json"} <= names

    capsys.readouterr()
    script.report(out)  # what `--report` does
    assert "After 2 epochs" in capsys.readouterr().out and (out / "test_error.html").is_file()
