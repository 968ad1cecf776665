"""labkit._io: atomic writes whose temporary files never outlive their writer; output folders."""

from __future__ import annotations

import os
import time

import pytest

from labkit import _io
from labkit._io import (
    atomic_file,
    atomic_write,
    remove_stale_temporaries,
    temporary_path,
    writable_dir_problem,
)


def test_a_write_replaces_the_file_whole(tmp_path):
    target = tmp_path / "metrics.json"
    atomic_write(target, "old\n")
    atomic_write(target, b"new\n")
    assert target.read_text() == "new\n" and os.listdir(tmp_path) == ["metrics.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("complete\n")
    with pytest.raises(RuntimeError), atomic_file(target) as file:
        file.write("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "complete\n" and os.listdir(tmp_path) == ["metrics.json"]


def test_every_writer_gets_its_own_temporary_file(tmp_path):
    target = tmp_path / "runs.csv"
    with atomic_file(target) as first, atomic_file(target) as second:
        assert first.name != second.name  # two writers never write into one file
        first.write("first\n")
        second.write("second\n")
    assert target.read_text() == "first\n"  # the last to finish wins, whole
    assert temporary_path(target).parent == tmp_path


def test_only_temporary_files_of_gone_writers_are_removed(tmp_path, dead_pid):
    target = tmp_path / "cache.npz"
    alive = temporary_path(target)
    dead = alive.with_name(alive.name.replace(f".{os.getpid()}@", f".{dead_pid}@"))
    host = _io._host()
    elsewhere_old = alive.with_name(alive.name.replace(f"@{host}.", "@other-host."))
    elsewhere_new = alive.with_name(alive.name.replace(f"@{host}.", "@third-host."))
    unrelated = tmp_path / ".ipynb_checkpoints.tmp"
    for path in (alive, dead, elsewhere_old, elsewhere_new, unrelated):
        path.write_text("x")
    old = time.time() - _io.STALE_AFTER_S - 60
    os.utime(elsewhere_old, (old, old))

    removed = remove_stale_temporaries(tmp_path)
    assert sorted(removed) == sorted([dead, elsewhere_old])
    assert alive.exists() and elsewhere_new.exists() and unrelated.exists()


def test_output_folders_are_checked_without_creating_anything(tmp_path, monkeypatch):
    assert writable_dir_problem(tmp_path) is None
    assert writable_dir_problem(tmp_path / "a" / "b") is None
    assert not (tmp_path / "a").exists()
    taken = tmp_path / "file"
    taken.write_text("x")
    assert writable_dir_problem(taken / "runs") == f"{taken} is not a folder"
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # tests may run as root
    assert writable_dir_problem(tmp_path / "a") == f"{tmp_path} is not writable"
