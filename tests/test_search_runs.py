"""Tests for labkit.search that run notebooks: a tiny notebook (no TensorFlow) that records its
metrics after every epoch, searched end to end, pruned, interrupted and resumed, on Dask."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from process_helpers import as_from_a_terminal, process_is_running, wait_for, write_notebook

from labkit import cli, search, sweep
from labkit.plotting.export import image_export_problem
from labkit.sweep.records import PRUNED

REPO = Path(__file__).resolve().parents[1]

PARAMETERS = """\
learning_rate = 0.01  # float: the best value
optimizer = "adam"  # str: adam, sgd (half as good) or broken (raises)
epochs = 3  # int
seed = 0  # int: adds 0.001 per seed
epoch_sleep = 0.0  # float: seconds each epoch takes
output_dir = "runs/fake"  # str
"""
TRAINING = """\
import json, math, os, time
from pathlib import Path

run_dir = Path(output_dir, "model")
run_dir.mkdir(parents=True, exist_ok=True)
Path(output_dir, "kernel.pid").write_text(str(os.getpid()))
if optimizer == "broken":
    raise RuntimeError("Fake training failed on purpose.")
quality = 1 / (1 + abs(math.log10(learning_rate) + 2)) * (0.5 if optimizer == "sgd" else 1)
history = {"val_accuracy": [], "val_loss": []}
for epoch in range(1, epochs + 1):
    history["val_accuracy"].append(round(quality * epoch / epochs + 0.001 * seed, 6))
    history["val_loss"].append(round(1 - history["val_accuracy"][-1], 6))
    status = "completed" if epoch == epochs else "running"
    final, best = history["val_accuracy"][-1], max(history["val_accuracy"])
    metrics = {"run_name": "model", "status": status, "history": history,
               "final_val_accuracy": final, "best_val_accuracy": best}
    (run_dir / ".metrics.tmp").write_text(json.dumps(metrics))
    os.replace(run_dir / ".metrics.tmp", run_dir / "metrics.json")  # whole or absent
    time.sleep(epoch_sleep)
