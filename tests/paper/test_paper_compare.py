"""labkit.paper.compare and labkit.paper.figures: our runs beside the paper's Table 1."""

from __future__ import annotations

import math

import pytest

from labkit.paper.compare import (
    PAPER_TEST_ERROR,
    describe_comparison,
    error_curves,
    load_paper_results,
    paper_comparison,
)
from labkit.paper.figures import error_figure
from labkit.results import RunRecord


def _record(run: str, normalization: str, val_error: list[float], seed: int = 0) -> RunRecord:
    return RunRecord(
        run_name=run,
        status="completed",
        params={"normalization": normalization, "seed": seed},
        history={"error": [e + 0.05 for e in val_error], "val_error": val_error},
    )


RUNS = {
    "regular": _record("regular", "none", [0.5, 0.30]),
    "weightnorm": _record("weightnorm", "weightnorm", [0.4, 0.20]),
    "weightnorm_meanonly": _record("weightnorm_meanonly", "weightnorm+meanonly", [0.45, 0.25]),
}


def test_the_table_sets_our_final_errors_beside_the_papers():
    table = paper_comparison(RUNS)
    assert list(table.index) == ["none", "weightnorm", "weightnorm+meanonly"]  # paper's order
    assert table.loc["weightnorm", "test_error"] == 0.20
    assert table.loc["weightnorm", "paper_test_error"] == PAPER_TEST_ERROR["weightnorm"] == 0.0846
    assert table.loc["none", "difference"] == pytest.approx(0.30 - 0.0843)
    assert table["rank"].tolist() == [3, 1, 2]
    assert table["paper_rank"].tolist() == [2, 3, 1]
    assert table["epochs"].tolist() == [2, 2, 2] and table["paper_epochs"].tolist() == [200] * 3
    assert math.isnan(table.loc["none", "half_width"]) and table["runs"].tolist() == [1, 1, 1]


def test_several_seeds_give_a_mean_and_a_95_percent_interval():
    seeds = {
        f"weightnorm-{seed}": _record("weightnorm", "weightnorm", [0.3, error], seed)
        for seed, error in enumerate([0.10, 0.12, 0.14])
    }
    row = paper_comparison(seeds).loc["weightnorm"]
    assert row["runs"] == 3 and row["test_error"] == pytest.approx(0.12)
    # t(0.975, 2) = 4.303, standard error 0.02 / sqrt(3)
    assert row["half_width"] == pytest.approx(4.3027 * 0.02 / math.sqrt(3), rel=1e-3)


def test_the_description_is_computed_from_the_table():
    text = describe_comparison(paper_comparison(RUNS))
    assert text.startswith("After 2 epochs (1 seed each, so no interval")
    assert "WeightNorm ConvNet: 20.00% against the paper's 8.46% (+11.54 points)." in text
    assert "weightnorm < weightnorm+meanonly < none; not the same as the paper's" in text
    assert describe_comparison(paper_comparison({})) == "No run has a test error yet."


def test_the_curves_and_the_figure_hold_every_epoch_of_every_run():
    curves = error_curves(RUNS)
    assert len(curves) == 6 and set(curves["normalization"]) == {
        "none", "weightnorm", "weightnorm+meanonly",
    }  # fmt: skip
    figure = error_figure(RUNS)
    names = [trace.name for trace in figure.data]
    assert "Regular ConvNet (test)" in names and "WeightNorm ConvNet (train)" in names
    assert "WeightNorm ConvNet, paper (200 epochs): 8.46%" in names
    colours = {trace.legendgroup: trace.line.color for trace in figure.data}
    assert colours["regular"] == "#d62728" and colours["weightnorm"] == "#1f77b4"


def test_runs_are_read_back_from_a_folder(tmp_path):
    for name, record in RUNS.items():
        (tmp_path / name).mkdir()
        record.write(tmp_path / name)
    loaded = load_paper_results(tmp_path)
    assert sorted(loaded) == sorted(RUNS)
    assert paper_comparison(loaded).equals(paper_comparison(RUNS))
    with pytest.raises(FileNotFoundError, match="No runs folder"):
        load_paper_results(tmp_path / "missing")
