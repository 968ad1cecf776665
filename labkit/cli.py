"""The `labkit` command: `labkit sweep` runs a notebook over a grid, `labkit search` searches its
parameters with Optuna, `labkit report` sums either up.

Example:

    labkit sweep notebooks/weight_norm.ipynb -p model regular,weightnorm -p data_init true,false \\
        --seeds 0-4 -p epochs 10 --out runs/tutorial
    labkit search notebooks/weight_norm.ipynb --space space.yaml --trials 20 \\
        --objective val_accuracy -p model weightnorm --out runs/search
    labkit report runs/tutorial --target 0.5

Exit codes: 0 when every run completed (a search: no trial failed); 1 when some did not, or when
the runs folder could not be written while the runs went on (a full disk: the message names the
file); 2 for usage errors and a runs folder in use by another sweep or search (nothing ran); 130
after Ctrl-C, SIGTERM or SIGHUP (rerun the same command to resume). Every message is one line on
stderr, `labkit COMMAND: error: ...`.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import math
import os
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import IO, Any

EXIT_OK = 0
EXIT_RUNS_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the `labkit` command line and returns its exit code.

    Example:

    >>> main(["report", "runs/sweep", "--target", "0.6"])
    0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = functools.partial(_show_warning, args.command)
        try:
            return args.handler(args)
        except (ValueError, OSError, ImportError, RuntimeError) as error:
            if not _while_running(error):
                _say(f"labkit {args.command}: error: {error}", sys.stderr)
                return EXIT_USAGE
            _say(
                f"labkit {args.command}: error: {error}. Completed runs are kept; "
                "once there is room, run the same command again to resume.",
                sys.stderr,
            )
            return EXIT_RUNS_FAILED
        except KeyboardInterrupt:
            _say(
                f"labkit {args.command}: interrupted. Completed runs are kept; "
                "run the same command again to resume.",
                sys.stderr,
            )
            return EXIT_INTERRUPTED


def _while_running(error: Exception) -> bool:
    """Whether `error` came while runs went on (the runs folder could not be written), rather
    than from checking what the command was given, before anything ran."""
    records = sys.modules.get("labkit.sweep.records")  # loaded by every command that runs
    return records is not None and isinstance(error, records.RecordWriteError)


def _show_warning(command: str, message: Warning | str, *args: Any, **kwargs: Any) -> None:
    _say(f"labkit {command}: warning: {message}", sys.stderr)


def _say(text: str, file: IO[str]) -> None:
    """Prints `text`; once the terminal is gone (hang-up, closed pipe) prints nothing more."""
    try:
        print(text, file=file, flush=True)
    except (OSError, ValueError):
        # Later writes, and the flush at exit, go to /dev/null instead of failing again.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), file.fileno())


def build_parser() -> argparse.ArgumentParser:
    """Returns the argument parser of the `labkit` command.

    Example:

    >>> build_parser().parse_args(["report", "runs/sweep"]).target
    0.5
    """
    description = " ".join(__doc__.split("\n\n")[0].split())  # the first paragraph
    parser = argparse.ArgumentParser(prog="labkit", description=description)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_sweep_command(commands)
    _add_search_command(commands)
    _add_report_command(commands)
    return parser


def _add_sweep_command(commands: argparse._SubParsersAction) -> None:
    sweep = commands.add_parser(
        "sweep",
        help="run a notebook once per combination of parameter values",
        description="Run a parameterized notebook once per combination of parameter values, "
        "several at once, each with its own kernel. Rerunning resumes.",
    )
    sweep.add_argument("notebook", metavar="NOTEBOOK", help="the parameterized notebook")
    _add_parameter_option(
        sweep, "VALUES", r"a parameter and its comma-separated values (`\,` is a comma in a value)"
    )
    sweep.add_argument("--grid", metavar="YAML", help="a YAML file mapping names to value lists")
    sweep.add_argument("--seeds", help="values of the `seed` parameter: `0,1,2` or `0-4`")
    _add_execution_options(sweep, "local runs at once")
    sweep.add_argument(
        "--dry-run", action="store_true", help="check the grid and list the runs; run nothing"
    )
    sweep.set_defaults(handler=_sweep)


def _add_parameter_option(parser: argparse.ArgumentParser, values: str, help_text: str) -> None:
    """`-p NAME VALUES`, repeatable: the parameters given on the command line."""
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        dest="parameters",
        metavar=("NAME", values),
        help=f"{help_text}; repeat for more parameters",
    )


def _add_execution_options(parser: argparse.ArgumentParser, jobs_help: str) -> None:
    """The options a sweep and a search share: where runs go and how they execute."""
    parser.add_argument("--out", required=True, metavar="RUNS_DIR", help="folder for the runs")
    parser.add_argument(
        "--jobs",
        type=_positive(int),
        default=os.cpu_count() or 1,
        help=f"{jobs_help} (default: the number of cores, %(default)s here)",
    )
    parser.add_argument(
        "--timeout",
        type=_positive(float),
        metavar="SECONDS",
        help="seconds a run may take before it is stopped and recorded as timed out",
    )
    parser.add_argument(
        "--dask-scheduler",
        metavar="ADDRESS",
        help="run on this Dask cluster (tcp://HOST:PORT) instead of locally",
    )
    parser.add_argument("--kernel", metavar="NAME", help="Jupyter kernel (default: the notebook's)")


def _add_search_command(commands: argparse._SubParsersAction) -> None:
    from labkit.search.options import DIRECTIONS, PRUNERS, SAMPLERS

    search = commands.add_parser(
        "search",
        help="search a notebook's parameters with Optuna",
        description="Search a parameterized notebook's parameters with Optuna: each trial runs "
        "the notebook (once per seed) as a sweep does, trials the pruner rejects are stopped "
        "while they train, and the study is kept in RUNS_DIR. Rerunning resumes.",
    )
    search.add_argument("notebook", metavar="NOTEBOOK", help="the parameterized notebook")
    _add_parameter_option(search, "VALUE", "a parameter held fixed and its value")
    search.add_argument(
        "--space",
        required=True,
        metavar="YAML",
        help="a YAML file giving each searched parameter a distribution",
    )
    search.add_argument(
        "--trials",
        required=True,
        type=_positive(int),
        help="trials in the study when the search ends (rerun with more to extend it)",
    )
    search.add_argument(
        "--objective",
        required=True,
        metavar="METRIC",
        help="the metric the notebook records per epoch to optimize, e.g. val_accuracy",
    )
    search.add_argument(
        "--direction",
        choices=DIRECTIONS,
        help="maximize or minimize the objective (default: minimize a loss, else maximize)",
    )
    search.add_argument(
        "--seeds",
        type=_positive(int),
        metavar="K",
        help="run each trial with seeds 0 to K-1 and score the mean",
    )
    search.add_argument(
        "--sampler", choices=SAMPLERS, default="tpe", help="Optuna sampler (default: %(default)s)"
    )
    search.add_argument(
        "--pruner",
        choices=PRUNERS,
        default="median",
        help="stop trials that fall below the median of earlier ones at the same epoch "
        "(Optuna's MedianPruner), or none (default: %(default)s)",
    )
    _add_execution_options(search, "runs at once, locally or in flight on the Dask cluster")
    search.set_defaults(handler=_search)


def _add_report_command(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser(
        "report",
        help="summarize a sweep over seeds: table and curves",
        description="Summarize every metrics.json below RUNS_DIR: summary.csv, summary.md, "
        "curves.html.",
    )
    report.add_argument("runs_dir", metavar="RUNS_DIR", help="folder of a labkit sweep")
    report.add_argument(
        "--target",
        type=_fraction,
        default=0.5,
        help="validation accuracy counted as reached, in (0, 1] (default: %(default)s)",
    )
    report.add_argument("--out", metavar="DIR", help="where the files go (default: RUNS_DIR)")
    report.set_defaults(handler=_report)


def _positive(number_type: type) -> Callable[[str], Any]:
    """An argparse type: a positive, finite `number_type` (`nan` and `inf` are refused)."""
    expected = "a positive int" if number_type is int else "a positive, finite number"

    def parse_positive(text: str) -> Any:
        value = _parse_number(number_type, text)
        if value is None or not value > 0:
            raise argparse.ArgumentTypeError(f"expected {expected}. Received: `{text}`")
        return value

    return parse_positive


def _fraction(text: str) -> float:
    """An argparse type: a number in (0, 1], such as an accuracy to reach."""
    value = _parse_number(float, text)
    if value is None or not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1]. Received: `{text}`")
    return value


def _parse_number(number_type: type, text: str) -> Any:
    """`text` as a finite `number_type`, or None."""
    try:
        value = number_type(text)
    except (ValueError, OverflowError):
        return None
    return value if math.isfinite(value) else None


def grid_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Merges `--grid`, `-p` and `--seeds` into one grid; the command line wins over the file.

    Example:

    >>> args = build_parser().parse_args(["sweep", "nb.ipynb", "-p", "model", "regular,weightnorm",
    ...                                   "--seeds", "0-1", "--out", "runs/x"])
    >>> grid_from_args(args)
    {'model': ['regular', 'weightnorm'], 'seed': [0, 1]}
    """
    from labkit.sweep import load_grid_file, parse_seeds

    command_line = {
        name: split_values(values) for name, values in _named_values(args.parameters).items()
    }
    if args.seeds is not None:
        if "seed" in command_line:
            raise ValueError("Give seeds with `--seeds` or with `-p seed`, not both.")
        command_line["seed"] = parse_seeds(args.seeds)
    file_grid = load_grid_file(args.grid) if args.grid else {}
    return {**file_grid, **command_line}


