"""What a search learned: Optuna's figures, the best trial, and a command line to run it again.

`labkit report` calls `write_search_report` for a runs folder that holds a search's journal, next
to the sweep statistics it writes for any runs folder. The figures are Optuna's plotly ones:
the optimization history, the parameters' importances, parallel coordinates, and the objective
per epoch of every trial (where pruning shows). They go into one HTML file, and also into PNG
files when kaleido (with a Chrome or Chromium browser) can write them.

Example:

>>> paths = write_search_report("runs/search")
>>> print(paths["search"].read_text())
"""

from __future__ import annotations

import datetime
import os
import shlex
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import optuna.visualization as visualization
import pandas as pd
import plotly.graph_objects as go
import yaml
from optuna.trial import TrialState

from labkit._io import atomic_write
from labkit.plotting.export import image_export_problem, save_figures
from labkit.search.study import PLAN_ATTR, interrupted_trials, load_search_study, trial_states

__all__ = [
    "FIGURES",
    "best_command",
    "search_figures",
    "search_markdown",
    "study_summary",
    "trials_markdown",
    "write_search_report",
]

# File stem -> (title, Optuna's plot function); each plot takes `target_name`.
FIGURES: dict[str, tuple[str, Callable[..., go.Figure]]] = {
    "optimization_history": ("Optimization history", visualization.plot_optimization_history),
    "param_importances": ("Parameter importances", visualization.plot_param_importances),
    "parallel_coordinate": ("Parallel coordinates", visualization.plot_parallel_coordinate),
    "intermediate_values": ("Objective per epoch", visualization.plot_intermediate_values),
}
# The folder, under the runs folder, where the best trial's command writes.
BEST_FOLDER = "best"


