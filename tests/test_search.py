"""Tests for labkit.search without running notebooks: the space, the plan, the study, a trial's
reports and pruning, the report, and the sweep's watched runs that pruning stands on."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from labkit import cli, search, sweep
from labkit.results import RunRecord
from labkit.search import report as search_report
from labkit.search import runner as search_runner
from labkit.search.space import Dimension, parse_dimension
from labkit.search.study import (
    count_finished,
    interrupted_trials,
    open_study,
    requeue_unfinished,
    trial_states,
)
from labkit.search.trial import ObjectiveError, TrialRuns, objective_curve
from labkit.sweep.execution import ProcessGroup, Stop
from labkit.sweep.planning import params_digest
from labkit.sweep.records import COMPLETED, FAILED, PRUNED, TIMED_OUT

REPO = Path(__file__).resolve().parents[1]
TUTORIAL = REPO / "notebooks" / "weight_norm.ipynb"
FAKE_NOTEBOOK = REPO / "tests" / "fixtures" / "fake_train.ipynb"
LOG_RATE = {"type": "float", "low": 1e-4, "high": 0.1, "log": True}


def tutorial_plan(space=None, fixed=None, **options):
    options.setdefault("objective", "val_accuracy")
    fixed = {"model": "weightnorm", **(fixed or {})}
    space = {"learning_rate": LOG_RATE} if space is None else space
    return search.plan_search(TUTORIAL, space, fixed, **options)


def test_plan_search_types_every_value_and_names_runs_by_what_it_searches():
    plan = tutorial_plan(
        {
            # PyYAML reads `1e-4` (no dot) as a string: it is parsed like any command-line value.
            "learning_rate": {"type": "float", "low": "1e-4", "high": 0.1, "log": True},
            "batch_size": {"type": "int", "low": 16, "high": 64, "step": 16},
            "data_init": ["true", "false", "yes"],
        },
        {"epochs": "2", "train_limit": "500"},
        seeds=2,
    )

    assert plan.space == {
        "learning_rate": optuna.distributions.FloatDistribution(1e-4, 0.1, log=True),
        "batch_size": optuna.distributions.IntDistribution(16, 64, step=16),
        "data_init": optuna.distributions.CategoricalDistribution([True, False]),
    }
    assert plan.fixed == {"model": "weightnorm", "epochs": 2, "train_limit": 500}
    assert plan.direction == "maximize"
    runs = plan.runs({"learning_rate": 0.01, "batch_size": 32, "data_init": False})
    assert [run.params["seed"] for run in runs] == [0, 1]
    assert runs[1].params == {
        "model": "weightnorm",
        "epochs": 2,
        "train_limit": 500,
        "learning_rate": 0.01,
        "batch_size": 32,
        "data_init": False,
        "seed": 1,
    }
    assert runs[0].run_id.startswith("learning_rate=0.01,batch_size=32,data_init=false,seed=0-")
    assert runs[0].run_id.endswith(params_digest(runs[0].params))


def test_a_loss_is_minimized_unless_told_otherwise():
    assert tutorial_plan(objective="val_loss").direction == "minimize"
    assert tutorial_plan(objective="val_loss", direction="maximize").direction == "maximize"


@pytest.mark.parametrize(
    ("space", "fixed", "options", "message"),
    [
        (
            {"learning_rat": [0.1]},
            {},
            {},
            r"Unknown parameter `learning_rat` for weight_norm.ipynb\. Expected one of: dataset, "
            r"model, .*learning_rate",
        ),
        (
            {"epochs": {"type": "float", "low": 1, "high": 3}},
            {},
            {},
            r"Invalid search space for `epochs`: expected `type: int` or `type: categorical` for "
            r"a parameter of type int\. Received: `epochs=\{'type': 'float', 'low': 1, 'high': 3\}",
        ),
        (
            {"data_init": {"type": "int", "low": 0, "high": 1}},
            {},
            {},
            r"expected `type: categorical` for a parameter of type bool",
        ),
        (
            {"learning_rate": {"type": "float", "low": 0.0, "high": 0.1, "log": True}},
            {},
            {},
            r"Invalid search space for `learning_rate`: expected `low` > 0 on a log scale",
        ),
        (
            {"learning_rate": {"type": "float", "low": 0.1, "high": 1e-4}},
            {},
            {},
            r"expected `low` < `high`",
        ),
        (
            {"epochs": {"type": "int", "low": 1, "high": 9, "step": 2, "log": True}},
            {},
            {},
            r"expected either `log: true` or a `step`, not both",
        ),
        (
            {"batch_size": {"type": "int", "low": 16, "high": 64, "step": 0.5}},
            {},
            {},
            r"Invalid search space for `batch_size`: expected a `step` > 0 that is an integer\. "
            r"Received: `batch_size=\{'type': 'int', 'low': 16, 'high': 64, 'step': 0\.5\}`",
        ),
        ({"optimizer": {"type": "choice"}}, {}, {}, r"expected `type` one of 'float', 'int'"),
        ({"optimizer": {"type": "categorical"}}, {}, {}, r"the keys type, choices"),
        ({"optimizer": []}, {}, {}, r"expected a non-empty list of `choices`"),
        ({"optimizer": "adam"}, {}, {}, r"expected a list of choices, or a mapping with `type`"),
        # labkit's own validation sees both ends of every range and every choice.
        (
            {"learning_rate": {"type": "float", "low": 0.1, "high": 20}},
            {},
            {},
            r"Invalid value for `learning_rate`: expected a number in \(0, 10\]\. Received: "
            r"`learning_rate=20\.0`",
        ),
        ({"optimizer": ["adam", "sgdw"]}, {}, {}, r"Received: `optimizer='sgdw'`"),
        (
            {"optimizer": ["adam"]},
            {"model": "both"},
            {},
            r"Invalid value for `model`: expected one of 'regular', 'weightnorm' in a search",
        ),
        ({"epochs": {"type": "int", "low": 1, "high": 3}}, {"epochs": "2"}, {}, r"both searched"),
        ({"optimizer": ["adam"]}, {"seed": "3"}, {"seeds": 2}, r"Give seeds with `--seeds`"),
        ({"output_dir": ["a"]}, {}, {}, r"`output_dir` is set to each run.s own folder"),
        (
            {"optimizer": ["adam"]},
            {},
            {"objective": "val_acc"},
            r"Invalid value for `objective`: expected one of 'loss', 'accuracy', 'val_loss', "
            r"'val_accuracy'\. Received: `objective='val_acc'`",
        ),
        ({"optimizer": ["adam"]}, {}, {"direction": "up"}, r"Invalid value for `direction`"),
        ({"optimizer": ["adam"]}, {}, {"seeds": 0}, r"Invalid value for `seeds`"),
        ({}, {}, {}, r"needs at least one parameter to search"),
    ],
)
def test_plan_search_rejects_bad_searches_in_one_line(space, fixed, options, message):
    with pytest.raises(ValueError, match=message) as error:
        tutorial_plan(space, fixed, **options)

    assert len(str(error.value).splitlines()) == 1


def test_a_notebook_without_labkit_is_checked_against_its_parameters_only():
    plan = search.plan_search(
        FAKE_NOTEBOOK,
        {"learning_rate": {"type": "int", "low": 1, "high": 3}},
        {"model": "both"},  # two models per run: only found out when a run writes them
        objective="anything",
    )

    assert plan.space == {"learning_rate": optuna.distributions.IntDistribution(1, 3)}
    assert plan.runs({"learning_rate": 2})[0].params == {"model": "both", "learning_rate": 2}


def test_a_space_file_is_a_yaml_mapping(tmp_path):
    space_file = tmp_path / "space.yaml"
    space_file.write_text("learning_rate: {type: float, low: 1.0e-4, high: 0.1, log: true}\n")

    assert search.load_space_file(space_file) == {"learning_rate": LOG_RATE}
    space_file.write_text("- learning_rate\n")
    with pytest.raises(ValueError, match="A space file must map parameter names to distrib"):
        search.load_space_file(space_file)
    with pytest.raises(FileNotFoundError, match="Space file not found. Received: `space="):
        search.load_space_file(tmp_path / "missing.yaml")


def test_a_key_given_twice_in_a_space_file_is_refused_where_it_is(tmp_path):
    space_file = tmp_path / "space.yaml"
    space_file.write_text("learning_rate: {type: float, low: 0.1, high: 0.5, low: 0.2}\n")

    with pytest.raises(ValueError) as error:
        search.load_space_file(space_file)

    assert str(error.value) == (
        "The space file is not valid YAML: duplicate key 'low' (line 1, column 51). "
        f"Received: `space={str(space_file)!r}`"
    )


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"type": "float", "low": 0.1, "high": 0.3, "step": 0.1}, [0.1, 0.2, 0.3]),
        ({"type": "int", "low": 16, "high": 64, "step": 16}, [16, 32, 48, 64]),
        ({"type": "int", "low": 1, "high": 3}, [1, 2, 3]),
        (["adam", "sgd"], ["adam", "sgd"]),
    ],
)
def test_grid_values_walk_each_range(entry, expected):
    assert parse_dimension("x", entry).grid_values() == expected


@pytest.mark.parametrize(
    "entry", [{"type": "float", "low": 0.1, "high": 0.3}, LOG_RATE, {**LOG_RATE, "type": "int"}]
)
def test_a_grid_search_needs_ranges_it_can_walk(entry):
    with pytest.raises(ValueError, match="expected a `step` .* for a grid search"):
        parse_dimension("x", entry).grid_values()


def test_an_int_range_on_a_log_scale_keeps_its_unit_step():
    dimension = Dimension("batch_size", "int", low=8, high=256, log=True)

    dimension.check_range()
    assert dimension.distribution() == optuna.distributions.IntDistribution(8, 256, log=True)


# The study, without running anything.


def test_the_study_resumes_only_the_same_search(tmp_path):
    plan = tutorial_plan()
    study = open_study(tmp_path, plan)
    study.tell(study.ask(plan.space), 0.5)

    again = open_study(tmp_path, plan, sampler="random", pruner="none")

    assert len(again.trials) == 1
    assert isinstance(again.sampler, optuna.samplers.RandomSampler)
    assert (tmp_path / search.JOURNAL_FILE).is_file()
    with pytest.raises(ValueError, match=r"another objective \('val_accuracy'\).*val_loss"):
        open_study(tmp_path, tutorial_plan(objective="val_loss"))
    with pytest.raises(ValueError, match=r"another space"):
        open_study(tmp_path, tutorial_plan({"optimizer": ["adam", "sgd"]}))


def test_unfinished_trials_are_queued_again_and_do_not_count(tmp_path):
    plan = tutorial_plan({"optimizer": ["adam", "sgd", "rmsprop"]})
    study = open_study(tmp_path, plan)
    study.tell(study.ask(plan.space), 0.5)
    failed = study.ask(plan.space)
    study.tell(failed, state=TrialState.FAIL)
    left_running = study.ask(plan.space)  # the search was killed here

    assert requeue_unfinished(study) == [left_running.number]

    assert interrupted_trials(study) == {left_running.number}
    assert count_finished(study) == 2
    assert trial_states(study) == {"complete": 1, "fail": 1, "interrupted": 1}
    retry = study.ask(plan.space)
    assert retry.params == left_running.params
    assert retry.user_attrs == {"retry_of": left_running.number}


def test_a_journal_that_cannot_be_written_is_named_and_no_usage_error(tmp_path, monkeypatch):
    plan = search.plan_search(FAKE_NOTEBOOK, {"epochs": [1, 2]}, objective="val_accuracy")

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")  # as Optuna's journal append raises it

    monkeypatch.setattr(search_runner._Search, "run", full_disk)

    with pytest.raises(sweep.RecordWriteError) as error:
        search.run_search(plan, tmp_path, trials=2, kernel_name="python3", progress=False)

    assert str(error.value) == (
        f"Could not write {tmp_path / search.JOURNAL_FILE}: No space left on device (errno 28)"
    )
    assert (tmp_path / sweep.SUMMARY_FILE).is_file()


def test_a_grid_search_stops_at_the_end_of_its_grid(tmp_path):
    plan = tutorial_plan({"optimizer": ["adam", "sgd"], "data_init": [True, False]})
    study = open_study(tmp_path, plan, sampler="grid")

    for _ in range(4):
        trial = study.ask(plan.space)
        study.tell(trial, 0.5)  # Optuna's grid sampler would call study.stop() here, and fail

    assert search.study.grid_size(plan) == 4
    assert sorted(tuple(trial.params.values()) for trial in study.trials) == [
        ("adam", False),
        ("adam", True),
        ("sgd", False),
        ("sgd", True),
    ]


@pytest.mark.parametrize(("trials", "startup"), [(None, 10), (100, 10), (12, 4), (2, 1)])
def test_tpe_samples_at_random_for_a_third_of_a_small_search(trials, startup):
    sampler = search.study.make_sampler("tpe", tutorial_plan(), trials=trials)

    assert sampler._n_startup_trials == startup


# A trial's runs: values per epoch, pruning, outcome.


def write_metrics(run_dir, val_accuracy, status="running", run_name="model"):
    history = {"val_accuracy": val_accuracy, "val_loss": [1 - value for value in val_accuracy]}
    (run_dir / run_name).mkdir(parents=True, exist_ok=True)
    RunRecord(run_name=run_name, status=status, history=history).write(run_dir / run_name)


def trial_of(pruner=None):
    study = optuna.create_study(direction="maximize", pruner=pruner or optuna.pruners.NopPruner())
    trial = study.ask({"learning_rate": optuna.distributions.FloatDistribution(1e-4, 1)})
    runs = [sweep.Run(f"seed={seed}", {"seed": seed}) for seed in (0, 1)]
    return study, TrialRuns(trial, runs, "val_accuracy")


def completed(run):
    return sweep.NotebookRecord(run.run_id, run.params, status=COMPLETED)


def test_an_epoch_is_reported_once_every_seed_reached_it_as_their_mean(tmp_path):
    study, trial_runs = trial_of()
    first, second = (tmp_path / run.run_id for run in trial_runs.runs)
    write_metrics(first, [0.2, 0.4])
    write_metrics(second, [0.4])

    assert trial_runs.watch(0)(first) is None
    assert trial_runs.watch(1)(second) is None
    assert study.trials[0].intermediate_values == {1: pytest.approx(0.3)}

    write_metrics(second, [0.4, 0.6], status="completed")
    write_metrics(first, [0.2, 0.4], status="completed")
    for index, run_dir in enumerate((first, second)):
        trial_runs.end_run(index, completed(trial_runs.runs[index]), run_dir)

    assert trial_runs.ended
    assert study.trials[0].intermediate_values == {1: pytest.approx(0.3), 2: pytest.approx(0.5)}
    outcome = trial_runs.outcome()
    assert (outcome.state, outcome.value) == (TrialState.COMPLETE, pytest.approx(0.5))


def test_a_pruned_trial_stops_every_run(tmp_path):
    study, trial_runs = trial_of(optuna.pruners.ThresholdPruner(lower=0.5))
    first, second = (tmp_path / run.run_id for run in trial_runs.runs)
    write_metrics(first, [0.2])
    write_metrics(second, [0.3])

    assert trial_runs.watch(0)(first) is None  # the second seed has not reached epoch 1
    stop = trial_runs.watch(1)(second)

    assert stop == Stop(PRUNED, "Pruned at epoch 1: val_accuracy=0.25.")
    assert trial_runs.watch(0)(first) == stop
    for index, run_dir in enumerate((first, second)):
        record = sweep.NotebookRecord("run", {}, status=PRUNED, error=stop.error)
        trial_runs.end_run(index, record, run_dir)
    assert trial_runs.outcome().state == TrialState.PRUNED


def test_a_failed_run_fails_its_trial_with_its_error(tmp_path):
    _, trial_runs = trial_of()
    first, second = (tmp_path / run.run_id for run in trial_runs.runs)
    write_metrics(first, [0.5], status="completed")

    trial_runs.end_run(0, completed(trial_runs.runs[0]), first)
    failed = sweep.NotebookRecord("seed=1", {}, status=FAILED, error="RuntimeError: boom")
    trial_runs.end_run(1, failed, second)

    outcome = trial_runs.outcome()
    assert (outcome.state, outcome.error, outcome.fatal) == (
        TrialState.FAIL,
        "RuntimeError: boom",
        False,
    )


def test_an_objective_the_notebook_does_not_record_stops_the_search(tmp_path):
    _, trial_runs = trial_of()
    trial_runs.objective = "val_acc"
    run_dir = tmp_path / "seed=0"
    write_metrics(run_dir, [0.5])

    stop = trial_runs.watch(0)(run_dir)

    assert stop.status == FAILED
    assert stop.error == (
        "Invalid value for `objective`: expected one of 'val_accuracy', 'val_loss', the metrics "
        "the notebook records. Received: `objective='val_acc'`"
    )
    trial_runs.end_run(0, sweep.NotebookRecord("seed=0", {}, status=FAILED), run_dir)
    trial_runs.end_run(1, sweep.NotebookRecord("seed=1", {}, status=FAILED), tmp_path / "x")
    assert trial_runs.outcome().fatal


def test_a_run_scores_one_model(tmp_path):
    write_metrics(tmp_path, [0.5], run_name="regular")
    write_metrics(tmp_path, [0.6], run_name="weightnorm")

    with pytest.raises(ObjectiveError, match="one model per run, but this run wrote 2 metrics"):
        objective_curve(tmp_path, "val_accuracy")


def test_a_run_that_wrote_nothing_yet_has_no_curve(tmp_path):
    assert objective_curve(tmp_path, "val_accuracy") is None
    (tmp_path / "model").mkdir()
    RunRecord(run_name="model", status="running").write(tmp_path / "model")
    assert objective_curve(tmp_path, "val_accuracy") == []


# What the search learned.


def finished_study(tmp_path, plan):
    study = open_study(tmp_path, plan)
    for rate, value in [(1e-3, 0.4), (1e-2, 0.6), (1e-1, 0.2)]:
        study.enqueue_trial({"learning_rate": rate})
        trial = study.ask(plan.space)
        for epoch in (1, 2):
            trial.report(value * epoch / 2, epoch)
        study.tell(trial, value) if rate < 0.1 else study.tell(trial, state=TrialState.PRUNED)
    return study


def test_the_best_trial_comes_with_a_papermill_command_that_reads_back_its_values(tmp_path):
    plan = search.plan_search(
        FAKE_NOTEBOOK,
        {"learning_rate": LOG_RATE},
        {"model": "weightnorm", "data_init": "false", "epochs": "2"},
        objective="val_accuracy",
    )
    finished_study(tmp_path, plan)

    command = search_report.best_command(search.load_search_study(tmp_path), "runs/s")

    assert command == (
        f"papermill {FAKE_NOTEBOOK} runs/s/best/fake_train.ipynb -p model weightnorm "
        "-p data_init False -p epochs 2 -p learning_rate 0.01 -p output_dir runs/s/best"
    )


def test_papermill_options_keep_strings_that_look_like_other_values_strings():
    option = search_report._papermill_option

    assert option("archive", "10") == ["-r", "archive", "10"]
    assert option("archive", "None") == ["-r", "archive", "None"]
    assert option("model", "weightnorm") == ["-p", "model", "weightnorm"]
    assert option("sizes", [1, 2]) == ["-y", "{sizes: [1, 2]}"]


def test_the_search_report_has_the_best_trial_the_figures_and_says_why_no_png(
    tmp_path, monkeypatch
):
    finished_study(tmp_path, tutorial_plan())

    def browser_fails(figures):
        raise RuntimeError("Cannot write search_x.png: the browser failed (crashed).")

    monkeypatch.setattr(search_report, "image_export_problem", lambda: None)
    monkeypatch.setattr(search_report, "save_figures", browser_fails)
    with pytest.warns(UserWarning, match=r"^The search's PNG figures are left out: Cannot write"):
        paths = search.write_search_report(tmp_path, tmp_path / "report")

    assert sorted(paths) == ["search", "search_figures"]
    markdown = paths["search"].read_text()
    assert "3 trials: 2 complete, 1 pruned. Best: trial 1, val_accuracy=0.6" in markdown
    assert "| learning_rate | 0.01 |" in markdown
    assert "papermill " in markdown and "-p learning_rate 0.01" in markdown
    rows = [line.split("|")[1:-1] for line in markdown.splitlines() if line.startswith("| ")]
    trials = [[cell.strip() for cell in row] for row in rows if row[0].strip().isdigit()]
    assert trials == [  # trial, ended, value, best so far, seconds, learning rate
        ["0", "complete", "0.4000", "0.4000", "0", "0.001"],
        ["1", "complete", "0.6000", "0.6000", "0", "0.01"],
        ["2", "pruned at epoch 2", "-", "0.6000", "0", "0.1"],
    ]
    assert "From the first trial's start to the last one's end: 0:00:0" in markdown
    page = paths["search_figures"].read_text()
    assert page.count("plotly.js v") == 1  # embedded once, for every figure
    for title in ["Optimization history", "Parameter importances", "Parallel coordinates"]:
        assert title in page


def test_without_kaleido_or_a_browser_the_search_report_says_so_and_starts_none(
    tmp_path, monkeypatch
):
    finished_study(tmp_path, tutorial_plan())
    monkeypatch.setattr(search_report, "image_export_problem", lambda: "kaleido is missing")
    monkeypatch.setattr(search_report, "save_figures", None)  # not called

    with pytest.warns(UserWarning, match="^The search's PNG figures are left out: kaleido is"):
        paths = search.write_search_report(tmp_path)

    assert sorted(paths) == ["search", "search_figures"]


def test_a_search_without_a_completed_trial_reports_no_figures(tmp_path):
    plan = tutorial_plan()
    study = open_study(tmp_path, plan)
    study.tell(study.ask(plan.space), state=TrialState.FAIL)

    paths = search.write_search_report(tmp_path, images=False)

    assert "1 trials: 1 fail. No trial completed." in paths["search"].read_text()
    assert "<div" not in paths["search_figures"].read_text()


# The command line, before anything runs.


@pytest.mark.parametrize(
    ("space", "extra", "message"),
    [
        ("learning_rat: [0.1]\n", [], "Unknown parameter `learning_rat`"),
        ("learning_rate: [0.1\n", [], "The space file is not valid YAML"),
        ("optimizer: [adam]\n", ["-p", "model", "both"], "Invalid value for `model`"),
        ("optimizer: [adam]\n", ["--objective", "val_acc"], "Invalid value for `objective`"),
    ],
)
def test_search_rejects_bad_searches_in_one_line_before_running(
    space, extra, message, tmp_path, capsys
):
    space_file = tmp_path / "space.yaml"
    space_file.write_text(space)
    args = ["search", str(TUTORIAL), "--space", str(space_file), "--trials", "2"]
    args += ["--out", str(tmp_path / "runs"), "-p", "epochs", "1"]
    args += extra if "--objective" in extra else ["--objective", "val_accuracy", *extra]

    assert cli.main(args) == cli.EXIT_USAGE

    stderr = capsys.readouterr().err
    assert stderr.startswith(f"labkit search: error: {message}")
    assert len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("option", "value"), [("--trials", "0"), ("--seeds", "-1")])
def test_search_rejects_counts_that_are_not_positive(option, value, capsys):
    args = ["search", "nb.ipynb", "--space", "s.yaml", "--objective", "val_accuracy"]
    args += ["--trials", "2", "--out", "runs", option, value]

    with pytest.raises(SystemExit):
        cli.main(args)

    assert f"expected a positive int. Received: `{value}`" in capsys.readouterr().err


def test_importing_the_search_package_does_not_import_optuna():
    code = "import sys, labkit.search, labkit.cli; print('optuna' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)

    assert result.stdout.strip() == "False"


# The sweep's watched runs, which pruning stands on.


def sleeper(tmp_path):
    return [sys.executable, "-c", "import time; time.sleep(60)"], open(tmp_path / "log", "wb")


def test_a_watch_ends_its_run_with_its_own_status(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep.execution, "WATCH_INTERVAL_S", 0.05)
    looks = []

    def watch():
        looks.append(time.monotonic())
        return Stop(PRUNED, "Enough.") if len(looks) == 3 else None

    command, log = sleeper(tmp_path)
    started = time.monotonic()
    with log:
        status = ProcessGroup().run(command, log, {}, timeout=None, watch=watch)

    assert status == (PRUNED, "Enough.")
    assert len(looks) == 3  # once before starting, then while it ran
    assert time.monotonic() - started < 30


def test_a_watch_can_keep_a_run_from_starting(tmp_path):
    command, log = sleeper(tmp_path)
    with log:
        status = ProcessGroup().run(
            command, log, {}, timeout=None, watch=lambda: Stop(PRUNED, "Not needed.")
        )

    assert status == (PRUNED, "Not needed.")


def test_a_watched_run_still_times_out(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep.execution, "WATCH_INTERVAL_S", 0.05)
    command, log = sleeper(tmp_path)
    with log:
        status = ProcessGroup().run(command, log, {}, timeout=0.5, watch=lambda: None)

    assert status == (TIMED_OUT, "The run exceeded its timeout of 0.5 s.")


def test_a_watch_that_fails_ends_its_process(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep.execution, "WATCH_INTERVAL_S", 0.05)
    processes = ProcessGroup()
    calls = []

    def watch():
        calls.append(1)
        if len(calls) > 1:
            raise OSError("disk gone")

    command, log = sleeper(tmp_path)
    with log, pytest.raises(OSError, match="disk gone"):
        processes.run(command, log, {}, timeout=None, watch=watch)

    assert not processes._running
