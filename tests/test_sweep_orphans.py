"""Tests for labkit.sweep.orphans: a batch's processes die with it (`kill -9` included), and a
batch that takes a runs folder over ends what a dead one left running before it clears anything."""

import json
import os
import signal
import socket
import subprocess
import sys

import pytest
from process_helpers import process_is_running, wait_for

from labkit.sweep import NotebookRecord, Run, orphans
from labkit.sweep.folder import RunsFolder
from labkit.sweep.lock import LOCK_FILE
from labkit.sweep.orphans import RUN_DIR_VARIABLE, left_running
from labkit.sweep.records import RUNNING, write_record

SLEEPER = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(600)"
# A process that ignores SIGTERM, as a stuck kernel might.
STUBBORN = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); " + SLEEPER
# A batch's driver: starts a sleeper from a worker thread that waits for it, as a sweep does
# (`orphans` alone is loaded, so that the driver starts in a fraction of a second).
DRIVER = """
import importlib.util, subprocess, sys, threading, time
spec = importlib.util.spec_from_file_location("orphans", sys.argv[1])
orphans = importlib.util.module_from_spec(spec)
spec.loader.exec_module(orphans)
command = orphans.dying_with_parent([sys.executable, "-c", sys.argv[2], sys.argv[3]])
threading.Thread(target=lambda: subprocess.Popen(command).wait()).start()
time.sleep(600)
"""


def start_orphan(code, run_dir, pid_file):
    """A process working for `run_dir` whose batch is gone: its own session, nobody waits."""
    env = {**os.environ, RUN_DIR_VARIABLE: str(run_dir)}
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(pid_file)], env=env, start_new_session=True
    )
    wait_for(lambda: pid_file.is_file() and pid_file.read_text())
    return process


def test_a_run_dies_with_its_batch_even_when_the_batch_is_killed(tmp_path):
    pid_file = tmp_path / "child.pid"
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, orphans.__file__, SLEEPER, str(pid_file)]
    )
    try:
        wait_for(lambda: pid_file.is_file() and pid_file.read_text(), timeout=60)
        child = int(pid_file.read_text())
        assert process_is_running(child)

        driver.kill()  # kill -9: no handler, no cleanup
        driver.wait()

        wait_for(lambda: not process_is_running(child), timeout=10)
    finally:
        driver.kill()
        if pid_file.is_file() and process_is_running(int(pid_file.read_text())):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def test_opening_a_folder_ends_what_a_dead_batch_left_before_anything_is_cleared(
    tmp_path, dead_pid, monkeypatch
):
    monkeypatch.setattr(orphans, "END_GRACE_S", 0.5)
    runs_dir = tmp_path / "runs"
    run_dir = runs_dir / "seed=0-x"
    run_dir.mkdir(parents=True)
    write_record(run_dir, NotebookRecord("seed=0-x", {"seed": 0}, status=RUNNING))
    owner = {"pid": dead_pid, "host": socket.gethostname(), "started_at": "2025-01-31T12:00:00"}
    (runs_dir / LOCK_FILE).write_text(json.dumps({**owner, "kind": "sweep"}))
    papermill = start_orphan(SLEEPER, run_dir, tmp_path / "papermill.pid")
    kernel = start_orphan(STUBBORN, run_dir, tmp_path / "kernel.pid")  # needs SIGKILL
    elsewhere = start_orphan(SLEEPER, tmp_path / "other" / "run", tmp_path / "other.pid")
    try:
        assert {process.pid for process in left_running(runs_dir)} == {papermill.pid, kernel.pid}

        with pytest.warns(UserWarning) as warned, RunsFolder(runs_dir) as folder:
            assert papermill.poll() is not None and kernel.poll() is not None
            folder.clear(Run("seed=0-x", {"seed": 0}))

        messages = [str(warning.message) for warning in warned]
        assert messages[0].startswith("Taking over the lock of a sweep that is no longer running")
        assert messages[1].startswith("Ended 2 processes that a batch which is no longer running")
        assert kernel.returncode == -signal.SIGKILL
        assert elsewhere.poll() is None  # another folder's process is left alone
        assert not run_dir.exists()
    finally:
        for process in (papermill, kernel, elsewhere):
            process.kill()
            process.wait()
