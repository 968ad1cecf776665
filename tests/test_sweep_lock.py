"""Tests for labkit.sweep.lock: one sweep per runs folder, stale locks taken over, other hosts'
locks left alone. The other owner is a real second process where it matters."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labkit.sweep import RunsFolderBusyError
from labkit.sweep.lock import LOCK_FILE, RunsFolderLock

REPO = Path(__file__).resolve().parents[1]
HOLD_LOCK = """
import sys, time
from labkit.sweep.lock import RunsFolderLock
lock = RunsFolderLock(sys.argv[1])
lock.acquire()
print("locked", flush=True)
time.sleep(600)
"""


def write_owner(folder, pid, host, **more):
    folder.mkdir(parents=True, exist_ok=True)
    owner = {"pid": pid, "host": host, "started_at": "2025-01-31T12:00:00+00:00", **more}
    (folder / LOCK_FILE).write_text(json.dumps(owner))


def test_lock_is_exclusive_and_names_its_owner(tmp_path):
    with RunsFolderLock(tmp_path / "runs", kind="sweep") as lock:
        owner = json.loads(lock.path.read_text())
        assert owner["pid"] == os.getpid()
        assert owner["host"] == socket.gethostname()

        with pytest.raises(RunsFolderBusyError) as error:
            RunsFolderLock(tmp_path / "runs").acquire()

    message = str(error.value)
    assert message.startswith("Another sweep is running in this runs folder (")
    assert f"pid {os.getpid()} on host {socket.gethostname()}, started " in message
    assert len(message.splitlines()) == 1
    assert not (tmp_path / "runs" / LOCK_FILE).exists()  # released: the file is gone
    with RunsFolderLock(tmp_path / "runs"):  # and the folder can be locked again
        pass


def test_messages_name_the_kind_of_batch_that_holds_the_folder(tmp_path, dead_pid):
    with RunsFolderLock(tmp_path, kind="search"), pytest.raises(RunsFolderBusyError) as error:
        RunsFolderLock(tmp_path, kind="sweep").acquire()
    assert str(error.value).startswith("Another search is running in this runs folder (pid ")

    write_owner(tmp_path, dead_pid, socket.gethostname(), kind="search")
    stale = r"^Taking over the lock of a search that is no longer running"
    with pytest.warns(UserWarning, match=stale), RunsFolderLock(tmp_path, kind="sweep"):
        pass


def test_lock_of_a_dead_sweep_on_this_host_is_taken_over_with_a_warning(tmp_path, dead_pid):
    write_owner(tmp_path, dead_pid, socket.gethostname())

    with pytest.warns(UserWarning, match=rf"no longer running \(pid {dead_pid} on host "):
        lock = RunsFolderLock(tmp_path)
        lock.acquire()

    assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    lock.release()


def test_lock_written_on_another_host_is_not_taken_over(tmp_path):
    write_owner(tmp_path, 1234, "elsewhere")

    with pytest.raises(RunsFolderBusyError, match=r"search on another host \(pid 1234 on host "):
        RunsFolderLock(tmp_path).acquire()

    assert json.loads((tmp_path / LOCK_FILE).read_text())["host"] == "elsewhere"  # untouched


def test_lock_held_by_another_process_is_busy_until_that_process_dies(tmp_path):
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        with pytest.raises(RunsFolderBusyError, match=rf"\(pid {holder.pid} on host "):
            RunsFolderLock(tmp_path).acquire()
        assert time.monotonic() - started < 1  # fails at once, never waits

        holder.send_signal(signal.SIGKILL)  # dies without releasing anything
        holder.wait(timeout=30)
        stale = rf"no longer running \(pid {holder.pid} on host "
        with pytest.warns(UserWarning, match=stale), RunsFolderLock(tmp_path) as lock:
            assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    finally:
        holder.kill()
        holder.wait()
