"""labkit.regimes: normalizations compared across optimizers and learning rates, over seeds."""

from __future__ import annotations

import math
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import papermill
import pytest

from labkit.notebook_contract import notebook_runs, validate_notebook_parameters
from labkit.params import ExperimentParams
from labkit.regimes import (
    FULL_STUDY_COMMAND,
    REDUCED_STUDY,
    REDUCED_STUDY_DIR,
    accuracy_differences,
    first_at_or_below,
    load_regime_runs,
    loss_curves_figure,
    reduced_study_note,
    run_study,
    sensitivity_figure,
    speed_figure,
    summarize_regimes,
    summary_table,
    verdict,
)
from labkit.results import RunRecord
from labkit.stats import difference_interval, difference_p_value, holm_adjusted, mean_interval
from labkit.sweep.planning import load_grid_file, parse_seeds, plan_sweep
from labkit.variants import NORMALIZATIONS

THRESHOLD = 1.8
STEPS = [10, 20, 30, 40, 50]


def write_run(
    root: Path,
    optimizer: str,
    rate: float,
    normalization: str | None,
    seed: int,
    val_accuracy: float,
    losses: list[float],
    status: str = "completed",
    **params,
) -> Path:
    """Writes a run's metrics.json the way the sweep lays it out: <sweep run>/<ConvNet>/."""
    run = ExperimentParams(
        optimizer=optimizer,
        learning_rate=rate,
        normalization=normalization,
        seed=seed,
        epochs=2,
        **params,
    )
    folder = root / f"{optimizer},{rate},{seed},{params}" / run.run_name
    folder.mkdir(parents=True)
    RunRecord(
        run_name=run.run_name,
        status=status,
        params=run.to_dict(),
        history={"loss": [losses[0], losses[-1]], "val_accuracy": [0.1, val_accuracy]},
        epoch_seconds=[1.0, 1.0],
        epochs_completed=2,
        final_val_accuracy=val_accuracy,
        best_val_accuracy=val_accuracy,
        steps={"step": STEPS, "loss": losses, "seconds": [0.5 * step for step in STEPS]},
    ).write(folder)
    return folder


# Per (optimizer, learning rate, normalization): final val accuracy of seeds 0-2 and the loss
# curve of seed 0 (seeds 1 and 2 shift it by 0.01 and 0.02).
SETTINGS = {
    ("sgd", 0.01, "none"): ([0.30, 0.31, 0.32], [2.3, 2.2, 2.1, 2.0, 1.9]),
    ("sgd", 0.01, "weightnorm"): ([0.31, 0.30, 0.33], [2.3, 2.0, 1.8, 1.7, 1.6]),
    ("sgd", 0.1, "none"): ([0.40, 0.41, 0.42], [2.3, 2.0, 1.85, 1.75, 1.7]),
    ("sgd", 0.1, "weightnorm"): ([0.50, 0.51, 0.53], [2.3, 1.7, 1.5, 1.4, 1.3]),
    ("adam", 0.01, "none"): ([0.45, 0.46, 0.47], [2.2, 1.7, 1.6, 1.5, 1.4]),
    ("adam", 0.01, "weightnorm"): ([0.40, 0.41, 0.40], [2.2, 1.7, 1.6, 1.5, 1.4]),
    ("adam", 0.1, "none"): ([0.10, 0.10, 0.10], [2.3, math.nan, math.nan, math.nan, math.nan]),
    ("adam", 0.1, "weightnorm"): ([0.20, 0.22, 0.21], [2.3, 2.2, 2.1, 2.1, 2.0]),
}


@pytest.fixture
def runs_dir(tmp_path) -> Path:
    for (optimizer, rate, normalization), (accuracies, losses) in SETTINGS.items():
        for seed, accuracy in enumerate(accuracies):
            shifted = [loss + 0.01 * seed for loss in losses]
            write_run(tmp_path, optimizer, rate, normalization, seed, accuracy, shifted)
    return tmp_path


