"""Tests for the `labkit` command line, in process and as `python -m labkit`."""

import fcntl
import json
import os
import pty
import signal
import socket
import subprocess
import sys
import termios
from pathlib import Path

import pandas as pd
import pytest
from process_helpers import as_from_a_terminal, process_is_running, wait_for

from labkit import cli, sweep
from labkit.sweep.lock import LOCK_FILE

REPO = Path(__file__).resolve().parents[1]
FAKE_NOTEBOOK = str(REPO / "tests" / "fixtures" / "fake_train.ipynb")


def labkit(*args, **options):
    """Runs `python -m labkit ARGS` as a user would, from a folder outside the repository."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "labkit", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=as_from_a_terminal,  # Ctrl-C and hang-ups reach it however pytest started
        **options,
    )


def finish(process, timeout=120):
    stdout, stderr = process.communicate(timeout=timeout)
    return process.returncode, stdout, stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "optimiser", "adam"], "Unknown parameter `optimiser` for fake_train.ipynb."),
        (["-p", "epochs", "10,ten"], "Invalid value for `epochs`: expected an int."),
        (["-p", "data_init", "maybe"], "Invalid value for `data_init`: expected a bool"),
        (["--seeds", "0..4"], "Invalid seeds: expected comma-separated integers"),
        (["-p", "seed", "1", "--seeds", "0-4"], "Give seeds with `--seeds` or with `-p seed`"),
        (["-p", "epochs", "1", "-p", "epochs", "2"], "Parameter `epochs` is given twice."),
        (["--grid", "missing.yaml"], "Grid file not found. Received: `grid='missing.yaml'`"),
        (["--kernel", "nosuchkernel"], "Invalid value for `kernel`: expected one of 'python3'"),
        (["--kernel", "nosuchkernel", "--dry-run"], "Invalid value for `kernel`: expected one"),
    ],
)
def test_sweep_rejects_bad_grids_in_one_line_before_running(args, message, tmp_path, capsys):
    exit_code = cli.main(["sweep", FAKE_NOTEBOOK, *args, "--out", str(tmp_path / "runs")])

    stderr = capsys.readouterr().err
    assert exit_code == cli.EXIT_USAGE
    assert stderr.startswith("labkit sweep: error: ")
    assert message in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--jobs", "0"),
        ("--jobs", "two"),
        ("--jobs", "1e3"),
        ("--timeout", "-5"),
        ("--timeout", "0"),
        ("--timeout", "nan"),
        ("--timeout", "inf"),
        ("--timeout", "1e999"),
    ],
)
def test_sweep_rejects_bad_options_as_usage_errors(option, value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["sweep", FAKE_NOTEBOOK, "--out", "runs", option, value])

    assert exit_info.value.code == cli.EXIT_USAGE
    assert f"argument {option}: expected a positive" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["nan", "inf", "0", "-0.5", "1.5", "high"])
def test_report_rejects_targets_that_are_not_an_accuracy(value, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["report", str(tmp_path), "--target", value])

    assert exit_info.value.code == cli.EXIT_USAGE
    assert f"argument --target: expected a number in (0, 1]. Received: `{value}`" in (
        capsys.readouterr().err
    )


def test_sweep_with_a_broken_grid_file_is_a_one_line_usage_error(tmp_path, capsys):
    grid_file = tmp_path / "grid.yaml"
    grid_file.write_text("model: [regular, weightnorm\nseed: 0\n")

    exit_code = cli.main(["sweep", FAKE_NOTEBOOK, "--grid", str(grid_file), "--out", "runs"])

    stderr = capsys.readouterr().err
    assert exit_code == cli.EXIT_USAGE
    assert stderr.startswith("labkit sweep: error: The grid file is not valid YAML: ")
    assert str(grid_file) in stderr
    assert len(stderr.strip().splitlines()) == 1


def test_sweep_into_a_file_is_a_one_line_usage_error(tmp_path, capsys):
    (tmp_path / "runs").touch()

    exit_code = cli.main(["sweep", FAKE_NOTEBOOK, "--out", str(tmp_path / "runs")])

    stderr = capsys.readouterr().err
    assert exit_code == cli.EXIT_USAGE
    assert "must be a writable folder" in stderr
    assert len(stderr.strip().splitlines()) == 1


def test_dry_run_lists_the_runs_and_runs_nothing(tmp_path, capsys):
    exit_code = cli.main(
        ["sweep", FAKE_NOTEBOOK, "-p", "model", "regular,weightnorm", "--seeds", "0-2"]
        + ["--out", str(tmp_path / "runs"), "--dry-run"]
    )

    stdout = capsys.readouterr().out
    assert exit_code == cli.EXIT_OK
    assert "model=weightnorm,seed=2-" in stdout
    assert "6 runs; nothing executed (--dry-run)." in stdout
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("archive", ["missing.tar.gz", "."])
def test_an_archive_that_is_no_file_is_refused_before_any_run_starts(archive, tmp_path, capsys):
    exit_code = cli.main(
        ["sweep", str(REPO / "notebooks" / "weight_norm.ipynb"), "-p", "archive", archive]
        + ["--out", str(tmp_path / "runs"), "--dry-run"]
    )

    stderr = capsys.readouterr().err
    problem = "was not found" if archive == "missing.tar.gz" else "is a folder, not a file"
    assert exit_code == cli.EXIT_USAGE
    assert stderr.startswith("labkit sweep: error: Invalid value for `archive`: expected the ")
    assert f"(this one {problem}). Received: `archive='{archive}'`" in stderr


def test_a_comma_inside_a_value_is_written_with_a_backslash(tmp_path):
    args = cli.build_parser().parse_args(
        ["sweep", FAKE_NOTEBOOK, "-p", "model", r"a\,b,c", "--out", "runs"]
    )

    assert cli.grid_from_args(args) == {"model": ["a,b", "c"]}


def test_help_says_what_the_command_does_in_whole_sentences(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])

    text = " ".join(capsys.readouterr().out.split())
    assert (
        "`labkit search` searches its parameters with Optuna, `labkit report` sums either up."
        in (text)
    )


@pytest.mark.parametrize(
    ("make", "problem"), [(None, "was not found"), ("file", "is not a folder")]
)
def test_report_says_when_its_runs_folder_is_missing_or_a_file(make, problem, tmp_path, capsys):
    runs_dir = tmp_path / "runs"
    if make == "file":
        runs_dir.write_text("")

    assert cli.main(["report", str(runs_dir)]) == cli.EXIT_USAGE

    assert capsys.readouterr().err == (
        f"labkit report: error: The runs folder {problem}. Received: `runs_dir={str(runs_dir)!r}`\n"
    )


def test_a_full_disk_while_runs_go_on_is_no_usage_error(tmp_path, capsys, monkeypatch):
    summary = tmp_path / "runs" / sweep.SUMMARY_FILE

    def full_disk(*args, **options):
        raise sweep.RecordWriteError(28, "No space left on device", str(summary))

    monkeypatch.setattr(sweep, "run_sweep", full_disk)

    exit_code = cli.main(["sweep", FAKE_NOTEBOOK, "--out", str(tmp_path / "runs")])

    assert exit_code == cli.EXIT_RUNS_FAILED
    assert capsys.readouterr().err == (
        f"labkit sweep: error: Could not write {summary}: No space left on device (errno 28). "
        "Completed runs are kept; once there is room, run the same command again to resume.\n"
    )


def test_grid_from_args_lets_the_command_line_override_the_grid_file(tmp_path):
    grid_file = tmp_path / "grid.yaml"
    grid_file.write_text("model: [regular]\nepochs: 3\nseed: [5, 6]\n")
    args = cli.build_parser().parse_args(
        ["sweep", FAKE_NOTEBOOK, "--grid", str(grid_file), "-p", "model", "regular,weightnorm"]
        + ["--seeds", "0-1", "--out", "runs"]
    )

    assert cli.grid_from_args(args) == {
        "model": ["regular", "weightnorm"],
        "epochs": 3,
        "seed": [0, 1],
    }


def test_report_of_a_folder_without_runs_is_a_usage_error(tmp_path, capsys):
    assert cli.main(["report", str(tmp_path)]) == cli.EXIT_USAGE
    assert "No metrics.json below the runs folder" in capsys.readouterr().err


@pytest.mark.slow
def test_tiny_sweep_runs_end_to_end_resumes_and_reports(tmp_path):
    # weight_norm x data_init x 2 seeds: the notebook trains both models in every run.
    sweep_args = ["sweep", FAKE_NOTEBOOK, "-p", "data_init", "true,false", "--seeds", "0,1"]
    sweep_args += ["-p", "epochs", "3", "--out", "runs", "--jobs", "2", "--kernel", "python3"]

    exit_code, stdout, stderr = finish(labkit(*sweep_args, cwd=tmp_path))

    assert exit_code == cli.EXIT_OK, stderr
    assert "4 runs: 4 completed." in stdout
    records = pd.read_csv(tmp_path / "runs" / sweep.SUMMARY_FILE)
    assert records["status"].eq("completed").all()
    record_files = sorted((tmp_path / "runs").glob(f"*/{sweep.RECORD_FILE}"))
    before = [path.read_text() for path in record_files]

    exit_code, stdout, _ = finish(labkit(*sweep_args, cwd=tmp_path))

    assert exit_code == cli.EXIT_OK
    assert "4 runs: 4 completed." in stdout
    assert [path.read_text() for path in record_files] == before  # nothing ran again

    exit_code, stdout, stderr = finish(labkit("report", "runs", "--target", "0.4", cwd=tmp_path))

    assert exit_code == cli.EXIT_OK, stderr
    assert "| WeightNorm, data_init off |" in stdout
    summary = pd.read_csv(tmp_path / "runs" / "summary.csv")
    assert summary["setting"].tolist() == [
        "regular",
        "WeightNorm, data_init off",
        "WeightNorm, data_init on",
    ]
    assert summary["n"].tolist() == [2, 2, 2]
    assert (tmp_path / "runs" / "curves.html").is_file()


def statuses(runs_dir):
    return sorted(
        json.loads(path.read_text())["status"] for path in runs_dir.glob(f"*/{sweep.RECORD_FILE}")
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "stop_signal", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["ctrl-c", "kill", "hangup"]
)
def test_stopping_keeps_completed_runs_and_marks_the_others_interrupted(stop_signal, tmp_path):
    runs_dir = tmp_path / "runs"
    args = ["sweep", FAKE_NOTEBOOK, "-p", "sleep", "0,600", "--jobs", "2", "--kernel", "python3"]
    process = labkit(*args, "--out", str(runs_dir))
    try:
        wait_for(lambda: statuses(runs_dir) == ["completed", "running"])
        sleeping_dir = next(runs_dir.glob("sleep=600.0-*"))
        wait_for(lambda: (sleeping_dir / "kernel.pid").exists())

        process.send_signal(stop_signal)
        exit_code, _, stderr = finish(process, timeout=30)
    finally:
        if process.poll() is None:
            process.terminate()  # the sweep stops its runs on SIGTERM too

    assert exit_code == cli.EXIT_INTERRUPTED
    assert "interrupted. Completed runs are kept" in stderr
    assert statuses(runs_dir) == ["completed", "interrupted"]
    completed_dir = next(runs_dir.glob("sleep=0.0-*"))
    assert (completed_dir / "regular" / "metrics.json").is_file()
    assert pd.read_csv(runs_dir / sweep.SUMMARY_FILE)["status"].tolist() == [
        "completed",
        "interrupted",
    ]
    kernel = int((sleeping_dir / "kernel.pid").read_text())
    wait_for(lambda: not process_is_running(kernel), timeout=10)


def labkit_env():
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }


# A sweep of one run that sleeps for ten minutes.
SLEEPING_SWEEP = ["sweep", FAKE_NOTEBOOK, "-p", "sleep", "600", "--kernel", "python3"]


def kernel_of_the_running_run(runs_dir):
    """Waits for the one run in `runs_dir` to run its notebook; returns its kernel's pid."""
    wait_for(lambda: statuses(runs_dir) == ["running"])
    (run_dir,) = [path for path in runs_dir.iterdir() if path.is_dir()]
    pid_file = run_dir / "kernel.pid"
    wait_for(lambda: pid_file.is_file() and pid_file.read_text())
    return int(pid_file.read_text())


