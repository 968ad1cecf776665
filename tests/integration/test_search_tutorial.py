"""A tiny search of the real tutorial notebook: two trials of two epochs on 200 images, reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "weight_norm.ipynb"
SPACE = """\
learning_rate: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
optimizer: [adam, sgd]
"""


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_tutorial_search_runs_and_reports(offline_cifar10, tmp_path, run_labkit):
    (tmp_path / "space.yaml").write_text(SPACE)
    search = ["search", str(NOTEBOOK), "--space", "space.yaml", "--trials", "2"]
    search += ["--objective", "val_accuracy", "--out", "runs", "--jobs", "1", "--sampler"]
    search += ["random", "--kernel", "python3", "--timeout", "600", "-p", "model", "weightnorm"]
    search += ["-p", "epochs", "2", "-p", "train_limit", "200", "-p", "test_limit", "100"]

    first = run_labkit(*search, cwd=tmp_path)

    assert first.returncode == 0, first.stdout + first.stderr
    assert "2 trials: 2 complete. Best: trial" in first.stdout
    metrics = sorted((tmp_path / "runs").glob("*/weightnorm/metrics.json"))
    assert len(metrics) == 2
    for path in metrics:  # labkit's notebook records every epoch: each is a reported step
        assert len(json.loads(path.read_text())["history"]["val_accuracy"]) == 2

    report = run_labkit("report", "runs", "--target", "0.1", cwd=tmp_path)

    assert report.returncode == 0, report.stderr
    assert f"papermill {NOTEBOOK} runs/best/weight_norm.ipynb -p model weightnorm" in report.stdout
    assert (tmp_path / "runs" / "search.html").is_file()
    assert (tmp_path / "runs" / "summary.md").is_file()