def test_runs_are_read_with_their_normalization_and_steps(runs_dir):
    write_run(runs_dir, "sgd", 0.1, "none", 9, 0.9, [2.0] * 5, status="failed")
    (runs_dir / "broken" / "regular").mkdir(parents=True)
    (runs_dir / "broken" / "regular" / "metrics.json").write_text("{")

    with pytest.warns(UserWarning, match="broken/regular/metrics.json"):
        runs = load_regime_runs(runs_dir)

    assert len(runs) == 3 * len(SETTINGS)  # the failed and the unreadable run are left out
    assert set(runs["normalization"]) == {"none", "weightnorm"}
    first = runs.iloc[0]
    assert first["steps"].tolist() == STEPS and len(first["step_loss"]) == 5
    assert first["final_loss"] == first["step_loss"][-1]


def test_runs_that_set_only_weight_norm_get_its_normalization(tmp_path):
    """Runs of the tutorial's `model` parameter record `normalization` as null."""
    for weight_norm in (False, True):
        folder = tmp_path / str(weight_norm) / ("weightnorm" if weight_norm else "regular")
        folder.mkdir(parents=True)
        params = ExperimentParams(weight_norm=weight_norm).to_dict()
        RunRecord(run_name=folder.name, status="completed", params=params).write(folder)
    runs = load_regime_runs(tmp_path)
    assert sorted(runs["normalization"]) == ["none", "weightnorm"]
    assert runs["steps"].map(len).tolist() == [0, 0]


def test_runs_that_differ_in_another_parameter_are_refused(tmp_path):
    write_run(tmp_path, "sgd", 0.1, "none", 0, 0.3, [2.0] * 5, batch_size=32)
    write_run(tmp_path, "sgd", 0.1, "none", 0, 0.3, [2.0] * 5, batch_size=64)
    with pytest.raises(ValueError, match="The runs also differ in `batch_size`"):
        load_regime_runs(tmp_path)


def test_a_folder_without_completed_runs_is_refused(tmp_path):
    write_run(tmp_path, "sgd", 0.1, "none", 0, 0.3, [2.0] * 5, status="running")
    with pytest.raises(ValueError, match="expected a folder with completed runs"):
        load_regime_runs(tmp_path)


def test_first_at_or_below():
    assert first_at_or_below([2.0, 1.9, 1.8, 1.5], 1.8) == 2
    assert first_at_or_below([2.0, math.nan], 1.8) is None
    assert first_at_or_below([], 1.8) is None


def test_summary_over_seeds(runs_dir):
    summary = summarize_regimes(load_regime_runs(runs_dir), THRESHOLD)

    assert len(summary) == len(SETTINGS)
    assert summary[["optimizer", "learning_rate", "normalization"]].values.tolist()[:2] == [
        ["sgd", 0.01, "none"],
        ["sgd", 0.01, "weightnorm"],
    ]
    row = summary.set_index(["optimizer", "learning_rate", "normalization"]).loc[
        ("sgd", 0.1, "weightnorm")
    ]
    expected = mean_interval(SETTINGS[("sgd", 0.1, "weightnorm")][0])
    assert row["n"] == 3
    assert row["val_accuracy_mean"] == pytest.approx(expected.mean)
    assert row["val_accuracy_ci95"] == pytest.approx(expected.half_width)
    # Every seed first reaches 1.8 at its second record (1.71, 1.72) at step 20, second 10.
    assert (row["steps_to_threshold_mean"], row["steps_to_threshold_ci95"]) == (20.0, 0.0)
    assert row["seconds_to_threshold_mean"] == 10.0 and row["reached"] == 3
    diverged = summary[(summary["optimizer"] == "adam") & (summary["learning_rate"] == 0.1)]
    assert diverged["diverged"].tolist() == [3, 0]
    assert math.isnan(diverged["final_loss_mean"].iloc[0])
    assert diverged["reached"].tolist() == [0, 0]

    table = summary_table(summary)
    assert table.loc[3, "optimizer"] == "plain SGD"
    assert table.loc[3, "normalization"] == "WeightNorm"
    assert table.loc[3, "final val accuracy (mean ± 95% CI)"] == expected.format(".3f")
    assert table.loc[6, "diverged"] == "3/3" and table.loc[6, "reached threshold"] == "0/3"


