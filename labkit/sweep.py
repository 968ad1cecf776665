"""Run a notebook once per combination of parameter values, with papermill.

A sweep expands a grid of parameter values into runs, checks every name and value against the
notebook's `parameters` cell before anything runs, then executes one papermill process per run,
several at once, each with its own kernel and a per-run timeout. Each run gets a folder named by a
stable id derived from its parameters:

    RUNS_DIR/
        runs.csv                       one row per run: id, status, duration, error, parameters
        model=regular,seed=0-1833b3c1/
            run.json                   params, status, error, duration (final once the run ends)
            parameters.yaml            what papermill injected, `output_dir` included
            weight_norm.ipynb          the executed notebook
            papermill.log              papermill's own output, tracebacks included
            regular/metrics.json       whatever the notebook writes into `output_dir`

Running the same sweep again resumes it: completed runs are skipped and every other run starts
again from an empty folder, so files of two attempts never mix.

Example:

>>> notebook = "notebooks/weight_norm.ipynb"
>>> runs = plan_sweep(notebook, {"model": ["regular", "weightnorm"], "seed": [0, 1]})
>>> records = run_sweep(notebook, runs, "runs/sweep", jobs=2, timeout=3600)
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import datetime
import hashlib
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import IO, Any

import nbformat
import pandas as pd
import papermill
import yaml
from tqdm.auto import tqdm

from labkit.experiment import _write_atomic, validate_notebook_parameters

RECORD_FILE = "run.json"
SUMMARY_FILE = "runs.csv"
OUTPUT_DIR_PARAMETER = "output_dir"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")

_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
_EXPECTED = {
    "bool": "a bool (true/false, yes/no, 1/0)",
    "int": "an int",
    "float": "a float",
    "str": "a str",
}
# Seconds a terminated papermill process gets to exit before it is killed.
_TERMINATE_GRACE_S = 5


@dataclasses.dataclass(frozen=True)
class Run:
    """One combination of parameter values, and the id that names its folder."""

    run_id: str
    params: dict[str, Any]


def notebook_parameters(notebook: str | os.PathLike) -> dict[str, str | None]:
    """Returns the names of a notebook's parameters mapped to their type.

    The type is the annotation (`epochs: int = 10`) or type comment (`# type: int`) when the
    `parameters` cell declares one, else the type of the default value; one of "bool", "int",
    "float", "str", or None when neither says.

    Example:

    >>> notebook_parameters("notebooks/weight_norm.ipynb")["epochs"]
    'int'
    """
    inferred = papermill.inspect_notebook(str(_existing(notebook)))
    return {name: _parameter_type(parameter) for name, parameter in inferred.items()}


def _existing(notebook: str | os.PathLike) -> Path:
    if not Path(notebook).is_file():
        raise FileNotFoundError(f"Notebook not found. Received: `notebook={str(notebook)!r}`")
    return Path(notebook)


def _parameter_type(parameter: Mapping[str, str]) -> str | None:
    declared = parameter["inferred_type_name"]
    if declared in _EXPECTED:
        return declared
    try:
        default = ast.literal_eval(parameter["default"])
    except (ValueError, SyntaxError):
        return None
    name = type(default).__name__
    return name if name in _EXPECTED else None


def parse_value(name: str, value: Any, type_name: str | None) -> Any:
    """Converts a command-line string or YAML value to the parameter's type.

    Strings are parsed (bools accept true/false, yes/no, 1/0); values that are already typed, as
    YAML gives them, must match. A parameter of unknown type takes a Python literal, or the string.

    Example:

    >>> parse_value("data_init", "no", "bool")
    False
    >>> parse_value("learning_rate", "1e-3", "float")
    0.001
    """
    convert = _CONVERTERS.get(type_name, _to_literal)
    try:
        return convert(value)
    except ValueError:
        raise ValueError(
            f"Invalid value for `{name}`: expected {_EXPECTED[type_name]}. "
            f"Received: `{name}={value!r}`"
        ) from None


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _BOOLEANS:
        return _BOOLEANS[value.strip().lower()]
    raise ValueError(value)


def _to_int(value: Any) -> int:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return int(value)
    raise ValueError(value)


def _to_float(value: Any) -> float:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return float(value)
    raise ValueError(value)


def _to_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise ValueError(value)


def _to_literal(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


_CONVERTERS = {"bool": _to_bool, "int": _to_int, "float": _to_float, "str": _to_str}


def parse_seeds(text: str) -> list[int]:
    """Parses a seed list: comma-separated integers and inclusive ranges.

    Example:

    >>> parse_seeds("0-2,7")
    [0, 1, 2, 7]
    """
    seeds = []
    for item in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", item)
        if match is None or (match[2] is not None and int(match[2]) < int(match[1])):
            raise ValueError(
                "Invalid seeds: expected comma-separated integers or ranges like `0-4`. "
                f"Received: `seeds={text!r}`"
            )
        first = int(match[1])
        seeds.extend(range(first, int(match[2] or first) + 1))
    return list(dict.fromkeys(seeds))


def load_grid_file(path: str | os.PathLike) -> dict[str, Any]:
    """Reads a YAML grid: a mapping of parameter names to a list of values, or one value.

    Example:

    >>> # grid.yaml holds "model: [regular, weightnorm]\\nepochs: 10"
    >>> load_grid_file("grid.yaml")
    {'model': ['regular', 'weightnorm'], 'epochs': 10}
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"Grid file not found. Received: `grid={str(path)!r}`")
    grid = yaml.safe_load(Path(path).read_text())
    if not isinstance(grid, dict):
        raise ValueError(
            "A grid file must map parameter names to values. "
            f"Received: a {type(grid).__name__} in `{path}`"
        )
    return grid


