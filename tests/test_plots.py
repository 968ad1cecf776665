"""labkit.plots: the results table beside the tutorial's numbers, and the accuracy figure."""

from __future__ import annotations

import pytest

from labkit.params import ExperimentParams
from labkit.plots import TUTORIAL_REFERENCE, accuracy_figure, results_table
from labkit.results import RunResult
from labkit.variants import RUN_COLORS


def _results() -> dict[str, RunResult]:
    def result(weight_norm: bool, accuracy: list[float], status: str = "completed") -> RunResult:
        return RunResult(
            ExperimentParams(weight_norm=weight_norm, epochs=len(accuracy)),
            history={
                "accuracy": accuracy,
                "val_accuracy": [value - 0.1 for value in accuracy],
                "val_loss": [2 - value for value in accuracy],
            },
            epoch_seconds=[4.0, 2.0, 3.0][: len(accuracy)],
            status=status,
        )

    return {
        "regular": result(False, [0.4, 0.6, 0.5]),
        "weightnorm": result(True, [0.45, 0.55], status="stopped"),
        "custom": result(True, [0.3]),
    }


def test_results_table_has_final_and_best_metrics_beside_the_tutorial():
    table = results_table(_results())
    assert list(table.index) == ["regular", "weightnorm", "custom"]
    regular = table.loc["regular"]
    assert regular["model"] == "Regular ConvNet" and regular["epochs"] == 3
    assert regular["val_accuracy"] == pytest.approx(0.4)
    assert regular["best_val_accuracy"] == pytest.approx(0.5)
    assert regular["seconds_per_epoch"] == pytest.approx(3.0)
    assert regular["tutorial_val_accuracy"] == TUTORIAL_REFERENCE.loc["regular", "val_accuracy"]
    assert table.loc["weightnorm", "status"] == "stopped"
    assert table.loc["custom", "model"] == "custom"  # no label, no tutorial numbers
    assert table["tutorial_val_accuracy"].isna()["custom"]


def test_results_table_without_reference():
    table = results_table(_results(), reference=None)
    assert not any(column.startswith("tutorial_") for column in table.columns)


def test_accuracy_figure_draws_train_solid_and_validation_dashed_in_run_colours():
    figure = accuracy_figure(_results(), title="Accuracy")
    traces = {trace.name: trace for trace in figure.data}
    assert list(traces)[:2] == ["Regular ConvNet (train)", "Regular ConvNet (val)"]
    train, val = traces["WeightNorm ConvNet (train)"], traces["WeightNorm ConvNet (val)"]
    assert train.line.color == val.line.color == RUN_COLORS["weightnorm"]
    assert (train.line.dash, val.line.dash) == ("solid", "dash")
    assert list(train.x) == [1, 2] and list(val.y) == pytest.approx([0.35, 0.45])
    assert figure.layout.title.text == "Accuracy"