def test_accuracy_differences_are_called_after_the_holm_correction(runs_dir):
    differences = accuracy_differences(load_regime_runs(runs_dir)).set_index(
        ["optimizer", "learning_rate"]
    )
    pairs = [
        (SETTINGS[(optimizer, rate, "weightnorm")][0], SETTINGS[(optimizer, rate, "none")][0])
        for optimizer, rate in differences.index
    ]
    p_values = [difference_p_value(a, b) for a, b in pairs]
    for (a, b), p, p_holm, (_, row) in zip(
        pairs, p_values, holm_adjusted(p_values), differences.iterrows()
    ):
        expected = difference_interval(a, b)
        assert row["difference"] == pytest.approx(expected.mean)
        assert row["ci95"] == pytest.approx(expected.half_width)
        assert (row["p"], row["p_holm"]) == (pytest.approx(p), pytest.approx(p_holm))
        called = "" if p_holm > 0.05 else "higher" if expected.mean > 0 else "lower"
        assert row["shown"] == called
    assert differences["shown"].tolist() == ["", "higher", "lower", "higher"]


def test_a_difference_one_comparison_alone_would_call_is_not_called_among_many(tmp_path):
    """At 95% each, one in twenty equal settings shows a 'difference': the verdict counts the
    comparisons (Holm-Bonferroni) and says so."""
    rates = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3]
    borderline = ([0.33, 0.34, 0.35], [0.30, 0.31, 0.32])  # p = 0.02 on its own
    for index, rate in enumerate(rates):
        ours, theirs = borderline if index == 0 else ([0.30, 0.32, 0.31], [0.31, 0.30, 0.32])
        for seed in range(3):
            write_run(tmp_path, "sgd", rate, "weightnorm", seed, ours[seed], [2.0] * 5)
            write_run(tmp_path, "sgd", rate, "none", seed, theirs[seed], [2.0] * 5)
    runs = load_regime_runs(tmp_path)
    differences = accuracy_differences(runs)
    first = differences.iloc[0]
    assert difference_interval(*borderline).excludes_zero and first["p"] < 0.05
    assert first["p_holm"] > 0.05 and first["shown"] == ""
    text = verdict(runs, THRESHOLD)
    assert "6 accuracy comparisons, Holm-Bonferroni-corrected" in text
    assert "at 0 of 6 learning rates, a lower one at 0, and no difference is shown at 6" in text
    assert "with the Holm-Bonferroni correction for multiple comparisons" in text


def test_verdict_words_what_the_numbers_show(runs_dir):
    runs = load_regime_runs(runs_dir)
    text = verdict(runs, THRESHOLD)

    sgd = difference_interval(
        SETTINGS[("sgd", 0.1, "weightnorm")][0], SETTINGS[("sgd", 0.1, "none")][0]
    )
    assert "**In short** (3 seeds per setting; 4 accuracy comparisons" in text
    assert (
        "WeightNorm: a higher final validation accuracy than no normalization in 2 of 4 "
        "settings (optimizer and learning rate), a lower one in 1"
    ) in text
    assert (
        "WeightNorm ends with a higher validation accuracy than no normalization at 1 of 2 "
        f"learning rates (0.1: {sgd.format('+.3f')}, Holm p = "
    ) in text
    assert "), a lower one at 0, and no difference is shown at 1." in text
    # SGD: no normalization reaches 1.8 only at 0.1 (at step 40), WeightNorm at both rates.
    assert "no normalization at 1 of 2 (0.1); WeightNorm at 2 of 2 (0.01, 0.1)" in text
    steps = difference_interval([20, 20, 20], [40, 40, 40])
    assert f"fewer steps ({steps.format('+.0f')}, Holm p = 0)" in text
    # Adam at 0.1 diverges without normalization: never reaches the threshold there.
    assert "no normalization at 1 of 2 (0.01); WeightNorm at 1 of 2 (0.01)" in text
    assert "plain SGD" in text and "**Adam**" in text


def test_one_seed_shows_no_difference(tmp_path):
    write_run(tmp_path, "sgd", 0.1, "none", 0, 0.3, [2.0, 1.9, 1.7, 1.6, 1.5])
    write_run(tmp_path, "sgd", 0.1, "weightnorm", 0, 0.9, [2.0, 1.9, 1.7, 1.6, 1.5])
    text = verdict(load_regime_runs(tmp_path), THRESHOLD)
    assert "With one seed there are no intervals" in text
    assert "at 0 of 1 learning rates, a lower one at 0, and no difference is shown at 1" in text


def test_bad_threshold_is_refused(runs_dir):
    with pytest.raises(ValueError, match="Received: `loss_threshold=-1.0`"):
        summarize_regimes(load_regime_runs(runs_dir), -1.0)