@pytest.mark.slow
def test_a_second_sweep_into_a_busy_folder_fails_at_once_and_touches_nothing(tmp_path):
    runs_dir = tmp_path / "runs"
    first = labkit(*SLEEPING_SWEEP, "--out", str(runs_dir))
    try:
        kernel = kernel_of_the_running_run(runs_dir)

        exit_code, _, stderr = finish(labkit(*SLEEPING_SWEEP, "--out", str(runs_dir)))

        assert exit_code == cli.EXIT_USAGE
        assert stderr.startswith("labkit sweep: error: Another sweep is running in this runs")
        assert f"(pid {first.pid} on host {socket.gethostname()}, started " in stderr
        assert len(stderr.strip().splitlines()) == 1
        assert statuses(runs_dir) == ["running"]  # the running run was not deleted or restarted
        assert process_is_running(kernel)
    finally:
        first.terminate()
    exit_code, _, _ = finish(first, timeout=30)
    assert exit_code == cli.EXIT_INTERRUPTED
    assert statuses(runs_dir) == ["interrupted"]
    assert not (runs_dir / LOCK_FILE).exists()


@pytest.mark.slow
def test_a_sweep_killed_with_sigkill_leaves_no_papermill_or_kernel_running(tmp_path):
    psutil = pytest.importorskip("psutil")
    runs_dir = tmp_path / "runs"
    process = labkit(*SLEEPING_SWEEP, "--out", str(runs_dir))
    try:
        kernel = kernel_of_the_running_run(runs_dir)
        papermill = psutil.Process(kernel).ppid()

        process.kill()  # kill -9: the sweep cannot stop anything itself
        process.wait(timeout=30)

        wait_for(lambda: not process_is_running(papermill), timeout=10)
        wait_for(lambda: not process_is_running(kernel), timeout=10)
    finally:
        process.kill()
        process.communicate()


