"""Run a notebook once per combination of parameter values, with papermill.

A sweep expands a grid of parameter values into runs, checks every name and value against the
notebook's `parameters` cell before anything runs, then executes one papermill process per run,
several at once, each with its own kernel and a per-run timeout. Each run gets a folder named by a
stable id derived from its parameters:

    RUNS_DIR/
        .labkit.lock                   held by the sweep running here: pid, host, start time
        runs.csv                       one row per run: id, status, duration, error, parameters
        model=regular,seed=0-1833b3c1/
            run.json                   params, status, error, duration (final once the run ends)
            parameters.yaml            what papermill injected, `output_dir` included
            weight_norm.ipynb          the executed notebook
            papermill.log              papermill's own output, tracebacks included
            regular/metrics.json       whatever the notebook writes into `output_dir`

Running the same sweep again resumes it: completed runs are skipped and every other run starts
again from an empty folder, so files of two attempts never mix.

The package's modules, in the order a batch uses them (a search reuses all but `planning`'s grid):

    parameters    a notebook's parameter types; values parsed to them
    planning      grids checked and expanded into `Run`s; run ids; seeds
    records       `NotebookRecord` and its statuses; `run.json` and `runs.csv`
    orphans       a batch's processes die with it; what a dead batch left is ended
    lock          `RunsFolderLock`: one batch per runs folder
    folder        `RunsFolder`: the lock, leftovers ended, runs found by parameters, the summary
    interrupts    SIGTERM and SIGHUP stop a batch like Ctrl-C
    execution     one run: a papermill process, its timeout, an optional watch, its record
    executor      `Executor`: submit runs (watched or not), records as they end, stop
    local, dask_cluster   the two executors
    options       a batch's options checked (timeout, jobs, kernel, folder); its task, executor
    batch         `run_batch`: the loop a sweep and a search share (signals, folder, progress,
                  executor, `runs.csv` as it ends)
    runner        `run_sweep`

The package's namespace is what a user of sweeps needs: planning and running one, a notebook's
parameters, the records a sweep leaves and the errors to catch. The rest (executors, locks,
statuses, the batch loop `labkit search` shares) is imported from its module.

Example:

>>> notebook = "notebooks/weight_norm.ipynb"
>>> runs = plan_sweep(notebook, {"model": ["regular", "weightnorm"], "seed": [0, 1]})
>>> records = run_sweep(notebook, runs, "runs/sweep", jobs=2, timeout=3600)
"""

from labkit.sweep.lock import RunsFolderBusyError
from labkit.sweep.parameters import notebook_defaults, notebook_parameters
from labkit.sweep.planning import Run, default_validator, load_grid_file, parse_seeds, plan_sweep
from labkit.sweep.records import (
    NOTEBOOK_STATUSES,
    RECORD_FILE,
    SUMMARY_FILE,
    NotebookRecord,
    RecordWriteError,
    read_notebook_record,
    read_records,
)
from labkit.sweep.runner import run_sweep

__all__ = [
    "NOTEBOOK_STATUSES",
    "RECORD_FILE",
    "SUMMARY_FILE",
    "NotebookRecord",
    "RecordWriteError",
    "Run",
    "RunsFolderBusyError",
    "default_validator",
    "load_grid_file",
    "notebook_defaults",
    "notebook_parameters",
    "parse_seeds",
    "plan_sweep",
    "read_notebook_record",
    "read_records",
    "run_sweep",
]
