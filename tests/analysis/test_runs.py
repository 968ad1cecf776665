"""labkit.analysis.runs: every metrics.json below a folder, one row per model, in settings."""

from __future__ import annotations

import pandas as pd
import pytest
from sweep_runs import CURVES, write_metrics

from labkit import analysis
from labkit.analysis.runs import comparable_runs, setting_columns


def test_load_runs_reads_every_metrics_file(runs_dir):
    runs = analysis.load_runs(runs_dir)

    assert len(runs) == len(CURVES) + 3 + 1
    assert runs.columns.is_unique  # `params.run_name` does not shadow the top-level `run_name`
    assert {"weight_norm", "data_init", "seed", "dataset"} <= set(runs.columns)
    assert runs["seconds_per_epoch"].eq(1.2).all()  # the median: the slow first epoch is ignored
    regular = runs.query("path == 'data_init=True,seed=1/regular'").iloc[0]
    assert regular["val_accuracy"] == [0.3, 0.65, 0.6]
    assert regular["final_val_accuracy"] == 0.6
    assert regular["best_val_accuracy"] == 0.65


def test_load_runs_without_metrics_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="No metrics.json below the runs folder"):
        analysis.load_runs(tmp_path)


def test_setting_columns_add_varying_parameters_but_never_seed():
    runs = pd.DataFrame(
        {
            "weight_norm": [True, True, False],
            "data_init": [True, True, True],
            "learning_rate": [0.1, 0.01, 0.1],
            "dataset": ["cifar10"] * 3,
            "seed": [0, 1, 2],
            "archive": ["a", "b", "c"],
            "final_val_accuracy": [0.1, 0.2, 0.3],
        }
    )

    assert setting_columns(runs) == ["weight_norm", "data_init", "learning_rate"]


def _settings(runs_dir) -> list[str]:
    return sorted(set(comparable_runs(analysis.load_runs(runs_dir))[0]["setting"]))


def test_normalization_names_settings_only_where_weight_norm_cannot(tmp_path):
    """Runs recorded before `normalization` was the one field (null) read as what `weight_norm`
    says; the regular and WeightNorm ConvNets keep their labels either way."""
    for name, weight_norm, normalization in (
        ("old", False, None),
        ("new", True, "weightnorm"),
    ):
        write_metrics(
            tmp_path / name / "run",
            weight_norm=weight_norm,
            data_init=True,
            seed=0,
            curve=[0.5],
            normalization=normalization,
        )
    assert analysis.load_runs(tmp_path)["normalization"].tolist() == ["weightnorm", "none"]
    assert _settings(tmp_path) == ["WeightNorm, data_init on", "regular"]

    write_metrics(
        tmp_path / "bn" / "run",
        weight_norm=False,
        data_init=True,
        seed=0,
        curve=[0.5],
        normalization="batchnorm",
    )
    assert _settings(tmp_path) == [
        "WeightNorm, data_init on, normalization=weightnorm",
        "regular, normalization=batchnorm",
        "regular, normalization=none",
    ]