def mount_tiny_tmpfs(path, size="24k"):
    """A tmpfs of `size` at `path` (root only), or a skip."""
    if os.geteuid() != 0 or not sys.platform.startswith("linux"):
        pytest.skip("mounting a tmpfs needs root on Linux")
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)])
    if mounted.returncode != 0:
        pytest.skip("this machine does not let root mount a tmpfs")


@pytest.mark.slow
def test_a_sweep_that_fills_its_disk_names_the_files_and_records_what_it_can(tmp_path):
    disk = tmp_path / "disk"
    mount_tiny_tmpfs(disk)
    try:
        args = ["sweep", FAKE_NOTEBOOK, "--seeds", "0-1", "--jobs", "1", "--kernel", "python3"]
        exit_code, _, stderr = finish(labkit(*args, "--out", str(disk / "runs")))
        records = [
            json.loads(path.read_text()) for path in (disk / "runs").glob(f"*/{sweep.RECORD_FILE}")
        ]
    finally:
        subprocess.run(["umount", "-l", str(disk)])

    assert exit_code == cli.EXIT_RUNS_FAILED, stderr
    assert "Traceback" not in stderr
    failures = [line for line in stderr.splitlines() if "No space left on device" in line]
    assert failures and all(str(disk / "runs") in line for line in failures)
    assert records and all(record["status"] in ("completed", "failed") for record in records)
    failed = [record for record in records if record["status"] == "failed"]
    assert all("No space left on device" in record["error"] for record in failed)


