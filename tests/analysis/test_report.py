"""labkit.analysis.report: summary.csv, summary.md and the figures (HTML, and PNG through
kaleido) written beside a sweep's runs, and the sweep_report notebook that does the same."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pandas as pd
import papermill
import pytest

from labkit import analysis
from labkit.plotting.export import find_browser, image_export_problem

REPO = Path(__file__).resolve().parents[2]
REPORT_NOTEBOOK = REPO / "notebooks" / "sweep_report.ipynb"
HAS_BROWSER = find_browser() is not None and importlib.util.find_spec("kaleido")


def test_write_report_writes_table_and_figure(runs_dir, tmp_path):
    paths = analysis.write_report(runs_dir, tmp_path / "report", target=0.5)

    assert pd.read_csv(paths["csv"])["n"].tolist() == [3, 2, 3]
    assert "WeightNorm, data_init on" in paths["markdown"].read_text()
    assert "plotly" in paths["figure"].read_text()[:5000].lower()


def test_sweep_report_notebook_is_clean_and_documents_its_parameters():
    notebook = nbformat.read(REPORT_NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]

    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    parameters = papermill.inspect_notebook(str(REPORT_NOTEBOOK))
    assert list(parameters) == ["runs_dir", "target", "out_dir"]
    assert all(parameter["help"] for parameter in parameters.values())


@pytest.mark.slow
def test_sweep_report_notebook_writes_the_report(runs_dir, tmp_path):
    papermill.execute_notebook(
        str(REPORT_NOTEBOOK),
        str(tmp_path / "executed.ipynb"),
        parameters={"runs_dir": str(runs_dir), "out_dir": str(tmp_path / "report")},
        kernel_name="python3",
        cwd=str(REPO),
        progress_bar=False,
    )

    written = ["curves.html", "parallel.html", "summary.csv", "summary.md"]
    if image_export_problem() is None:  # PNGs where kaleido finds a browser
        written += ["curves.png", "parallel.png"]
    assert sorted(path.name for path in (tmp_path / "report").iterdir()) == sorted(written)


@pytest.mark.slow
def test_sweep_report_notebook_without_runs_says_so_in_one_line(tmp_path):
    papermill.execute_notebook(
        str(REPORT_NOTEBOOK),
        str(tmp_path / "executed.ipynb"),
        kernel_name="python3",
        cwd=str(tmp_path),  # an empty folder: no `runs/sweep`
        progress_bar=False,
    )
    executed = nbformat.read(tmp_path / "executed.ipynb", as_version=4)
    outputs = [output for cell in executed.cells for output in cell.get("outputs", [])]
    assert [output.output_type for output in outputs] == ["stream"]
    line = outputs[0]["text"]
    assert line.count("\n") == 1 and line.startswith("No metrics.json below the runs folder.")
    assert "Run a sweep first" in line


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("", "empty"),
        ('{"run_name": "weightnorm", "status": "compl', "not valid JSON"),
        ("[1, 2]", "expected a JSON object, found list"),
        ('{"run_name": "weightnorm", "status": "completed", "history": 3}', "`history` should be"),
    ],
    ids=["empty", "truncated", "list", "wrong-type"],
)
def test_unreadable_metrics_are_named_left_out_and_counted(content, problem, runs_dir, tmp_path):
    broken = runs_dir / "data_init=True,seed=9" / "weightnorm"
    broken.mkdir(parents=True)
    (broken / "metrics.json").write_text(content)

    with pytest.warns(UserWarning, match=rf"Unreadable run results .*seed=9.*{problem}") as caught:
        paths = analysis.write_report(runs_dir, tmp_path / "report", target=0.5)

    assert "left out of the report" in str(caught[0].message)
    assert pd.read_csv(paths["csv"])["n"].tolist() == [3, 2, 3]  # the others, as before
    assert (
        "Left out: 1 run(s) whose metrics.json could not be read: data_init=True,seed=9/weightnorm."
        in paths["markdown"].read_text()
    )


def test_figures_are_written_as_html_beside_the_summary(sweep, tmp_path):
    paths = analysis.write_report(sweep, tmp_path / "report", images=False)
    assert {path.name for path in paths.values()} == {
        "summary.csv",
        "summary.md",
        "curves.html",
        "parallel.html",
    }
    html = paths["figure"].read_text()
    assert (
        '"sliders"' in html
        and '"updatemenus"' in html
        and "parcoords" in paths["parallel"].read_text()
    )


def test_without_a_browser_the_pngs_are_left_out_with_one_warning(sweep, tmp_path, monkeypatch):
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-browser"))
    with pytest.warns(UserWarning, match=r"^The report's PNG figures are left out: no Chrome"):
        paths = analysis.write_report(sweep, tmp_path / "report")
    assert "parallel_png" not in paths and paths["parallel"].is_file()


@pytest.mark.slow
@pytest.mark.skipif(not HAS_BROWSER, reason="kaleido or a Chrome-family browser is missing")
def test_pngs_are_written_beside_the_summary(sweep, tmp_path, monkeypatch):
    monkeypatch.delenv("BROWSER_PATH", raising=False)
    paths = analysis.write_report(sweep, tmp_path / "report")
    for kind in ("figure_png", "parallel_png"):
        assert (
            paths[kind].read_bytes()[:4] == b"\x89PNG" and paths[kind].parent == tmp_path / "report"
        )