def test_figures_draw_every_setting(runs_dir):
    runs = load_regime_runs(runs_dir)
    summary = summarize_regimes(runs, THRESHOLD)

    sensitivity = sensitivity_figure(summary)
    # 2 measures x 2 optimizers x 2 normalizations; x logarithmic, loss too.
    assert len(sensitivity.data) == 8
    assert sensitivity.layout.xaxis.type == "log" and sensitivity.layout.yaxis3.type == "log"
    first = sensitivity.data[0]
    np.testing.assert_allclose(first.y, summary["val_accuracy_mean"].iloc[[0, 2]])
    np.testing.assert_allclose(first.error_y.array, summary["val_accuracy_ci95"].iloc[[0, 2]])
    assert [a.text for a in sensitivity.layout.annotations] == ["plain SGD", "Adam"]

    speed = speed_figure(summary, THRESHOLD)
    assert len(speed.data) == 8 and "reaches 1.8" in speed.layout.title.text

    curves = loss_curves_figure(runs, THRESHOLD)
    assert len(curves.data) == 2 * len(SETTINGS)  # a band and a mean per setting
    slider = curves.layout.sliders[0]
    assert [step.label for step in slider.steps] == ["0.01", "0.1"]
    visible = [trace for trace in curves.data if trace.visible]
    assert len(visible) == len(curves.data) // 2  # the active learning rate's curves
    mean = next(trace for trace in curves.data if trace.name == "WeightNorm")
    expected = np.mean([[loss + 0.01 * s for loss in SETTINGS[("sgd", 0.01, "weightnorm")][1]]
                        for s in range(3)], axis=0)  # fmt: skip
    np.testing.assert_allclose(mean.y, expected)
    assert curves.layout.xaxis.type == curves.layout.yaxis.type == "log"


@pytest.mark.slow
def test_a_real_run_is_read(random_cifar10, tmp_path):
    from labkit.experiment import run_experiment

    params = ExperimentParams(
        normalization="weightnorm+meanonly", epochs=1, batch_size=20, output_dir=str(tmp_path)
    )
    run_experiment(params, data=random_cifar10)
    runs = load_regime_runs(tmp_path)
    assert runs["normalization"].tolist() == ["weightnorm+meanonly"]
    assert runs["steps"].iloc[0].tolist() == [10]
    summary = summarize_regimes(runs, loss_threshold=100.0)
    assert summary["reached"].tolist() == [1]
    assert isinstance(summary, pd.DataFrame)


# --- the notebook and its sweep ------------------------------------------------------------

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOK = NOTEBOOKS / "where_weightnorm_helps.ipynb"
GRID = NOTEBOOKS / "where_weightnorm_helps.grid.yaml"