def expand_grid(grid: Mapping[str, Iterable[Any]]) -> list[dict[str, Any]]:
    """Returns every combination of the grid's values, the last name varying fastest.

    Example:

    >>> expand_grid({"model": ["regular", "weightnorm"], "seed": [0, 1]})[:2]
    [{'model': 'regular', 'seed': 0}, {'model': 'regular', 'seed': 1}]
    """
    return [dict(zip(grid, values)) for values in itertools.product(*grid.values())]


def run_id(params: Mapping[str, Any], label_names: Iterable[str] = ()) -> str:
    """Returns a stable id for a run: a readable label, then a hash of all its parameters.

    The hash covers every parameter, sorted by name, so the id only changes when a value does;
    `label_names` picks the parameters shown in front (a sweep shows those it varies).

    Example:

    >>> run_id({"model": "regular", "seed": 0, "epochs": 10}, label_names=["model", "seed"])
    'model=regular,seed=0-1833b3c1'
    """
    canonical = json.dumps(params, sort_keys=True, default=str)
    digest = hashlib.sha1(canonical.encode()).hexdigest()[:8]
    label = ",".join(f"{name}={_label_value(params[name])}" for name in label_names)
    return f"{label[:80]}-{digest}" if label else digest


def _label_value(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, bool) else str(value)
    return re.sub(r"[^\w.+-]", "_", text)


def default_validator(notebook: str | os.PathLike) -> Callable[[dict[str, Any]], None] | None:
    """Returns labkit's own parameter check when `notebook` imports labkit, else None.

    Example:

    >>> validator = default_validator("notebooks/weight_norm.ipynb")
    >>> validator({"optimizer": "foo"})
    Traceback (most recent call last):
    ValueError: Invalid value for `optimizer`: expected one of 'adam', 'sgd', 'rmsprop', ...
    """
    cells = nbformat.read(_existing(notebook), as_version=4).cells
    if not any(cell.cell_type == "code" and "labkit" in cell.source for cell in cells):
        return None
    return validate_notebook_parameters


