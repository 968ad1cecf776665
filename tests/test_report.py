"""Tests for labkit.report on synthetic metrics.json files with known statistics."""

import json
from pathlib import Path

import nbformat
import pandas as pd
import papermill
import plotly.colors
import pytest

from labkit import report
from labkit.live.export import image_export_problem

REPO = Path(__file__).resolve().parents[1]
REPORT_NOTEBOOK = REPO / "notebooks" / "sweep_report.ipynb"

# Validation accuracy per epoch, by (weight_norm, data_init, seed). Final values: regular
# 0.5/0.6/0.7, WeightNorm with data_init 0.60/0.62/0.64, without 0.45/0.65.
CURVES = {
    (False, True, 0): [0.3, 0.4, 0.5],
    (False, True, 1): [0.3, 0.65, 0.6],
    (False, True, 2): [0.2, 0.45, 0.7],
    (True, True, 0): [0.4, 0.5, 0.6],
    (True, True, 1): [0.5, 0.55, 0.62],
    (True, True, 2): [0.45, 0.6, 0.64],
    (True, False, 0): [0.3, 0.4, 0.45],
    (True, False, 1): [0.5, 0.6, 0.65],
}


def write_metrics(folder, *, weight_norm, data_init, seed, curve, status="completed", **params):
    """Writes a metrics.json shaped like the weight_norm notebook's."""
    folder.mkdir(parents=True)
    metrics = {
        "run_name": "weightnorm" if weight_norm else "regular",
        "status": status,
        "error": None,
        "params": {
            "run_name": "weightnorm" if weight_norm else "regular",
            "dataset": "cifar10",
            "weight_norm": weight_norm,
            "data_init": data_init,
            "epochs": len(curve),
            "seed": seed,
            "output_dir": str(folder.parent),
            **params,
        },
        "history": {"val_accuracy": curve},
        "epoch_seconds": [5.0, 1.0, 1.2],
        "epochs_completed": len(curve),
        "best_val_accuracy": max(curve),
        "final_val_accuracy": curve[-1],
        "duration_s": 7.2,
    }
    (folder / "metrics.json").write_text(json.dumps(metrics))


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


def summary_by_setting(runs_dir, target=0.5):
    return report.summarize(report.load_runs(runs_dir), target).set_index("setting")


def test_load_runs_reads_every_metrics_file(runs_dir):
    runs = report.load_runs(runs_dir)

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
        report.load_runs(tmp_path)


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

    summary = report.summarize(report.load_runs(tmp_path))

    assert summary.loc[0, "n"] == 1
    assert pd.isna(summary.loc[0, "final_val_accuracy_ci95"])
    row = report.summary_markdown(summary).strip().splitlines()[-1]
    assert "0.6000" in row
    assert "±" not in row


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

    assert report.setting_columns(runs) == ["weight_norm", "data_init", "learning_rate"]


@pytest.mark.parametrize(
    ("curve", "target", "expected"),
    [([0.3, 0.45, 0.52, 0.6], 0.5, 3.0), ([0.5], 0.5, 1.0), ([0.1, 0.2], 0.5, None)],
)
def test_epochs_to_reach(curve, target, expected):
    result = report.epochs_to_reach(curve, target)

    assert pd.isna(result) if expected is None else result == expected


def test_summary_markdown_shows_mean_and_interval(runs_dir):
    markdown = report.summary_markdown(report.summarize(report.load_runs(runs_dir)), 0.5)

    assert "| regular " in markdown
    assert "0.6000 ± 0.2484" in markdown
    assert "2.7 (3/3)" in markdown


def test_curves_figure_draws_mean_and_std_band_per_setting(runs_dir):
    figure = report.curves_figure(report.load_runs(runs_dir), target=0.5)

    lines = {trace.name: trace for trace in figure.data if trace.showlegend is not False}
    assert set(lines) == {
        "regular (n=3)",
        "WeightNorm, data_init off (n=2)",
        "WeightNorm, data_init on (n=3)",
    }
    assert list(lines["regular (n=3)"].y) == pytest.approx([0.8 / 3, 1.5 / 3, 0.6])
    assert lines["regular (n=3)"].line.color in plotly.colors.sequential.Reds
    assert lines["WeightNorm, data_init on (n=3)"].line.color in plotly.colors.sequential.Blues
    assert lines["WeightNorm, data_init on (n=3)"].line.dash is None
    assert lines["WeightNorm, data_init off (n=2)"].line.dash == "dash"
    assert len(figure.data) == 2 * len(lines)  # a band behind every line
    assert figure.layout.shapes[0].y0 == 0.5


def test_write_report_writes_table_and_figure(runs_dir, tmp_path):
    paths = report.write_report(runs_dir, tmp_path / "report", target=0.5)

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
        paths = report.write_report(runs_dir, tmp_path / "report", target=0.5)

    assert "left out of the report" in str(caught[0].message)
    assert pd.read_csv(paths["csv"])["n"].tolist() == [3, 2, 3]  # the others, as before
    assert (
        "Left out: 1 run(s) whose metrics.json could not be read: data_init=True,seed=9/weightnorm."
        in paths["markdown"].read_text()
    )


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
        report.summarize(report.load_runs(runs_dir), target)
