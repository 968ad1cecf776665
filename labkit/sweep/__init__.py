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

Example:

>>> notebook = "notebooks/weight_norm.ipynb"
>>> runs = plan_sweep(notebook, {"model": ["regular", "weightnorm"], "seed": [0, 1]})
>>> records = run_sweep(notebook, runs, "runs/sweep", jobs=2, timeout=3600)
"""

from labkit.sweep.execution import (
    THREAD_VARIABLES,
    WATCH_INTERVAL_S,
    PapermillTask,
    ProcessGroup,
    Stop,
    Watch,
    execute_run,
    mark_unfinished,
)
from labkit.sweep.executor import Executor
from labkit.sweep.folder import RunsFolder
from labkit.sweep.interrupts import interrupt_on_signals
from labkit.sweep.local import LocalExecutor
from labkit.sweep.lock import LOCK_FILE, RunsFolderBusyError, RunsFolderLock
from labkit.sweep.orphans import RUN_DIR_VARIABLE, dying_with_parent, end_left_running, left_running
from labkit.sweep.parameters import (
    OUTPUT_DIR_PARAMETER,
    notebook_defaults,
    notebook_parameters,
    parse_value,
)
from labkit.sweep.planning import (
    MAX_RUNS,
    Run,
    check_grid,
    default_validator,
    expand_grid,
    load_grid_file,
    load_yaml_mapping,
    params_digest,
    parse_seeds,
    plan_sweep,
    run_id,
)
from labkit.sweep.records import (
    COMPLETED,
    FAILED,
    INTERRUPTED,
    NOTEBOOK_STATUSES,
    PENDING,
    PRUNED,
    RECORD_FILE,
    RUNNING,
    SUMMARY_FILE,
    TIMED_OUT,
    NotebookRecord,
    RecordWriteError,
    read_notebook_record,
    read_records,
    write_record,
    write_summary,
)
from labkit.sweep.batch import progress_bar, write_summary_after
from labkit.sweep.options import (
    check_jobs,
    check_kernel,
    check_runs_dir,
    check_timeout,
    make_executor,
    notebook_task,
)
from labkit.sweep.runner import run_sweep

__all__ = [
    "COMPLETED",
    "FAILED",
    "INTERRUPTED",
    "LOCK_FILE",
    "MAX_RUNS",
    "OUTPUT_DIR_PARAMETER",
    "PENDING",
    "PRUNED",
    "RECORD_FILE",
    "RUNNING",
    "RUN_DIR_VARIABLE",
    "NOTEBOOK_STATUSES",
    "SUMMARY_FILE",
    "THREAD_VARIABLES",
    "TIMED_OUT",
    "WATCH_INTERVAL_S",
    "Executor",
    "LocalExecutor",
    "PapermillTask",
    "ProcessGroup",
    "Run",
    "NotebookRecord",
    "RecordWriteError",
    "RunsFolder",
    "RunsFolderBusyError",
    "RunsFolderLock",
    "Stop",
    "Watch",
    "check_grid",
    "check_jobs",
    "check_kernel",
    "check_runs_dir",
    "check_timeout",
    "default_validator",
    "dying_with_parent",
    "end_left_running",
    "execute_run",
    "expand_grid",
    "interrupt_on_signals",
    "left_running",
    "load_grid_file",
    "load_yaml_mapping",
    "make_executor",
    "mark_unfinished",
    "notebook_defaults",
    "notebook_parameters",
    "notebook_task",
    "params_digest",
    "parse_seeds",
    "parse_value",
    "plan_sweep",
    "progress_bar",
    "read_notebook_record",
    "read_records",
    "run_id",
    "run_sweep",
    "write_record",
    "write_summary",
    "write_summary_after",
]