def split_values(text: str) -> list[str]:
    r"""Splits the VALUES of `-p NAME VALUES` at its commas; `\,` is a comma inside a value.

    Example:

    >>> split_values("regular,weightnorm"), split_values(r"a\,b.tar.gz,c")
    (['regular', 'weightnorm'], ['a,b.tar.gz', 'c'])
    """
    return [value.replace("\\,", ",") for value in re.split(r"(?<!\\),", text)]


def _named_values(pairs: Sequence[Sequence[str]]) -> dict[str, str]:
    """The `-p NAME VALUE` pairs as a dict; a name given twice is an error."""
    named = {}
    for name, value in pairs:
        if name in named:
            raise ValueError(f"Parameter `{name}` is given twice. Received: `-p {name} {value}`")
        named[name] = value
    return named


# The handlers import their modules late so that `labkit --help` and `labkit report` do not pay
# for papermill's imports.
def _sweep(args: argparse.Namespace) -> int:
    from labkit import sweep
    from labkit.sweep.interrupts import interrupt_on_signals
    from labkit.sweep.options import notebook_task
    from labkit.sweep.records import COMPLETED

    # `kill`, a job scheduler's SIGTERM or a closed terminal stop the sweep as Ctrl-C does.
    with interrupt_on_signals():
        runs = sweep.plan_sweep(
            args.notebook, grid_from_args(args), validator=sweep.default_validator(args.notebook)
        )
        # The kernel and timeout are checked as the sweep would, so a dry run finds them too.
        notebook_task(
            args.notebook,
            kernel_name=args.kernel,
            timeout=args.timeout,
            local=not args.dask_scheduler,
        )
        if args.dry_run:
            for run in runs:
                _say(f"{run.run_id} {run.params}", sys.stdout)
            _say(f"{len(runs)} runs; nothing executed (--dry-run).", sys.stdout)
            return EXIT_OK
        records = sweep.run_sweep(
            args.notebook,
            runs,
            args.out,
            jobs=args.jobs,
            timeout=args.timeout,
            kernel_name=args.kernel,
            scheduler=args.dask_scheduler,
        )
    counts = collections.Counter(record.status for record in records)
    _say(
        f"{len(records)} runs: "
        + ", ".join(f"{count} {status}" for status, count in counts.most_common())
        + f". Records in {os.path.join(args.out, sweep.SUMMARY_FILE)}",
        sys.stdout,
    )
    return EXIT_OK if counts[COMPLETED] == len(records) else EXIT_RUNS_FAILED