def become_controlled_by_the_terminal():
    as_from_a_terminal()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


@pytest.mark.slow
def test_closing_the_terminal_stops_the_runs_and_records_them(tmp_path):
    psutil = pytest.importorskip("psutil")
    runs_dir = tmp_path / "runs"
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "labkit", "sweep", FAKE_NOTEBOOK, "-p", "sleep", "0,600"]
        + ["--jobs", "2", "--kernel", "python3", "--out", str(runs_dir)],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=labkit_env(),
        start_new_session=True,  # a session of its own, whose controlling terminal is the pty
        preexec_fn=become_controlled_by_the_terminal,
    )
    os.close(terminal)
    try:
        wait_for(lambda: statuses(runs_dir) == ["completed", "running"])
        sleeping_dir = next(runs_dir.glob("sleep=600.0-*"))
        wait_for(lambda: (sleeping_dir / "kernel.pid").exists())
        kernel = int((sleeping_dir / "kernel.pid").read_text())
        papermill = psutil.Process(kernel).ppid()

        os.close(controller)  # the terminal window closes: SIGHUP, and writes fail from now on
        assert process.wait(timeout=30) == cli.EXIT_INTERRUPTED
    finally:
        if process.poll() is None:
            process.kill()

    assert statuses(runs_dir) == ["completed", "interrupted"]
    summary = pd.read_csv(runs_dir / sweep.SUMMARY_FILE)
    assert sorted(summary["status"]) == ["completed", "interrupted"]
    assert not (runs_dir / LOCK_FILE).exists()
    wait_for(lambda: not process_is_running(papermill), timeout=10)
    wait_for(lambda: not process_is_running(kernel), timeout=10)


