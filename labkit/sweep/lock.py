"""One batch at a time per runs folder: a lock file that names its owner.

The owner holds an exclusive `flock` on `RUNS_DIR/.labkit.lock` and writes its pid, host, start
time, kind of batch (sweep or search) and command into it. The operating system releases a
`flock` when its process ends, however it ends, so a lock whose owner died is free at once: the
next batch takes it over (with a warning naming the dead owner; `RunsFolder` then ends what the
dead owner left running). A lock written on another host is never taken over, since whether
its owner still runs cannot be told from here: delete the file if it does not.

Example:

>>> with RunsFolderLock("runs/sweep"):
...     ...  # no other sweep can write into runs/sweep here
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import socket
import sys
import warnings
from pathlib import Path

from labkit._io import utc_now

__all__ = ["LOCK_FILE", "UNKNOWN_KIND", "LockOwner", "RunsFolderBusyError", "RunsFolderLock"]

LOCK_FILE = ".labkit.lock"
# What a lock written by labkit before it recorded its kind of batch held.
UNKNOWN_KIND = "sweep or search"


class RunsFolderBusyError(RuntimeError):
    """Another batch owns the runs folder."""


@dataclasses.dataclass(frozen=True)
class LockOwner:
    """Who holds a runs folder's lock.

    Example:

    >>> LockOwner(pid=4242, host="lab1", started_at="2025-01-31T12:00:00+00:00").describe()
    'pid 4242 on host lab1, started 2025-01-31T12:00:00+00:00'
    """

    pid: int
    host: str
    started_at: str
    command: str = ""
    kind: str = UNKNOWN_KIND

    def describe(self) -> str:
        """The owner in a few words, for messages."""
        return f"pid {self.pid} on host {self.host}, started {self.started_at}"

    @classmethod
    def of_this_process(cls, kind: str = UNKNOWN_KIND) -> LockOwner:
        """This process as the owner of a `kind` of batch, started now.

        Example:

        >>> LockOwner.of_this_process("sweep").pid == os.getpid()
        True
        """
        command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else ""
        return cls(os.getpid(), socket.gethostname(), utc_now(), command, kind)


class RunsFolderLock:
    """An exclusive lock on a runs folder, held from `acquire` (or `with`) to `release`.

    `acquire` raises `RunsFolderBusyError`, naming the owner, when another process holds it.

    Args:
        folder: The runs folder; created if missing.
        kind: The kind of batch that holds it (`"sweep"`, `"search"`), for messages.

    Example:

    >>> with RunsFolderLock("runs/sweep", kind="sweep") as lock:
    ...     print(lock.path.name)
    .labkit.lock
    """

    def __init__(self, folder: str | os.PathLike, kind: str = UNKNOWN_KIND):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self.kind = kind
        self._fd: int | None = None

    def acquire(self) -> None:
        """Takes the lock, or raises `RunsFolderBusyError` at once if another process holds it."""
        if self._fd is not None:
            raise RuntimeError(f"The lock is already held by this object. Received: {self.path}")
        self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                owner = _read_owner(self.path)
                who = owner.describe() if owner else "its owner is still writing the lock"
                kind = owner.kind if owner else UNKNOWN_KIND
                raise RunsFolderBusyError(
                    f"Another {kind} is running in this runs folder ({who}); wait for it to end "
                    f"or stop it. Received: `out={str(self.folder)!r}`"
                ) from None
            # The previous owner removes the file as it releases it: lock the file that is there.
            if _same_file(fd, self.path):
                break
            os.close(fd)
        try:
            self._take_over(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def _take_over(self, fd: int) -> None:
        text = os.pread(fd, 1 << 16, 0).decode(errors="replace")
        if text.strip():
            owner = _parse_owner(text)
            if owner is not None and owner.host != socket.gethostname():
                raise RunsFolderBusyError(
                    f"This runs folder is locked by a {owner.kind} on another host "
                    f"({owner.describe()}); if it no longer runs, delete {self.path}. Received: "
                    f"`out={str(self.folder)!r}`"
                )
            who = owner.describe() if owner else "an unreadable lock"
            kind = owner.kind if owner else UNKNOWN_KIND
            warnings.warn(
                f"Taking over the lock of a {kind} that is no longer running ({who}).",
                stacklevel=3,
            )
        content = json.dumps(dataclasses.asdict(LockOwner.of_this_process(self.kind))).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, content + b"\n", 0)
        os.fsync(fd)

    def release(self) -> None:
        """Releases the lock and removes its file; does nothing when not held."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        if _same_file(fd, self.path):
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        os.close(fd)

    def __enter__(self) -> RunsFolderLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()


def _same_file(fd: int, path: Path) -> bool:
    try:
        here, there = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _parse_owner(text: str) -> LockOwner | None:
    try:
        values = json.loads(text)
        return LockOwner(
            int(values["pid"]),
            str(values["host"]),
            str(values["started_at"]),
            str(values.get("command", "")),
            str(values.get("kind", UNKNOWN_KIND)),
        )
    except (ValueError, TypeError, KeyError):
        return None


def _read_owner(path: Path) -> LockOwner | None:
    try:
        return _parse_owner(path.read_text(errors="replace"))
    except OSError:
        return None
