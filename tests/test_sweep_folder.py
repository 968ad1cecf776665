"""Tests for labkit.sweep.folder and records: runs found by their parameters, whatever their
folder's label says and whether they were given or defaults; completed runs never removed;
runs.csv lists every run in the folder; a full disk is an error that names the file."""

import errno
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from labkit.sweep import (
    RECORD_FILE,
    SUMMARY_FILE,
    NotebookRecord,
    RecordWriteError,
    Run,
    notebook_defaults,
    read_notebook_record,
    records,
)
from labkit.sweep.folder import RunsFolder
from labkit.sweep.planning import params_digest, run_id
from labkit.sweep.records import COMPLETED, FAILED, write_record, write_summary

FAKE_NOTEBOOK = Path(__file__).resolve().parent / "fixtures" / "fake_train.ipynb"


def old_record(folder, params, status=COMPLETED):
    """A run.json as labkit 0.1.0's sweep wrote it (a plain dict)."""
    folder.mkdir(parents=True)
    record = {
        "run_id": folder.name,
        "status": status,
        "error": None,
        "params": params,
        "notebook": "fake_train.ipynb",
        "host": "lab1",
        "started_at": "2025-01-31T12:00:00+00:00",
        "duration_s": 3.5,
    }
    (folder / RECORD_FILE).write_text(json.dumps(record, indent=2))


def test_a_run_is_found_by_its_parameters_whatever_its_label(tmp_path):
    # `-p epochs 1,2` made `epochs=1-<digest>`; `-p epochs 1` alone plans `<digest>`.
    old_record(tmp_path / run_id({"epochs": 1}, ["epochs"]), {"epochs": 1})
    planned = Run(run_id({"epochs": 1}), {"epochs": 1})
    assert planned.run_id == params_digest({"epochs": 1})

    with RunsFolder(tmp_path) as folder:
        placed = folder.place(planned)
        assert placed == Run(f"epochs=1-{planned.run_id}", {"epochs": 1})
        assert folder.is_completed(placed)
        assert folder.place(Run("epochs=3-x", {"epochs": 3})).run_id == "epochs=3-x"  # new


def test_a_completed_folder_is_preferred_and_never_cleared(tmp_path):
    old_record(tmp_path / "stale-attempt", {"seed": 0}, status=FAILED)
    old_record(tmp_path / "seed=0-done", {"seed": 0})

    with RunsFolder(tmp_path) as folder:
        run = folder.place(Run("seed=0-new", {"seed": 0}))
        assert run.run_id == "seed=0-done"
        with pytest.raises(ValueError, match="A completed run is never removed"):
            folder.clear(run)
        folder.clear(Run("stale-attempt", {"seed": 0}))

    assert (tmp_path / "seed=0-done" / RECORD_FILE).is_file()
    assert not (tmp_path / "stale-attempt").exists()


def test_an_unreadable_record_stops_the_sweep_naming_it(tmp_path):
    (tmp_path / "seed=0-x").mkdir()
    (tmp_path / "seed=0-x" / RECORD_FILE).write_text('{"run_id": "seed=0-x", "sta')

    with pytest.warns(UserWarning, match="Unreadable run record"):
        folder = RunsFolder(tmp_path)
        folder.open()  # indexing the folder skips it, with a warning
    with pytest.raises(ValueError, match=r"Unreadable run record .*seed=0-x/run.json.*Delete"):
        folder.is_completed(Run("seed=0-x", {"seed": 0}))
    folder.close()

    assert (tmp_path / "seed=0-x" / RECORD_FILE).exists()  # left for the user to look at


def test_summary_lists_every_run_in_the_folder_this_sweeps_first(tmp_path):
    old_record(tmp_path / "b-earlier", {"epochs": 2})
    old_record(tmp_path / "a-earlier", {"epochs": 3}, status=FAILED)
    this_sweep = [NotebookRecord("c-now", {"epochs": 1}, status=COMPLETED, duration_s=1.0)]

    with RunsFolder(tmp_path) as folder:
        folder.write_summary(this_sweep)

    summary = pd.read_csv(tmp_path / SUMMARY_FILE)
    assert summary[["run_id", "status", "epochs"]].values.tolist() == [
        ["c-now", "completed", 1],
        ["a-earlier", "failed", 3],
        ["b-earlier", "completed", 2],
    ]


def test_record_round_trips_and_reads_old_records(tmp_path):
    record = NotebookRecord("seed=0-1", {"seed": 0}, status=FAILED, error="RuntimeError: no")
    (tmp_path / "new").mkdir()
    write_record(tmp_path / "new", record)
    old_record(tmp_path / "old", {"seed": 1})

    assert read_notebook_record(tmp_path / "new") == record
    assert read_notebook_record(tmp_path / "old").duration_s == 3.5
    assert read_notebook_record(tmp_path / "missing") is None


def test_a_run_given_its_default_is_the_run_that_left_it_to_the_default(tmp_path):
    # `-p epochs 3,5` ran `{epochs: 3, seed: 0}`; `--seeds 0` alone plans `{seed: 0}`, where the
    # notebook's default is epochs = 3: the same run, found and not run again.
    old_record(tmp_path / "epochs=3-done", {"epochs": 3, "seed": 0})
    defaults = notebook_defaults(FAKE_NOTEBOOK)
    assert defaults["epochs"] == 3

    with RunsFolder(tmp_path, defaults) as folder:
        run = folder.place(Run(run_id({"seed": 0}, ["seed"]), {"seed": 0}))
        assert run.run_id == "epochs=3-done"
        assert folder.is_completed(run)
        assert not folder.is_completed(folder.place(Run("seed=1-x", {"seed": 1})))


def full_disk(path, content):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_on_a_full_disk_a_record_is_rewritten_in_place(tmp_path, monkeypatch):
    write_record(tmp_path, NotebookRecord("seed=0-x", {"seed": 0}, status="running"))
    monkeypatch.setattr(records, "atomic_write", full_disk)  # no room for a second copy

    failed = NotebookRecord("seed=0-x", {"seed": 0}, status=FAILED, error="OSError: full")
    write_record(tmp_path, failed)

    assert read_notebook_record(tmp_path) == failed
    with pytest.raises(RecordWriteError) as error:
        write_record(tmp_path / "new", failed)  # nothing to rewrite: it names the file
    assert str(error.value) == (
        f"Could not write {tmp_path / 'new' / RECORD_FILE}: No space left on device (errno 28)"
    )


def test_a_summary_that_cannot_be_written_names_its_file_and_keeps_the_old_one(
    tmp_path, monkeypatch
):
    write_summary(tmp_path, [NotebookRecord("seed=0-x", {"seed": 0}, status=COMPLETED)])
    before = (tmp_path / SUMMARY_FILE).read_text()
    monkeypatch.setattr(records, "atomic_write", full_disk)

    with pytest.raises(RecordWriteError, match=rf"Could not write {tmp_path / SUMMARY_FILE}: "):
        write_summary(tmp_path, [NotebookRecord("seed=1-x", {"seed": 1}, status=FAILED)])

    assert (tmp_path / SUMMARY_FILE).read_text() == before
