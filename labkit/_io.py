"""Files that are whole or absent, and timestamps (package-private).

`atomic_file` writes through a temporary file beside the target, named uniquely for its writer
(`.<name>.<pid>@<host>.<token>.tmp`), and renames it over the target only when complete: a
reader never sees half a file, two writers never share a temporary file, and the temporary file
is removed when its writer fails. `remove_stale_temporaries` deletes those left by writers that
were killed.

Example:

>>> from labkit._io import atomic_write, utc_now
>>> atomic_write(Path("runs/demo/status.txt"), f"written {utc_now()}\\n")
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = [
    "utc_now",
    "atomic_file",
    "atomic_write",
    "temporary_path",
    "remove_stale_temporaries",
    "process_exists",
    "writable_dir_problem",
]

# Temporary files of writers on other hosts (a shared cache folder) are only removed once this
# old, since whether their writer still runs cannot be checked from here.
STALE_AFTER_S = 24 * 3600
_TEMPORARY = re.compile(r"^\.(?P<target>.+)\.(?P<pid>\d+)@(?P<host>[^@/]+)\.[0-9a-f]{8}\.tmp$")


def utc_now() -> str:
    """The current UTC time in ISO 8601, to the second.

    Example:

    >>> utc_now()
    '2025-01-31T12:00:00+00:00'
    """
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _host() -> str:
    return socket.gethostname().replace("@", "_").replace("/", "_") or "localhost"


def temporary_path(path: Path) -> Path:
    """A temporary file's path beside `path`, unique to this writer.

    Example:

    >>> temporary_path(Path("cache/data.npz")).name
    '.data.npz.4242@host.1f2e3d4c.tmp'
    """
    return path.with_name(f".{path.name}.{os.getpid()}@{_host()}.{secrets.token_hex(4)}.tmp")


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """Opens a temporary file beside `path`; renames it to `path` if the block succeeds.

    The temporary file is removed whatever happens in the block, so it never outlives its
    writer (unless the process is killed: see `remove_stale_temporaries`).

    Example:

    >>> with atomic_file(Path("cache/arrays.npz"), "wb") as file:
    ...     np.savez(file, x=np.zeros(3))
    """
    path = Path(path)
    partial = temporary_path(path)
    try:
        with open(partial, mode) as file:
            yield file
        os.replace(partial, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()


def atomic_write(path: str | os.PathLike, content: str | bytes) -> None:
    """Writes `content` to `path` atomically (see `atomic_file`).

    Example:

    >>> atomic_write(Path("runs/demo/metrics.json"), '{"status": "running"}\\n')
    """
    with atomic_file(path, "wb" if isinstance(content, bytes) else "w") as file:
        file.write(content)


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Deletes the temporary files in `folder` whose writer is gone; returns their paths.

    A writer on this host is gone when its process no longer exists; a writer on another host
    when its file is older than `STALE_AFTER_S`.

    Example:

    >>> remove_stale_temporaries(Path.home() / ".cache" / "labkit")
    []
    """
    removed = []
    host = _host()
    for candidate in Path(folder).glob(".*.tmp"):
        match = _TEMPORARY.match(candidate.name)
        if match is None:
            continue
        stale = False
        if match["host"] == host:
            stale = not process_exists(int(match["pid"]))
        else:
            with contextlib.suppress(OSError):
                stale = time.time() - candidate.stat().st_mtime > STALE_AFTER_S
        if stale:
            with contextlib.suppress(OSError):  # gone already, or a read-only folder
                candidate.unlink()
                removed.append(candidate)
    return removed


def process_exists(pid: int) -> bool:
    """Whether a process with this id runs on this host (another user's counts).

    Example:

    >>> process_exists(os.getpid())
    True
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process (or an absurd pid): keep its file
    return True


def writable_dir_problem(path: str | os.PathLike) -> str | None:
    """Why `path` cannot be used as an output folder, or `None` if it can.

    Creates nothing: `path` must be a writable folder, or the nearest folder that exists above
    it must be writable (so it can be created).

    Example:

    >>> writable_dir_problem("/etc/passwd")
    '/etc/passwd is not a folder'
    """
    path = Path(path).expanduser().absolute()
    existing = next(
        (folder for folder in (path, *path.parents) if os.path.lexists(folder)), path.anchor
    )
    existing = Path(existing)
    if not existing.is_dir():
        return f"{existing} is not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    return None
