"""A batch's processes never outlive it: they die with it, and what a dead batch left is ended.

Two mechanisms, one for each way a batch can end:

- On Linux each papermill process asks the kernel for a parent-death signal (`PR_SET_PDEATHSIG`)
  before it execs papermill, so `kill -9` of the sweep ends its papermill processes at once; their
  Jupyter kernels exit as soon as papermill is gone (ipykernel watches its parent).
- Every process of a run carries the run's folder in its environment (`RUN_DIR_VARIABLE`; the
  kernel and whatever the notebook starts inherit it). The next batch that takes the runs folder
  over ends every process still marked with one of its run folders before it clears any of them
  (`end_left_running`), so a run folder is only cleared once nothing writes into it. That also
  covers systems without a parent-death signal and kernels that do not watch their parent.

Example:

>>> command = dying_with_parent([sys.executable, "-m", "papermill", "in.ipynb", "out.ipynb"])
>>> end_left_running(Path("runs/sweep"))  # the pids it ended
[]
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path

import psutil

__all__ = ["RUN_DIR_VARIABLE", "dying_with_parent", "end_left_running", "left_running"]

# The environment variable that names the run folder a process works for.
RUN_DIR_VARIABLE = "LABKIT_RUN_DIR"
# Seconds a process gets to exit after SIGTERM before SIGKILL.
END_GRACE_S = 5.0

# Runs in the child between fork and exec, as `python -c`: it sets the parent-death signal, makes
# sure the parent did not die before that, and becomes the command. The signal fires when the
# *thread* that started the child ends, so that thread must wait for the child (it does: see
# `ProcessGroup.run`).
_LAUNCHER = """\
import ctypes, os, signal, sys
parent = int(sys.argv[1])
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
if os.getppid() != parent:
    os._exit(1)
os.execv(sys.argv[2], sys.argv[2:])
"""


def dying_with_parent(command: list[str]) -> list[str]:
    """`command`, started so that it is killed when this process dies (Linux; elsewhere as is).

    Example:

    >>> dying_with_parent(["/usr/bin/sleep", "60"])[-2:]
    ['/usr/bin/sleep', '60']
    """
    if not sys.platform.startswith("linux"):
        return list(command)
    return [sys.executable, "-c", _LAUNCHER, str(os.getpid()), *command]


def left_running(folder: str | os.PathLike, *, inside: bool = True) -> list[psutil.Process]:
    """The processes that work for a run folder in `folder` (`inside`) or for `folder` itself.

    This process and its ancestors are never listed (a batch started from a notebook's kernel).

    Example:

    >>> left_running(Path("runs/sweep"))
    []
    """
    folder = Path(folder).resolve()
    own = {os.getpid(), *(process.pid for process in psutil.Process().parents())}
    found = []
    for process in psutil.process_iter():
        if process.pid in own:
            continue
        with contextlib.suppress(psutil.Error, OSError):
            marked = process.environ().get(RUN_DIR_VARIABLE)
            if marked and (Path(marked).parent if inside else Path(marked)) == folder:
                found.append(process)
    return found


def end_left_running(folder: str | os.PathLike, *, inside: bool = True) -> list[int]:
    """Ends what `left_running` finds (SIGTERM to each process group, then SIGKILL); returns the
    pids ended.

    Raises:
        RuntimeError: some of them could not be ended (another user's processes), naming them.

    Example:

    >>> end_left_running(Path("runs/sweep"))  # after `kill -9` of the sweep that used it
    [48213, 48220]
    """
    found = left_running(folder, inside=inside)
    processes = found
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for process in processes:
            with contextlib.suppress(psutil.Error, OSError):
                _signal_group(process, sig)
        processes = _wait_until_gone(processes, END_GRACE_S)
        if not processes:
            break
    if processes:
        pids = ", ".join(str(process.pid) for process in processes)
        raise RuntimeError(
            f"Processes of an earlier run still write into {folder} and cannot be ended from "
            f"here (pids {pids}); end them, then start again."
        )
    return [process.pid for process in found]


def _wait_until_gone(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Waits up to `timeout` seconds for the processes to end; returns those still running.

    A zombie counts as ended: it runs nothing, whenever its new parent reaps it.
    """
    deadline = time.monotonic() + timeout
    while True:
        processes = [process for process in processes if _running(process)]
        if not processes or time.monotonic() >= deadline:
            return processes
        time.sleep(0.05)


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _signal_group(process: psutil.Process, sig: signal.Signals) -> None:
    """Signals the process, and its process group when it leads one (papermill, a kernel)."""
    if process.is_running() and os.getpgid(process.pid) == process.pid:  # not a reused pid
        os.killpg(process.pid, sig)
    else:
        process.send_signal(sig)