def test_notebook_parameters_are_documented_and_it_is_committed_clean():
    parameters = papermill.inspect_notebook(str(NOTEBOOK))
    assert set(parameters) == {"runs_dir", "loss_threshold", "reduced_study"}
    for name, parameter in parameters.items():
        assert parameter["inferred_type_name"] != "None" and parameter["help"], name
    for cell in nbformat.read(NOTEBOOK, as_version=4).cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_the_grid_is_the_documented_comparison(tmp_path):
    """Three optimizers, learning rates over at least three decades, every normalization;
    each combination passes the tutorial notebook's parameter checks."""
    grid = load_grid_file(GRID)
    rates = grid["learning_rate"]
    assert set(grid["optimizer"]) == {"sgd", "momentum", "adam"}
    assert max(rates) / min(rates) >= 1000 and grid["normalization"] == "all"
    # The tutorial notebook with its `normalization` parameter (a copy, should it lack it).
    tutorial = nbformat.read(NOTEBOOKS / "weight_norm.ipynb", as_version=4)
    cell = next(c for c in tutorial.cells if "parameters" in c.metadata.get("tags", []))
    if "normalization" not in cell.source:
        cell.source += '\nnormalization: str = ""  # which ConvNets instead of `model`\'s'
    nbformat.write(tutorial, tmp_path / "weight_norm.ipynb")
    runs = plan_sweep(
        tmp_path / "weight_norm.ipynb",
        {**grid, "seed": parse_seeds("0-4")},
        validator=validate_notebook_parameters,
    )
    assert len(runs) == 3 * len(rates) * 5
    assert {run.params["live"] for run in runs} == {"off"}
    trainings = [notebook_runs(run.params) for run in runs[:1]][0]
    assert [params.normalization for params in trainings] == list(NORMALIZATIONS)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_headless_run_shows_tables_figures_and_the_verdict(runs_dir, tmp_path, notebooks):
    parameters = {"runs_dir": str(runs_dir), "loss_threshold": THRESHOLD}
    outputs = notebooks.execute(NOTEBOOK, parameters, tmp_path)
    assert not [output for output in outputs if output.output_type == "error"]
    figures = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    titles = [
        f["data"]["application/vnd.plotly.v1+json"]["layout"]["title"]["text"] for f in figures
    ]
    assert [title.split(":")[0] for title in titles] == [
        "Learning-rate sensitivity",
        "Speed",
        "Training loss",
    ]
    markdown = [o["data"]["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {})]
    assert markdown == [verdict(load_regime_runs(runs_dir), THRESHOLD)]
    html = "".join(str(o.get("data", {}).get("text/html", "")) for o in outputs)
    assert "WeightNorm" in html and "final val accuracy (mean ± 95% CI)" in html


# --- the reduced study ---------------------------------------------------------------------

TINY_STUDY = {
    "optimizers": ["sgd"],
    "learning_rates": [0.1],
    "seeds": [0, 1],
    "epochs": 1,
    "train_limit": 100,
    "test_limit": 50,
}


def test_the_reduced_study_is_sized_and_described():
    assert REDUCED_STUDY.trainings == 36
    assert REDUCED_STUDY.describe().startswith(
        "2 optimizers (sgd, adam) x 3 learning rates (0.001, 0.01, 0.1) x 2 normalizations "
        "(none, weightnorm) x 3 seeds (0, 1, 2): 36 trainings of 3 epochs"
    )
    note = reduced_study_note()
    assert note.startswith("**This is the reduced study**") and FULL_STUDY_COMMAND in note
    with pytest.raises(ValueError, match=r"Invalid value for `reduced_study`.*'seed'"):
        REDUCED_STUDY.replace(seed=3)


def test_a_rerun_of_the_study_trains_only_what_is_missing(tmp_path, monkeypatch):
    import labkit.experiment

    plan = REDUCED_STUDY.replace(**TINY_STUDY)
    trained, loaded = [], []
    monkeypatch.setattr(ExperimentParams, "load_data", lambda self: loaded.append(self.seed))
    monkeypatch.setattr(
        labkit.experiment, "run_experiment", lambda params, data: trained.append(params)
    )
    monkeypatch.setattr("keras.backend.clear_session", lambda: None)  # nothing was built
    first = plan.runs(tmp_path)[0]  # sgd, 0.1, seed 0, no normalization: already done
    write_run(tmp_path, "sgd", 0.1, "none", 0, 0.3, [2.0] * 5)
    folder = Path(first.output_dir) / first.run_name
    folder.parent.mkdir(parents=True, exist_ok=True)
    next(tmp_path.glob("sgd,0.1,0,*/regular")).rename(folder)

    assert run_study(tmp_path, plan, progress=False) == tmp_path
    assert [(p.seed, p.normalization) for p in trained] == [
        (0, "weightnorm"), (1, "none"), (1, "weightnorm")
    ]  # fmt: skip
    assert loaded == [0, 1]  # each seed's subset once
    assert {Path(p.output_dir).name for p in trained} == {"sgd-lr0.1-seed0", "sgd-lr0.1-seed1"}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_without_a_runs_folder_the_notebook_trains_the_reduced_study(
    cifar10_env, tmp_path, notebooks
):
    with pytest.MonkeyPatch.context() as patch:
        for name, value in cifar10_env.items():
            patch.setenv(name, value)
        # `runs_dir` empty, as when the notebook is opened.
        outputs = notebooks.execute(NOTEBOOK, {"reduced_study": TINY_STUDY}, tmp_path)
    markdown = [o["data"]["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {})]
    assert markdown[0].startswith("**This is the reduced study**")
    assert FULL_STUDY_COMMAND in markdown[0]
    progress = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "reduced study" in progress and "4/4" in progress  # the text progress bar
    folder = tmp_path / REDUCED_STUDY_DIR
    runs = load_regime_runs(folder)
    assert len(runs) == 4 and set(runs["normalization"]) == {"none", "weightnorm"}
    assert markdown[-1] == verdict(runs, THRESHOLD)
    assert "Holm-Bonferroni" in markdown[-1]
