"""labkit.analysis.summary: each setting summed up over seeds, with Student t intervals."""

from __future__ import annotations

import pandas as pd
import pytest
from sweep_runs import write_metrics

from labkit import analysis
from labkit.analysis.summary import epochs_to_reach


def summary_by_setting(runs_dir, target=0.5):
    return analysis.summarize(analysis.load_runs(runs_dir), target).set_index("setting")


def test_summarize_gives_mean_std_and_student_t_interval_over_seeds(runs_dir):
    summary = summary_by_setting(runs_dir)

    assert list(summary.index) == [
        "regular",
        "WeightNorm, data_init off",
        "WeightNorm, data_init on",
    ]
    regular = summary.loc["regular"]
    assert regular["n"] == 3  # its duplicate from the data_init=False runs counts once
    assert regular["final_val_accuracy_mean"] == pytest.approx(0.6)
    assert regular["final_val_accuracy_std"] == pytest.approx(0.1)
    # t(0.975, df=2) = 4.302653 from a t table; 4.302653 * 0.1 / sqrt(3):
    assert regular["final_val_accuracy_ci95"] == pytest.approx(0.248413771175033)
    assert regular["best_val_accuracy_mean"] == pytest.approx((0.5 + 0.65 + 0.7) / 3)
    with_init = summary.loc["WeightNorm, data_init on"]
    assert with_init["final_val_accuracy_mean"] == pytest.approx(0.62)
    assert with_init["final_val_accuracy_std"] == pytest.approx(0.02)
    assert with_init["final_val_accuracy_ci95"] == pytest.approx(0.0496827542350066)
    without_init = summary.loc["WeightNorm, data_init off"]
    assert without_init["n"] == 2
    assert without_init["final_val_accuracy_std"] == pytest.approx(0.141421356237310)
    # t(0.975, df=1) = 12.706205; 12.706205 * 0.1414214 / sqrt(2):
    assert without_init["final_val_accuracy_ci95"] == pytest.approx(1.27062047361747)
    assert summary["seconds_per_epoch"].eq(1.2).all()


def test_summarize_counts_epochs_to_target_over_runs_that_reach_it(runs_dir):
    summary = summary_by_setting(runs_dir, target=0.5)

    assert summary.loc["regular", "epochs_to_target_mean"] == pytest.approx((3 + 2 + 3) / 3)
    assert summary.loc["regular", "reached_target"] == 3
    assert summary.loc["WeightNorm, data_init off", "epochs_to_target_mean"] == 1
    assert summary.loc["WeightNorm, data_init off", "reached_target"] == 1
    assert summary_by_setting(runs_dir, target=0.99)["reached_target"].eq(0).all()


def test_summarize_ignores_runs_that_did_not_complete(runs_dir):
    assert summary_by_setting(runs_dir).loc["WeightNorm, data_init on", "n"] == 3


def test_summarize_with_one_seed_has_no_interval(tmp_path):
    write_metrics(tmp_path / "a", weight_norm=True, data_init=True, seed=0, curve=[0.4, 0.5, 0.6])

    summary = analysis.summarize(analysis.load_runs(tmp_path))

    assert summary.loc[0, "n"] == 1
    assert pd.isna(summary.loc[0, "final_val_accuracy_ci95"])
    row = analysis.summary_markdown(summary).strip().splitlines()[-1]
    assert "0.6000" in row
    assert "±" not in row


@pytest.mark.parametrize(
    ("curve", "target", "expected"),
    [([0.3, 0.45, 0.52, 0.6], 0.5, 3.0), ([0.5], 0.5, 1.0), ([0.1, 0.2], 0.5, None)],
)
def test_epochs_to_reach(curve, target, expected):
    result = epochs_to_reach(curve, target)

    assert pd.isna(result) if expected is None else result == expected


def test_summary_markdown_shows_mean_and_interval(runs_dir):
    markdown = analysis.summary_markdown(analysis.summarize(analysis.load_runs(runs_dir)), 0.5)

    assert "| regular " in markdown
    assert "0.6000 ± 0.2484" in markdown
    assert "2.7 (3/3)" in markdown


def test_runs_with_different_parameter_sets_are_kept_apart(tmp_path):
    for seed in range(3):
        setting = {"weight_norm": True, "data_init": True, "seed": seed}
        write_metrics(tmp_path / f"a{seed}", **setting, curve=[0.4, 0.5, 0.6])
        write_metrics(tmp_path / f"b{seed}", **setting, curve=[0.1, 0.2, 0.3], optimizer="sgd")

    summary = summary_by_setting(tmp_path)

    assert summary["n"].to_dict() == {
        "WeightNorm, data_init on, optimizer=sgd": 3,
        "WeightNorm, data_init on, optimizer not set": 3,
    }
    assert summary["final_val_accuracy_mean"].to_dict() == {
        "WeightNorm, data_init on, optimizer=sgd": pytest.approx(0.3),
        "WeightNorm, data_init on, optimizer not set": pytest.approx(0.6),
    }


@pytest.mark.parametrize("target", [float("nan"), 0, 1.5, "0.5"])
def test_summarize_rejects_targets_that_are_not_an_accuracy(target, runs_dir):
    with pytest.raises(ValueError, match=r"`target`: expected a number in \(0, 1\]"):
        analysis.summarize(analysis.load_runs(runs_dir), target)