def _has_complete_trial(study: optuna.Study) -> bool:
    return bool(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def study_summary(study: optuna.Study) -> str:
    """One line: how many trials ended how, and the best one.

    Example:

    >>> study_summary(study)
    "12 trials: 8 complete, 3 pruned, 1 fail. Best: trial 7, val_accuracy=0.6123 (...)."
    """
    plan = study.user_attrs.get(PLAN_ATTR, {})
    states = trial_states(study)
    text = f"{sum(states.values())} trials: " + ", ".join(
        f"{count} {state}" for state, count in states.most_common()
    )
    if not _has_complete_trial(study):
        return text + ". No trial completed."
    best = study.best_trial
    params = ", ".join(f"{name}={_short(value)}" for name, value in best.params.items())
    objective = plan.get("objective", "value")
    return f"{text}. Best: trial {best.number}, {objective}={best.value:.4g} ({params})."


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else repr(value)


def best_command(study: optuna.Study, runs_dir: str | os.PathLike) -> str:
    """The papermill command line that runs the best trial's parameters once more.

    It sets the fixed parameters and the best trial's, and writes into `RUNS_DIR/best`.

    Example:

    >>> best_command(study, "runs/search")
    'papermill notebooks/weight_norm.ipynb runs/search/best/weight_norm.ipynb -p model ...'
    """
    plan = study.user_attrs[PLAN_ATTR]
    notebook = Path(plan["notebook"])
    out_dir = Path(runs_dir) / BEST_FOLDER
    params = {**plan["fixed"], **study.best_trial.params}
    words = ["papermill", str(notebook), str(out_dir / notebook.name)]
    for name, value in params.items():
        words += _papermill_option(name, value)
    if _has_output_dir(notebook):
        words += ["-p", "output_dir", str(out_dir)]
    return shlex.join(words)


def _papermill_option(name: str, value: Any) -> list[str]:
    """`-p NAME VALUE` as papermill's command line reads it back to `value`."""
    if isinstance(value, str):
        # papermill reads True, None and numbers as such: `-r` keeps such a string a string.
        return ["-r" if _papermill_reads_as_other(value) else "-p", name, value]
    if value is None or isinstance(value, (bool, int, float)):
        return ["-p", name, repr(value)]
    return ["-y", yaml.safe_dump({name: value}, default_flow_style=True).strip()]


def _papermill_reads_as_other(text: str) -> bool:
    if text in ("True", "False", "None"):
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def _has_output_dir(notebook: Path) -> bool:
    if not notebook.is_file():
        return False
    from labkit.sweep import notebook_parameters
    from labkit.sweep.parameters import OUTPUT_DIR_PARAMETER

    return OUTPUT_DIR_PARAMETER in notebook_parameters(notebook)


def search_figures(study: optuna.Study) -> dict[str, go.Figure]:
    """Optuna's figures of the study, by file stem (see `FIGURES`); none before a trial completes.

    A figure Optuna cannot draw for this study is left out with a warning saying why.

    Example:

    >>> search_figures(study)["optimization_history"].show()
    """
    if not _has_complete_trial(study):
        return {}
    objective = study.user_attrs.get(PLAN_ATTR, {}).get("objective", "Objective Value")
    figures = {}
    for stem, (title, plot) in FIGURES.items():
        try:
            if plot is visualization.plot_intermediate_values:
                figure = plot(study).update_layout(xaxis_title="epoch", yaxis_title=objective)
            else:
                figure = plot(study, target_name=objective)
        except (ValueError, RuntimeError) as error:
            warnings.warn(f"The {title.lower()} figure is left out: {error}", stacklevel=2)
            continue
        figures[stem] = figure.update_layout(title=title, template="plotly_white")
    return figures


def search_markdown(study: optuna.Study, runs_dir: str | os.PathLike) -> str:
    """The search in short: trials by state, the best trial's value and parameters, its
    command line.

    Example:

    >>> print(search_markdown(study, "runs/search"))
    """
    plan = study.user_attrs.get(PLAN_ATTR, {})
    text = f"Search of {plan.get('notebook', 'a notebook')}: {study_summary(study)}\n"
    if not _has_complete_trial(study):
        return text
    best = study.best_trial
    seeds = plan.get("seeds") or []
    over = f", mean over {len(seeds)} seeds" if len(seeds) > 1 else ""
    rows = "\n".join(f"| {name} | {value!r} |" for name, value in best.params.items())
    text += (
        f"\nBest trial: {best.number}, {plan.get('direction', '')} "
        f"{plan.get('objective', 'value')} = {best.value:.4f}{over}.\n\n"
        f"| parameter | value |\n|:--|:--|\n{rows}\n\n"
        f"Run it again:\n\n```bash\n{best_command(study, runs_dir)}\n```\n\n"
        f"{trials_markdown(study)}"
    )
    return text


def trials_markdown(study: optuna.Study) -> str:
    """Every finished trial in order: how it ended, its value, the best value so far, its
    seconds and parameters; then the time from the first trial's start to the last one's end.

    Example:

    >>> print(trials_markdown(study))
    """
    objective = study.user_attrs.get(PLAN_ATTR, {}).get("objective", "value")
    pick = max if study.direction == optuna.study.StudyDirection.MAXIMIZE else min
    interrupted = interrupted_trials(study)
    trials = [trial for trial in study.get_trials(deepcopy=False) if trial.state.is_finished()]
    rows, best = [], None
    for trial in trials:
        if trial.state == TrialState.COMPLETE:
            best = trial.value if best is None else pick(best, trial.value)
        ended = trial.state.name.lower()
        if trial.number in interrupted:
            ended = "interrupted"
        elif trial.state == TrialState.PRUNED and trial.last_step is not None:
            ended = f"pruned at epoch {trial.last_step}"
        seconds = (trial.datetime_complete - trial.datetime_start).total_seconds()
        rows.append(
            {
                "trial": trial.number,
                "ended": ended,
                objective: _number(trial.value if trial.state == TrialState.COMPLETE else None),
                "best so far": _number(best),
                "seconds": f"{seconds:.0f}",
                **{name: _short(value) for name, value in trial.params.items()},
            }
        )
    if not rows:
        return ""
    span = max(t.datetime_complete for t in trials) - min(t.datetime_start for t in trials)
    span = datetime.timedelta(seconds=round(span.total_seconds()))
    table = pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True)
    return f"{table}\n\nFrom the first trial's start to the last one's end: {span}.\n"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def write_search_report(
    runs_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None, images: bool = True
) -> dict[str, Path]:
    """Writes `search.md` and `search.html` (every figure), and a PNG per figure if it can.

    PNG files (unless `images` is false) need kaleido and a Chrome-family browser
    (`labkit.plotting.export`); without them a one-line warning says why none were written, and
    the rest is written all the same. Returns the paths by kind (`search`, `search_figures`,
    then `png_<figure>`).

    Example:

    >>> write_search_report("runs/search")
    {'search': PosixPath('runs/search/search.md'), 'search_figures': ..., ...}
    """
    study = load_search_study(runs_dir)
    if study is None:
        raise FileNotFoundError(
            f"The runs folder holds no search. Received: `runs_dir={str(runs_dir)!r}`"
        )
    out_dir = Path(out_dir if out_dir is not None else runs_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"search": out_dir / "search.md", "search_figures": out_dir / "search.html"}
    markdown = search_markdown(study, runs_dir)
    atomic_write(paths["search"], markdown)
    figures = search_figures(study)
    atomic_write(paths["search_figures"], _figures_html(figures, markdown))
    if images and figures:
        paths.update(_write_pngs(figures, out_dir))
    return paths


def _figures_html(figures: dict[str, go.Figure], markdown: str) -> str:
    """One page: the summary, then each figure (plotly.js included once, so it works offline)."""
    parts = [
        figure.to_html(full_html=False, include_plotlyjs=index == 0)
        for index, figure in enumerate(figures.values())
    ]
    summary = markdown.replace("&", "&amp;").replace("<", "&lt;")
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>labkit search</title></head>"
        f"<body><pre>{summary}</pre>\n" + "\n".join(parts) + "\n</body></html>\n"
    )


def _write_pngs(figures: dict[str, go.Figure], out_dir: Path) -> dict[str, Path]:
    """Writes each figure as `search_<figure>.png`; if it cannot, says why in one warning."""
    paths = {f"png_{stem}": out_dir / f"search_{stem}.png" for stem in figures}
    problem = image_export_problem()
    try:
        if problem is None:
            save_figures(dict(zip(paths.values(), figures.values())))
    except RuntimeError as error:  # the browser failed
        problem = str(error)
    if problem:
        warnings.warn(f"The search's PNG figures are left out: {problem}", stacklevel=3)
        return {}
    return paths