def _search(args: argparse.Namespace) -> int:
    import optuna

    from labkit import search, sweep
    from labkit.sweep.interrupts import interrupt_on_signals

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # a line per trial comes from labkit
    with interrupt_on_signals():
        plan = search.plan_search(
            args.notebook,
            search.load_space_file(args.space),
            _named_values(args.parameters),
            objective=args.objective,
            direction=args.direction,
            seeds=args.seeds,
        )
        study = search.run_search(
            plan,
            args.out,
            trials=args.trials,
            sampler=args.sampler,
            pruner=args.pruner,
            jobs=args.jobs,
            timeout=args.timeout,
            kernel_name=args.kernel,
            scheduler=args.dask_scheduler,
        )
    _say(
        f"{search.study_summary(study)} Study in {os.path.join(args.out, search.JOURNAL_FILE)}, "
        f"runs in {os.path.join(args.out, sweep.SUMMARY_FILE)}",
        sys.stdout,
    )
    states = search.trial_states(study)
    return EXIT_RUNS_FAILED if states["fail"] or not states["complete"] else EXIT_OK


def _report(args: argparse.Namespace) -> int:
    from labkit.analysis import report

    if not os.path.isdir(args.runs_dir):
        problem = "is not a folder" if os.path.exists(args.runs_dir) else "was not found"
        raise ValueError(f"The runs folder {problem}. Received: `runs_dir={args.runs_dir!r}`")
    paths = report.write_report(args.runs_dir, args.out, args.target)
    _say(paths["markdown"].read_text(), sys.stdout)
    if "search" in paths:
        _say(paths["search"].read_text(), sys.stdout)
    _say("Wrote " + ", ".join(str(path) for path in paths.values()), sys.stdout)
    return EXIT_OK
