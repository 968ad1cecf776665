"""notebooks/paper_cifar10.ipynb: documented parameters, clean commits, a headless run."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import papermill
import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "paper_cifar10.ipynb"


def test_every_parameter_is_documented_with_type_and_help():
    parameters = papermill.inspect_notebook(str(NOTEBOOK))
    expected = {
        "normalization", "schedule", "epochs", "seed", "backend", "train_limit", "test_limit",
        "learning_rate", "jit_compile", "steps_per_execution", "output_dir", "archive", "live",
    }  # fmt: skip
    assert set(parameters) == expected
    for name, parameter in parameters.items():
        assert parameter["inferred_type_name"] != "None", name
        assert parameter["help"], name


def test_every_parameter_reaches_the_runs(notebooks):
    """The setup cell hands every parameter to labkit (`live` goes to `LivePlot`)."""
    used = notebooks.gathered_parameters(NOTEBOOK) | {"normalization", "backend", "live"}
    assert used == set(papermill.inspect_notebook(str(NOTEBOOK)))
    setup = next(c for c in nbformat.read(NOTEBOOK, as_version=4).cells if "params =" in c.source)
    assert "use_backend(backend)" in setup.source and "paper_runs(normalization" in setup.source


def test_notebook_is_committed_clean():
    for cell in nbformat.read(NOTEBOOK, as_version=4).cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_headless_run_trains_live_and_compares_with_the_paper(
    tiny_archive, tmp_path, monkeypatch, notebooks
):
    monkeypatch.setenv("LABKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    parameters = {
        "normalization": "weightnorm+meanonly",  # the most layers; all four cost 2x
        "epochs": 1,
        "train_limit": 0,
        "test_limit": 0,
        "archive": str(tiny_archive),
        "output_dir": str(tmp_path / "runs"),
    }
    outputs = notebooks.execute(NOTEBOOK, parameters, tmp_path)
    text = "".join(
        str(output.get("text", "")) + str(output.get("data", {}).get("text/html", ""))
        for output in outputs
    )
    assert "Keras backend: tensorflow" in text
    assert "authors_trainable" in text and "1406794" in text  # the parameter counts
    assert "paper_test_error" in text and "0.0731" in text  # Table 1 beside ours
    assert "After 1 epochs (1 seed each, so no interval" in text
    figures = [o["data"] for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(figures) >= 2, "the live figure or the test-error figure is missing"
    names = {trace.get("name") for trace in figures[-1]["application/vnd.plotly.v1+json"]["data"]}
    assert "WeightNorm + mean-only BN ConvNet, paper (200 epochs): 7.31%" in names
    metrics = json.loads((tmp_path / "runs" / "weightnorm_meanonly" / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["epochs_completed"] == 1
    assert len(metrics["history"]["val_error"]) == 1