"""


@pytest.fixture
def notebook(tmp_path) -> Path:
    """A notebook whose val_accuracy grows linearly to 1 / (1 + |log10(lr) + 2|) per epoch."""
    return write_notebook(tmp_path / "fake_epochs.ipynb", PARAMETERS, TRAINING)


def labkit_search(notebook, space_file, runs_dir, *options):
    return [
        "search",
        str(notebook),
        "--space",
        str(space_file),
        "--objective",
        "val_accuracy",
        "--out",
        str(runs_dir),
        "--kernel",
        "python3",
        *options,
    ]


def records(runs_dir):
    return {record.params["optimizer"]: record for record in sweep.read_records(runs_dir)}


@pytest.mark.slow
def test_tiny_search_isolates_a_failing_trial_resumes_and_reports(notebook, tmp_path, capsys):
    space_file = tmp_path / "space.yaml"
    space_file.write_text("optimizer: [adam, sgd, broken]\n")
    runs_dir = tmp_path / "runs"
    args = labkit_search(notebook, space_file, runs_dir, "--trials", "5", "--sampler", "grid")
    args += ["--jobs", "2", "-p", "epochs", "2"]

    exit_code = cli.main(args)

    assert exit_code == cli.EXIT_RUNS_FAILED  # one trial failed; the others went on
    assert "3 trials: 2 complete, 1 fail. Best: trial" in capsys.readouterr().out
    study = search.load_search_study(runs_dir)
    by_optimizer = {trial.params["optimizer"]: trial for trial in study.trials}
    assert by_optimizer["adam"].value == 1.0
    assert by_optimizer["adam"].intermediate_values == {1: 0.5, 2: 1.0}
    assert by_optimizer["sgd"].value == 0.5
    assert by_optimizer["broken"].state == optuna.trial.TrialState.FAIL
    assert by_optimizer["broken"].user_attrs["error"] == (
        "RuntimeError: Fake training failed on purpose."
    )
    runs = records(runs_dir)
    assert {name: record.status for name, record in runs.items()} == {
        "adam": "completed",
        "sgd": "completed",
        "broken": "failed",
    }
    assert by_optimizer["adam"].user_attrs["runs"] == [runs["adam"].run_id]
    assert (runs_dir / sweep.SUMMARY_FILE).is_file()
    completed_record = (runs_dir / runs["adam"].run_id / sweep.RECORD_FILE).read_text()

    assert cli.main(args) == cli.EXIT_RUNS_FAILED  # resumed: the grid is done, nothing runs

    assert len(search.load_search_study(runs_dir).trials) == 3
    assert (runs_dir / runs["adam"].run_id / sweep.RECORD_FILE).read_text() == completed_record
    capsys.readouterr()

    assert cli.main(["report", str(runs_dir)]) == cli.EXIT_OK

    captured = capsys.readouterr()
    out = captured.out
    assert "3 trials: 2 complete, 1 fail. Best: trial" in out
    assert f"papermill {notebook} {runs_dir}/best/fake_epochs.ipynb -p epochs 2" in out
    assert "-p optimizer adam" in out
    assert (runs_dir / "search.html").is_file()
    assert (runs_dir / "summary.md").is_file()  # the sweep statistics, as for any runs folder
    png = runs_dir / "search_optimization_history.png"
    if image_export_problem() is None:
        assert png.read_bytes().startswith(b"\x89PNG")
    else:  # no kaleido or no browser here: one line says so, and the rest is written
        assert "labkit report: warning: The search's PNG figures are left out: " in captured.err
        assert not png.exists()


@pytest.mark.slow
def test_a_pruned_trial_is_stopped_cleanly_and_keeps_its_partial_history(
    notebook, tmp_path, monkeypatch
):
    monkeypatch.setattr(sweep.execution, "WATCH_INTERVAL_S", 0.2)
    plan = search.plan_search(
        notebook, {"optimizer": ["adam", "sgd"]}, {"epoch_sleep": "2"}, objective="val_accuracy"
    )
    runs_dir = tmp_path / "runs"

    study = search.run_search(
        plan,
        runs_dir,
        trials=2,
        sampler="grid",
        pruner=optuna.pruners.ThresholdPruner(lower=0.3),  # sgd is at 0.1667 after epoch 1
        jobs=1,
        kernel_name="python3",
        progress=False,
    )

    states = {trial.params["optimizer"]: trial.state.name for trial in study.trials}
    assert states == {"adam": "COMPLETE", "sgd": "PRUNED"}
    pruned = records(runs_dir)["sgd"]
    assert pruned.status == PRUNED
    assert pruned.error == "Pruned at epoch 1: val_accuracy=0.1667."
    pruned_dir = runs_dir / pruned.run_id
    metrics = json.loads((pruned_dir / "model" / "metrics.json").read_text())
    assert metrics["status"] == "stopped"
    assert metrics["history"]["val_accuracy"][0] == pytest.approx(1 / 6, abs=1e-6)
    assert len(metrics["history"]["val_accuracy"]) < 3  # stopped before its third epoch
    kernel = int((pruned_dir / "kernel.pid").read_text())
    wait_for(lambda: not process_is_running(kernel), timeout=30)


@pytest.mark.slow
def test_an_interrupted_search_resumes_without_running_completed_runs_again(notebook, tmp_path):
    space_file = tmp_path / "space.yaml"
    space_file.write_text("optimizer: [adam, sgd]\n")
    runs_dir = tmp_path / "runs"
    args = labkit_search(notebook, space_file, runs_dir, "--trials", "2", "--sampler", "grid")
    args += ["--jobs", "1", "-p", "epoch_sleep", "2", "--pruner", "none"]
    command = [sys.executable, "-m", "labkit", *args]
    paths = [str(REPO), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}

    def statuses():
        return sorted(record.status for record in sweep.read_records(runs_dir))

    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=as_from_a_terminal,  # Ctrl-C reaches it however pytest was started
    )
    try:
        wait_for(lambda: statuses() == ["completed", "running"], timeout=180)
        (running,) = [r for r in sweep.read_records(runs_dir) if r.status == "running"]
        wait_for(lambda: (runs_dir / running.run_id / "kernel.pid").exists())
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()

    assert process.returncode == cli.EXIT_INTERRUPTED
    assert "labkit search: interrupted." in stderr.decode()
    assert statuses() == ["completed", "interrupted"]
    kernel = int((runs_dir / running.run_id / "kernel.pid").read_text())
    wait_for(lambda: not process_is_running(kernel), timeout=30)
    (completed,) = [r for r in sweep.read_records(runs_dir) if r.status == "completed"]
    completed_record = (runs_dir / completed.run_id / sweep.RECORD_FILE).read_text()

    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)

    assert resumed.returncode == cli.EXIT_OK, resumed.stderr
    assert "3 trials: 2 complete, 1 interrupted." in resumed.stdout
    assert statuses() == ["completed", "completed"]
    assert (runs_dir / completed.run_id / sweep.RECORD_FILE).read_text() == completed_record
    study = search.load_search_study(runs_dir)
    retry = study.trials[-1]
    assert retry.user_attrs["retry_of"] == study.trials[1].number
    assert retry.params == study.trials[1].params


@pytest.mark.slow
def test_a_search_runs_on_a_dask_cluster_and_prunes_there(notebook, tmp_path, local_cluster):
    plan = search.plan_search(
        notebook, {"optimizer": ["adam", "sgd"]}, {"epoch_sleep": "3"}, objective="val_accuracy"
    )
    runs_dir = tmp_path / "runs"
    study = search.run_search(
        plan,
        runs_dir,
        trials=2,
        sampler="grid",
        pruner=optuna.pruners.ThresholdPruner(lower=0.3),
        jobs=1,
        kernel_name="python3",
        scheduler=local_cluster.scheduler_address,
        progress=False,
    )

    states = {trial.params["optimizer"]: trial.state.name for trial in study.trials}
    assert states == {"adam": "COMPLETE", "sgd": "PRUNED"}
    assert study.best_value == 1.0
    assert (runs_dir / search.JOURNAL_FILE).is_file()  # the journal stays with the driver
    runs = records(runs_dir)
    assert runs["sgd"].status == PRUNED
    metrics = json.loads((runs_dir / runs["sgd"].run_id / "model" / "metrics.json").read_text())
    assert metrics["status"] == "stopped"
    assert len(metrics["history"]["val_accuracy"]) < 3
    assert (runs_dir / runs["adam"].run_id / "fake_epochs.ipynb").is_file()