def plan_sweep(
    notebook: str | os.PathLike,
    grid: Mapping[str, Any],
    *,
    validator: Callable[[dict[str, Any]], None] | None = None,
) -> list[Run]:
    """Checks a grid against the notebook's parameters and expands it into runs.

    Every name must be a notebook parameter and every value must parse to its type; `validator`,
    when given, then sees each combination and raises ValueError to reject one. Nothing runs.

    Example:

    >>> notebook = "notebooks/weight_norm.ipynb"
    >>> runs = plan_sweep(notebook, {"model": "weightnorm", "data_init": ["true", "false"]},
    ...                   validator=default_validator(notebook))
    >>> [run.params for run in runs]
    [{'model': 'weightnorm', 'data_init': True}, {'model': 'weightnorm', 'data_init': False}]
    """
    types = notebook_parameters(notebook)
    if not types:
        raise ValueError(
            f"The notebook has no cell tagged `parameters`, so it cannot be swept. "
            f"Received: `notebook={str(notebook)!r}`"
        )
    axes = {}
    for name, values in grid.items():
        if name not in types:
            raise ValueError(
                f"Unknown parameter `{name}` for {Path(notebook).name}. "
                f"Expected one of: {', '.join(types)}. Received: `{name}`"
            )
        if name == OUTPUT_DIR_PARAMETER:
            raise ValueError(
                f"`{name}` is set by the sweep to each run's folder; set the sweep's folder "
                f"(`--out`) instead. Received: `{name}={values!r}`"
            )
        values = values if isinstance(values, (list, tuple)) else [values]
        if not values:
            raise ValueError(f"Parameter `{name}` needs at least one value. Received: `{name}=[]`")
        axes[name] = list(dict.fromkeys(parse_value(name, value, types[name]) for value in values))
    combinations = expand_grid(axes)
    if validator is not None:
        for params in combinations:
            validator(params)
    varying = [name for name, values in axes.items() if len(values) > 1]
    return [Run(run_id(params, varying), params) for params in combinations]