def test_report_names_unreadable_runs_in_one_line_each_and_goes_on(tmp_path, capsys):
    for seed in (0, 1):
        run = tmp_path / f"seed={seed}" / "weightnorm"
        run.mkdir(parents=True)
        metrics = {
            "run_name": "weightnorm",
            "status": "completed",
            "params": {"weight_norm": True, "data_init": True, "seed": seed},
            "history": {"val_accuracy": [0.4, 0.5 + seed / 10]},
            "epoch_seconds": [1.0, 1.0],
            "epochs_completed": 2,
            "best_val_accuracy": 0.5 + seed / 10,
            "final_val_accuracy": 0.5 + seed / 10,
        }
        (run / "metrics.json").write_text(json.dumps(metrics))
    (tmp_path / "seed=2" / "weightnorm").mkdir(parents=True)
    (tmp_path / "seed=2" / "weightnorm" / "metrics.json").write_text("")

    exit_code = cli.main(["report", str(tmp_path)])

    captured = capsys.readouterr()
    assert exit_code == cli.EXIT_OK
    assert captured.err.splitlines() == [
        f"labkit report: warning: Unreadable run results "
        f"{tmp_path / 'seed=2' / 'weightnorm' / 'metrics.json'}: empty. "
        "It is left out of the report."
    ]
    assert "| WeightNorm, data_init on | 2 " in captured.out
    assert "Left out: 1 run(s) whose metrics.json could not be read: seed=2/weightnorm." in (
        captured.out
    )


@pytest.mark.slow
def test_report_into_a_closed_pipe_still_writes_its_files(tmp_path):
    reader, writer = os.pipe()
    os.close(reader)  # `labkit report runs | head -0`: nobody reads the output
    runs = tmp_path / "runs" / "seed=0" / "weightnorm"
    runs.mkdir(parents=True)
    metrics = {"run_name": "weightnorm", "status": "completed", "params": {"seed": 0}}
    (runs / "metrics.json").write_text(json.dumps({**metrics, "history": {"val_accuracy": [0.5]}}))

    process = subprocess.Popen(
        [sys.executable, "-m", "labkit", "report", str(tmp_path / "runs")],
        env=labkit_env(),
        stdout=writer,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(writer)
    exit_code, _, stderr = finish(process)

    assert exit_code == cli.EXIT_OK, stderr
    assert stderr == ""
    assert (tmp_path / "runs" / "summary.md").is_file()
