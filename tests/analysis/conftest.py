"""Fixtures of the labkit.analysis tests: a sweep's runs folder with known statistics."""

from __future__ import annotations

import pytest
from sweep_runs import CURVES, write_metrics


@pytest.fixture
def runs_dir(tmp_path):
    for (weight_norm, data_init, seed), curve in CURVES.items():
        run_name = "weightnorm" if weight_norm else "regular"
        sweep_run = tmp_path / f"data_init={data_init},seed={seed}"
        write_metrics(
            sweep_run / run_name,
            weight_norm=weight_norm,
            data_init=data_init,
            seed=seed,
            curve=curve,
        )
        if not weight_norm:
            # The same regular model again, as a sweep over data_init trains it.
            write_metrics(
                tmp_path / f"data_init=False,seed={seed}" / "regular",
                weight_norm=False,
                data_init=False,
                seed=seed,
                curve=curve,
            )
    write_metrics(
        tmp_path / "crashed" / "weightnorm",
        weight_norm=True,
        data_init=True,
        seed=3,
        curve=[0.9, 0.9, 0.9],
        status="failed",
    )
    return tmp_path


@pytest.fixture
def sweep(tmp_path):
    """The `runs_dir` curves, plus a learning-rate grid (one rate per seed) and losses."""
    for (weight_norm, data_init, seed), curve in CURVES.items():
        folder = tmp_path / f"data_init={data_init},seed={seed}"
        write_metrics(
            folder / ("weightnorm" if weight_norm else "regular"),
            weight_norm=weight_norm,
            data_init=data_init,
            seed=seed,
            curve=curve,
            optimizer="sgd" if seed % 2 else "adam",
        )
    return tmp_path
