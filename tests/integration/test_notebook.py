"""notebooks/weight_norm.ipynb: documented parameters, clean commits, headless papermill runs."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import papermill
import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "weight_norm.ipynb"
TINY = {"epochs": 1, "train_limit": 2000, "test_limit": 500}


def test_every_parameter_is_documented_with_type_and_help():
    parameters = papermill.inspect_notebook(str(NOTEBOOK))
    expected = {
        "dataset", "model", "epochs", "batch_size", "learning_rate", "optimizer", "seed",
        "data_init", "train_limit", "test_limit", "output_dir", "archive",
    }  # fmt: skip
    assert expected <= set(parameters)
    for name, parameter in parameters.items():
        assert parameter["inferred_type_name"] != "None", name
        assert parameter["help"], name


def test_every_parameter_reaches_the_runs(notebooks):
    """The cell that gathers the parameters for labkit names each one (`live` and `diagnostics`
    go to `LivePlot` on their own, and are checked with them)."""
    gathered = notebooks.gathered_parameters(NOTEBOOK)
    assert gathered == set(papermill.inspect_notebook(str(NOTEBOOK))) - {"live", "diagnostics"}


def test_notebook_is_committed_clean():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_headless_run_saves_table_figure_and_metrics(offline_cifar10, tmp_path, notebooks):
    parameters = {**TINY, "output_dir": str(tmp_path / "runs")}
    outputs = notebooks.execute(NOTEBOOK, parameters, tmp_path)
    html = "".join(str(output.get("data", {}).get("text/html", "")) for output in outputs)
    assert "tutorial_val_accuracy" in html and "WeightNorm ConvNet" in html
    figures = [o["data"] for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert figures, "the accuracy figure is missing from the saved notebook"
    traces = figures[-1]["application/vnd.plotly.v1+json"]["data"]
    colours = {trace["legendgroup"]: trace["line"]["color"] for trace in traces}
    assert colours == {"regular": "#d62728", "weightnorm": "#1f77b4"}
    for run in ("regular", "weightnorm"):
        metrics = json.loads((tmp_path / "runs" / run / "metrics.json").read_text())
        assert metrics["status"] == "completed" and metrics["epochs_completed"] == 1
        assert metrics["params"]["train_limit"] == 2000
        assert (tmp_path / "runs" / run / "history.csv").is_file()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_bad_parameter_fails_before_any_data_is_loaded(tmp_path):
    with pytest.raises(papermill.PapermillExecutionError) as error:
        papermill.execute_notebook(
            str(NOTEBOOK),
            str(tmp_path / "failed.ipynb"),
            parameters={"optimizer": "adagrad", "output_dir": str(tmp_path / "runs")},
            cwd=str(tmp_path),
            kernel_name="python3",
            progress_bar=False,
        )
    assert "Invalid value for `optimizer`" in str(error.value.evalue)
    assert "Received: `optimizer='adagrad'`" in str(error.value.evalue)
    assert not (tmp_path / "runs").exists()