def read_record(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """Returns a run folder's record (params, status, error, duration), or None if it has none.

    Example:

    >>> read_record("runs/sweep/model=regular,seed=0-1833b3c1")["status"]
    'completed'
    """
    path = Path(run_dir) / RECORD_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def run_sweep(
    notebook: str | os.PathLike,
    runs: Iterable[Run],
    out_dir: str | os.PathLike,
    *,
    jobs: int | None = None,
    timeout: float | None = None,
    kernel_name: str | None = None,
    scheduler: str | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Executes every run not yet completed, `jobs` at a time, and returns all runs' records.

    Each run is its own papermill process and kernel, ended after `timeout` seconds; with N runs
    at once, each gets `OMP_NUM_THREADS` and `TF_NUM_INTRAOP_THREADS` = cores // N. A run that
    fails or times out is recorded with its error and the others go on. Ctrl-C ends the running
    processes, records them as interrupted and re-raises KeyboardInterrupt; completed runs stay.
    With `scheduler` (a Dask scheduler address) the runs execute on that cluster's workers, as
    many at once as they have threads (`jobs` is for local runs), and their files are copied back,
    so no shared filesystem is needed; workers need labkit and what the notebook imports.

    Example:

    >>> runs = plan_sweep("notebooks/weight_norm.ipynb", {"seed": [0, 1, 2]})
    >>> records = run_sweep("notebooks/weight_norm.ipynb", runs, "runs/seeds", timeout=3600)
    >>> [record["status"] for record in records]
    ['completed', 'completed', 'completed']
    """
    if jobs is not None and jobs < 1:
        raise ValueError(f"`jobs` must be a positive integer. Received: `jobs={jobs}`")
    if timeout is not None and timeout <= 0:
        raise ValueError(f"`timeout` must be a positive number. Received: `timeout={timeout}`")
    notebook = Path(notebook).resolve()
    out_dir = Path(out_dir).resolve()
    runs = list(runs)
    pending = [run for run in runs if _status(out_dir / run.run_id) != "completed"]
    for run in pending:
        shutil.rmtree(out_dir / run.run_id, ignore_errors=True)
    options = {
        "kernel_name": kernel_name,
        "timeout": timeout,
        "output_dir_parameter": (
            OUTPUT_DIR_PARAMETER if OUTPUT_DIR_PARAMETER in notebook_parameters(notebook) else None
        ),
    }
    if scheduler:
        results = _run_on_dask(notebook, pending, out_dir, scheduler, **options)
    else:
        results = _run_locally(notebook, pending, out_dir, jobs, **options)
    skipped = len(runs) - len(pending)
    bar = tqdm(total=len(runs), initial=skipped, desc="sweep", unit="run", disable=not progress)
    try:
        with contextlib.closing(results):
            for record in results:
                bar.update()
                if record["status"] != "completed":
                    bar.write(f"{record['run_id']}: {record['status']}: {record['error']}")
    finally:
        bar.close()
        records = [read_record(out_dir / run.run_id) or _pending_record(run) for run in runs]
        write_summary(out_dir, records)
    return records


def _status(run_dir: Path) -> str | None:
    record = read_record(run_dir)
    return record and record["status"]


def _pending_record(run: Run) -> dict[str, Any]:
    return {"run_id": run.run_id, "status": "pending", "error": None, "params": run.params}


def write_summary(out_dir: str | os.PathLike, records: Iterable[Mapping[str, Any]]) -> Path:
    """Writes `runs.csv`: one row per run with its id, status, duration, error and parameters.

    Example:

    >>> write_summary("runs/sweep", records)
    PosixPath('runs/sweep/runs.csv')
    """
    rows = [
        {
            "run_id": record["run_id"],
            "status": record["status"],
            "duration_s": record.get("duration_s"),
            "error": record["error"],
            **record["params"],
        }
        for record in records
    ]
    path = Path(out_dir) / SUMMARY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _write_json(path: Path, value: Any) -> None:
    # Written aside then renamed, so a reader never sees half a record.
    _write_atomic(path, json.dumps(value, indent=2, default=str))


class _Processes:
    """The papermill processes running for a sweep, so that Ctrl-C can end them all."""

    def __init__(self):
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen] = set()
        self.stopped = False

    def run(
        self, command: list[str], log: IO[bytes], env: dict[str, str], timeout: float | None
    ) -> tuple[str, str | None]:
        """Runs `command` to its end and returns its status and, for a timeout, the error."""
        with self._lock:
            if self.stopped:
                return "interrupted", "The sweep was stopped before this run started."
            # Its own session: Ctrl-C at a terminal reaches the sweep alone, which decides.
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
            self._running.add(process)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _terminate(process)
            return "timed_out", f"The run exceeded its timeout of {timeout:g} s."
        finally:
            with self._lock:
                self._running.discard(process)
        if process.returncode == 0:
            return "completed", None
        if self.stopped:
            return "interrupted", "The sweep was stopped before this run finished."
        return "failed", None

    def stop(self) -> None:
        """Ends every running process; runs not yet started will not start."""
        with self._lock:
            self.stopped = True
            running = list(self._running)
        for process in running:
            _terminate(process)


def _terminate(process: subprocess.Popen) -> None:
    # The kernel lives in its own session and exits by itself once papermill, its parent, is gone.
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=_TERMINATE_GRACE_S)
            return


def _execute_run(
    notebook: Path,
    run_dir: Path,
    params: dict[str, Any],
    *,
    kernel_name: str | None,
    timeout: float | None,
    output_dir_parameter: str | None,
    threads: int,
    processes: _Processes,
) -> dict[str, Any]:
    run_dir.mkdir(parents=True, exist_ok=True)
    record = {
        "run_id": run_dir.name,
        "status": "running",
        "error": None,
        "params": params,
        "notebook": notebook.name,
        "host": socket.gethostname(),
        "started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "duration_s": None,
    }
    _write_json(run_dir / RECORD_FILE, record)
    injected = dict(params)
    if output_dir_parameter:
        injected[output_dir_parameter] = str(run_dir)
    parameters_file = run_dir / "parameters.yaml"
    parameters_file.write_text(yaml.safe_dump(injected, sort_keys=False))
    executed = run_dir / notebook.name
    command = [sys.executable, "-m", "papermill", str(notebook), str(executed)]
    command += ["--parameters_file", str(parameters_file), "--no-progress-bar"]
    if kernel_name:
        command += ["--kernel", kernel_name]
    env = {**os.environ, **dict.fromkeys(THREAD_VARIABLES, str(threads))}
    started = time.monotonic()
    log_path = run_dir / "papermill.log"
    with log_path.open("wb") as log:
        status, error = processes.run(command, log, env, timeout)
    if status == "failed":
        error = _notebook_error(executed) or _last_line(log_path)
    record.update(
        status=status,
        error=error,
        duration_s=round(time.monotonic() - started, 3),
    )
    _write_json(run_dir / RECORD_FILE, record)
    return record


def _notebook_error(executed: Path) -> str | None:
    """The first exception raised in an executed notebook, as `Type: message`."""
    with contextlib.suppress(OSError, ValueError):
        for cell in nbformat.read(executed, as_version=4).cells:
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    return f"{output.ename}: {output.evalue}"
    return None


def _last_line(log_path: Path) -> str:
    lines = [line for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "papermill exited with an error and no output."


def _thread_budget(parallel_runs: int) -> int:
    """Threads each run may use so that `parallel_runs` runs together fill the cores once."""
    return max(1, (os.cpu_count() or 1) // max(1, parallel_runs))


def _run_locally(
    notebook: Path, runs: list[Run], out_dir: Path, jobs: int | None, **options
) -> Iterator[dict[str, Any]]:
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(runs)))
    processes = _Processes()
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="labkit-sweep") as pool:
        futures = [
            pool.submit(
                _execute_run,
                notebook,
                out_dir / run.run_id,
                run.params,
                threads=_thread_budget(jobs),
                processes=processes,
                **options,
            )
            for run in runs
        ]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BaseException:  # Ctrl-C, or the caller closing this generator early.
            processes.stop()
            pool.shutdown(cancel_futures=True)
            raise


def _run_on_dask(
    notebook: Path, runs: list[Run], out_dir: Path, scheduler: str, **options
) -> Iterator[dict[str, Any]]:
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError:
        raise ImportError(
            "Running a sweep on a Dask cluster needs dask.distributed: pip install 'labkit[dask]'"
        ) from None
    try:
        client = Client(scheduler, set_as_default=False)
    except OSError as error:
        raise ConnectionError(
            f"Cannot reach the Dask scheduler. Received: `scheduler={scheduler!r}` ({error})"
        ) from None
    source = notebook.read_bytes()
    with client:
        futures = {
            client.submit(
                _execute_on_worker,
                source,
                notebook.name,
                run.run_id,
                run.params,
                options,
                pure=False,
            ): run
            for run in runs
        }
        try:
            for future in dask_completed(futures, loop=client.loop):
                yield _collect(future, out_dir / futures[future].run_id, futures[future])
        except BaseException:
            # Runs already executing on workers finish or time out there; their results are lost.
            client.cancel(list(futures))
            raise


def _execute_on_worker(
    source: bytes, notebook_name: str, run_id: str, params: dict[str, Any], options: dict[str, Any]
) -> dict[str, bytes]:
    """Runs on a Dask worker: executes the run in a temporary folder and returns its files."""
    from distributed import get_worker

    with tempfile.TemporaryDirectory(prefix="labkit-sweep-") as scratch:
        notebook = Path(scratch) / notebook_name
        notebook.write_bytes(source)
        run_dir = Path(scratch) / run_id
        threads = _thread_budget(get_worker().state.nthreads)
        _execute_run(notebook, run_dir, params, threads=threads, processes=_Processes(), **options)
        return {
            path.relative_to(run_dir).as_posix(): path.read_bytes()
            for path in run_dir.rglob("*")
            if path.is_file()
        }


def _collect(future, run_dir: Path, run: Run) -> dict[str, Any]:
    """Writes a finished Dask run's files into `run_dir`, its record last, and returns it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if future.status != "finished":
        exception = future.exception() if future.status == "error" else None
        error = (
            f"{type(exception).__name__}: {exception}" if exception else "Cancelled on the cluster."
        )
        record = {**_pending_record(run), "status": "failed", "error": error}
        _write_json(run_dir / RECORD_FILE, record)
        return record
    files = future.result()
    for name in sorted(files, key=lambda name: name == RECORD_FILE):
        path = run_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files[name])
    return read_record(run_dir)
