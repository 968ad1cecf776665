"""A tiny 2x2x2 sweep of the real tutorial notebook: run, resume, report."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "weight_norm.ipynb"
TINY = ["-p", "epochs", "1", "-p", "train_limit", "200", "-p", "test_limit", "100"]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_tutorial_sweep_runs_resumes_and_reports(offline_cifar10, tmp_path, run_labkit):
    grid = ["-p", "model", "regular,weightnorm", "-p", "data_init", "true,false"]
    sweep = ["sweep", str(NOTEBOOK), *grid, "--seeds", "0,1", *TINY, "--out", "runs"]
    sweep += ["--kernel", "python3", "--timeout", "600"]

    first = run_labkit(*sweep, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "8 runs: 8 completed." in first.stdout
    metrics = sorted((tmp_path / "runs").glob("*/*/metrics.json"))
    assert len(metrics) == 8
    stamps = [path.stat().st_mtime_ns for path in metrics]

    again = run_labkit(*sweep, cwd=tmp_path)
    assert again.returncode == 0 and "8 runs: 8 completed." in again.stdout
    assert [path.stat().st_mtime_ns for path in metrics] == stamps  # resumed: nothing re-ran

    report = run_labkit("report", "runs", "--target", "0.1", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    summary = pd.read_csv(tmp_path / "runs" / "summary.csv")
    assert set(summary["setting"]) == {
        "regular",
        "WeightNorm, data_init on",
        "WeightNorm, data_init off",
    }
    # Regular runs ignore data_init: each seed counts once.
    assert summary.set_index("setting").loc["regular", "n"] == 2
    assert (tmp_path / "runs" / "curves.html").is_file()
    assert (tmp_path / "runs" / "summary.md").read_text().count("|") > 10
