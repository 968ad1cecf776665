"""Tests for labkit.sweep.execution: how one run ends when its disk is full, when its processes
are killed, or when its batch is stopped, and what its records say then."""

import errno
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from process_helpers import write_notebook

from labkit import sweep
from labkit.results import RunRecord
from labkit.sweep.execution import PapermillTask, ProcessGroup, execute_run
from labkit.sweep.orphans import RUN_DIR_VARIABLE
from labkit.sweep.records import COMPLETED, FAILED, INTERRUPTED, TIMED_OUT

NO_SPACE = f"OSError: [Errno 28] {os.strerror(errno.ENOSPC)}"


class FakeProcesses(ProcessGroup):
    """Runs no process: writes what the notebook would have, and ends as told (a failure's
    error is the last line printed, as for papermill)."""

    def __init__(self, status, log_line, metrics_status="running", error=None):
        super().__init__()
        self.status, self.log_line, self.metrics_status = status, log_line, metrics_status
        self.error = error

    def run(self, command, log, env, timeout, watch=None):
        run_dir = Path(env[RUN_DIR_VARIABLE])
        (run_dir / "model").mkdir()
        history = {"val_accuracy": [0.4]}
        RunRecord(run_name="model", status=self.metrics_status, history=history).write(
            run_dir / "model"
        )
        log.write(f"Traceback (most recent call last):\n{self.log_line}\n".encode())
        return self.status, self.error or self.log_line


def execute(tmp_path, processes, params=None):
    task = PapermillTask(Path("/notebooks/fake.ipynb"))
    run = sweep.Run("seed=0-x", params or {"seed": 0})
    return execute_run(task, run, tmp_path / "seed=0-x", threads=1, processes=processes)


def metrics(run_dir):
    return json.loads((run_dir / "model" / "metrics.json").read_text())


def test_a_run_that_filled_the_disk_fails_naming_its_folder(tmp_path):
    record = execute(tmp_path, FakeProcesses(FAILED, NO_SPACE))

    run_dir = tmp_path / "seed=0-x"
    assert record.status == FAILED
    assert record.error == f"{NO_SPACE} (writing into {run_dir})"
    assert sweep.read_notebook_record(run_dir) == record
    assert (metrics(run_dir)["status"], metrics(run_dir)["error"]) == ("failed", record.error)
    assert metrics(run_dir)["history"] == {"val_accuracy": [0.4]}  # what it computed stays


def test_a_run_whose_record_cannot_be_written_fails_and_says_which_file(tmp_path, monkeypatch):
    def full_disk(path, content):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(sweep.records, "atomic_write", full_disk)

    record = execute(tmp_path, FakeProcesses(COMPLETED, "never started"))

    assert record.status == FAILED
    assert record.error == (
        f"Could not write {tmp_path / 'seed=0-x' / 'run.json'}: No space left on device (errno 28)"
    )


@pytest.mark.parametrize(
    ("status", "metrics_status"),
    [(FAILED, "failed"), (TIMED_OUT, "failed"), (INTERRUPTED, "interrupted")],
)
def test_a_run_that_did_not_complete_marks_the_metrics_it_left_running(
    status, metrics_status, tmp_path
):
    record = execute(tmp_path, FakeProcesses(status, "RuntimeError: died", error="Ended."))

    assert record.status == status
    assert metrics(tmp_path / "seed=0-x")["status"] == metrics_status
    assert metrics(tmp_path / "seed=0-x")["error"] == record.error


def test_metrics_the_notebook_finished_are_left_as_they_are(tmp_path):
    execute(tmp_path, FakeProcesses(FAILED, "RuntimeError: after", metrics_status="completed"))

    assert metrics(tmp_path / "seed=0-x")["status"] == "completed"


def test_a_stopped_batch_starts_nothing_and_says_why_without_naming_a_sweep(tmp_path):
    processes = ProcessGroup()
    processes.stop()
    with (tmp_path / "log").open("wb") as log:
        status, error = processes.run([sys.executable, "-c", "pass"], log, {}, timeout=None)

    assert (status, error) == (
        INTERRUPTED,
        "Stopped by Ctrl-C, SIGTERM or SIGHUP before this run started.",
    )


PARAMETERS = 'output_dir = "runs/fake"  # str\nname = "a"  # str\n'
TRAINING = """\
import json, os, time
from pathlib import Path
run_dir = Path(output_dir, "model")
run_dir.mkdir(parents=True, exist_ok=True)
metrics = {"run_name": "model", "status": "running", "history": {"val_accuracy": [0.3]}}
(run_dir / "metrics.json").write_text(json.dumps(metrics))
Path(output_dir, "kernel.pid").write_text(str(os.getpid()))
time.sleep(600)
"""


@pytest.fixture
def sleeping_notebook(tmp_path):
    """A notebook that records one epoch as `running`, then sleeps."""
    return write_notebook(tmp_path / "sleeping.ipynb", PARAMETERS, TRAINING)


@pytest.mark.slow
def test_a_run_whose_kernel_or_papermill_is_terminated_is_recorded_as_failed(
    sleeping_notebook, tmp_path
):
    psutil = pytest.importorskip("psutil")
    runs_dir = tmp_path / "runs"
    runs = sweep.plan_sweep(sleeping_notebook, {"name": ["kernel", "papermill"]})
    kernels = {run.params["name"]: runs_dir / run.run_id / "kernel.pid" for run in runs}

    def terminate_when_running():
        deadline = time.monotonic() + 120
        while not all(path.is_file() and path.read_text() for path in kernels.values()):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        kernel = int(kernels["kernel"].read_text())
        os.kill(kernel, signal.SIGTERM)
        papermill = psutil.Process(int(kernels["papermill"].read_text())).ppid()
        os.kill(papermill, signal.SIGTERM)

    killer = threading.Thread(target=terminate_when_running)
    killer.start()
    records = sweep.run_sweep(sleeping_notebook, runs, runs_dir, jobs=2, progress=False)
    killer.join()

    by_name = {record.params["name"]: record for record in records}
    assert by_name["papermill"].error == "papermill was ended by SIGTERM."
    assert by_name["kernel"].status == FAILED
    assert "DeadKernelError" in by_name["kernel"].error
    for record in records:
        left = json.loads((runs_dir / record.run_id / "model" / "metrics.json").read_text())
        assert (left["status"], left["error"]) == ("failed", record.error)
        assert left["history"] == {"val_accuracy": [0.3]}
