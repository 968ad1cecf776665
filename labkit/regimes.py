"""Where weight normalization helps: normalizations compared across optimizers and learning rates.

A sweep of the tutorial notebook with `normalization=all` over optimizers, learning rates and
seeds (`notebooks/where_weightnorm_helps.grid.yaml`) trains every ConvNet of `build_convnet` in
every setting. This module reads such a runs folder (through `labkit.report.load_runs` and
`labkit.results.read_record`), sums each setting up over seeds with 95% intervals
(`labkit.stats`), draws the comparison, and words a verdict from the numbers: a difference is
called only where its 95% Welch interval excludes zero.

A setting is an optimizer, a learning rate and a normalization. Per setting:

- final validation accuracy, and the training loss of the last epoch (a run whose loss is not
  finite has diverged and is counted apart);
- steps and seconds until the training loss (averaged over the steps between two records of
  `labkit.recording.StepRecorder`) first reaches a threshold, over the runs that reach it.

Example:

>>> runs = load_regime_runs("runs/regimes")
>>> summary = summarize_regimes(runs, loss_threshold=1.8)
>>> sensitivity_figure(summary).show()
>>> print(verdict(runs, loss_threshold=1.8))
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.colors
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from labkit._checks import check, is_number
from labkit.report import load_runs, setting_columns
from labkit.results import read_record
from labkit.stats import Interval, difference_interval, mean_interval
from labkit.variants import (
    NORMALIZATION_RUNS,
    NORMALIZATIONS,
    RUN_COLORS,
    checked_normalization,
)

__all__ = [
    "SETTING",
    "BASELINE",
    "load_regime_runs",
    "first_at_or_below",
    "summarize_regimes",
    "summary_table",
    "sensitivity_figure",
    "speed_figure",
    "loss_curves_figure",
    "accuracy_differences",
    "verdict",
]

# What tells the compared settings apart; seeds are what each is summarized over.
SETTING = ("optimizer", "learning_rate", "normalization")
# The normalization every other one is compared with.
BASELINE = "none"
# The parameters that vary between the compared runs (`weight_norm` with `normalization`).
_COMPARED = (*SETTING, "weight_norm")
_OPTIMIZER_ORDER = ("sgd", "momentum", "adam", "rmsprop", "adamw")
OPTIMIZER_LABELS = {
    "sgd": "plain SGD",
    "momentum": "SGD with momentum",
    "adam": "Adam",
    "rmsprop": "RMSprop",
    "adamw": "AdamW",
}
NORMALIZATION_LABELS = {
    "none": "no normalization",
    "weightnorm": "WeightNorm",
    "batchnorm": "BatchNorm",
    "weightnorm+meanonly": "WeightNorm + mean-only BN",
}
# Summary measures: (column prefix, what it is, number format).
_MEASURES = {
    "val_accuracy": ("final val accuracy", ".3f"),
    "final_loss": ("final training loss", ".3f"),
    "steps_to_threshold": ("steps to threshold", ".0f"),
    "seconds_to_threshold": ("seconds to threshold", ".1f"),
}


def load_regime_runs(runs_dir: str | os.PathLike) -> pd.DataFrame:
    """Reads the completed runs below `runs_dir`, one row per trained model.

    Columns: `path`, `optimizer`, `learning_rate`, `normalization` (`"none"` and
    `"weightnorm"` for runs that set only `weight_norm`), `seed`, `final_val_accuracy`,
    `final_loss` (the last epoch's training loss), and per run the arrays `steps`,
    `step_loss` and `step_seconds` that `StepRecorder` wrote (empty for runs without them).
    Runs that did not complete are left out; unreadable files are named in a warning.

    Raises:
        ValueError: no run completed, or the runs also differ in another parameter (e.g.
            `epochs`), which would mix settings.

    Example:

    >>> runs = load_regime_runs("runs/regimes")
    >>> runs.groupby(["optimizer", "normalization"])["final_val_accuracy"].mean()
    """
    runs = load_runs(runs_dir)
    runs = runs[runs["status"] == "completed"].copy()
    check("runs_dir", str(runs_dir), not runs.empty, "a folder with completed runs")
    for name in ("optimizer", "learning_rate", "seed", "weight_norm"):
        if name not in runs.columns:
            raise ValueError(
                f"The runs do not record `{name}`: they are not labkit training runs. "
                f"Received: `runs_dir={str(runs_dir)!r}`"
            )
    given = runs["normalization"] if "normalization" in runs.columns else [None] * len(runs)
    runs["normalization"] = [
        checked_normalization(bool(weight_norm), value if isinstance(value, str) else None)
        for weight_norm, value in zip(runs["weight_norm"], given)
    ]
    mixed = [
        name
        for name in setting_columns(runs)
        if name not in _COMPARED and runs[name].astype(str).nunique() > 1
    ]
    if mixed:
        raise ValueError(
            f"The runs also differ in {', '.join(f'`{name}`' for name in mixed)}, so settings "
            "would be mixed; compare one value at a time (a runs folder per value). "
            f"Received: `runs_dir={str(runs_dir)!r}`"
        )
    runs = runs.drop_duplicates(subset=[*SETTING, "seed"])
    records = [read_record(Path(runs_dir) / path) for path in runs["path"]]
    runs["final_loss"] = [_last(record.history.get("loss")) for record in records]
    for column, key in (("steps", "step"), ("step_loss", "loss"), ("step_seconds", "seconds")):
        runs[column] = [np.asarray(record.steps.get(key, []), float) for record in records]
    columns = ["path", *SETTING, "seed", "final_val_accuracy", "final_loss", "steps"]
    return runs[[*columns, "step_loss", "step_seconds"]].reset_index(drop=True)


def _last(values: Sequence[float | None] | None) -> float:
    value = values[-1] if values else None
    return math.nan if value is None else float(value)


def first_at_or_below(losses: Sequence[float], threshold: float) -> int | None:
    """The index of the first loss at or below `threshold` (NaN never is), or None.

    Example:

    >>> first_at_or_below([2.2, float("nan"), 1.7, 1.5], 1.8)
    2
    """
    reached = np.flatnonzero(np.asarray(losses, float) <= threshold)
    return int(reached[0]) if reached.size else None


def check_threshold(loss_threshold: float) -> None:
    """Checks a training-loss threshold: a positive, finite number.

    Example:

    >>> check_threshold(0)
    Traceback (most recent call last):
    ValueError: Invalid value for `loss_threshold`: expected a finite number > 0. Received: ...
    """
    ok = is_number(loss_threshold) and math.isfinite(loss_threshold) and loss_threshold > 0
    check("loss_threshold", loss_threshold, ok, "a finite number > 0")


def _with_threshold(runs: pd.DataFrame, loss_threshold: float) -> pd.DataFrame:
    """`runs` with `steps_to_threshold` and `seconds_to_threshold` (NaN where not reached)."""
    check_threshold(loss_threshold)
    runs = runs.copy()
    reached = [first_at_or_below(losses, loss_threshold) for losses in runs["step_loss"]]
    for column, source in (
        ("steps_to_threshold", "steps"),
        ("seconds_to_threshold", "step_seconds"),
    ):
        runs[column] = [
            math.nan if index is None else float(values[index])
            for index, values in zip(reached, runs[source])
        ]
    return runs


def _ordered(values, order: Sequence) -> list:
    """The distinct `values`, those in `order` first and in its order, then the rest sorted."""
    distinct = set(values)
    return [v for v in order if v in distinct] + sorted(distinct - set(order), key=str)


def _groups(runs: pd.DataFrame):
    """(optimizer, learning rate, normalization, runs) per setting, in reading order."""
    for optimizer in _ordered(runs["optimizer"], _OPTIMIZER_ORDER):
        of_optimizer = runs[runs["optimizer"] == optimizer]
        for rate in sorted(set(of_optimizer["learning_rate"])):
            at_rate = of_optimizer[of_optimizer["learning_rate"] == rate]
            for normalization in _ordered(at_rate["normalization"], NORMALIZATIONS):
                yield (
                    optimizer,
                    rate,
                    normalization,
                    at_rate[at_rate["normalization"] == normalization],
                )


def _interval(values) -> Interval:
    finite = [value for value in values if math.isfinite(value)]
    return mean_interval(finite) if finite else Interval(math.nan, math.nan, 0)


def summarize_regimes(runs: pd.DataFrame, loss_threshold: float) -> pd.DataFrame:
    """One row per optimizer, learning rate and normalization, summed up over seeds.

    Columns: `optimizer`, `learning_rate`, `normalization`, `n` (seeds); for `val_accuracy`,
    `final_loss`, `steps_to_threshold` and `seconds_to_threshold` the `_mean` and `_ci95`
    (half-width of the 95% Student t interval; NaN with fewer than two values); `diverged`
    (runs whose final training loss is not finite, left out of `final_loss`) and `reached`
    (runs that reached `loss_threshold`, the only ones in the `_to_threshold` columns).

    Example:

    >>> summary = summarize_regimes(load_regime_runs("runs/regimes"), loss_threshold=1.8)
    >>> summary[["optimizer", "learning_rate", "normalization", "val_accuracy_mean"]]
    """
    runs = _with_threshold(runs, loss_threshold)
    rows = []
    for optimizer, rate, normalization, group in _groups(runs):
        row = {"optimizer": optimizer, "learning_rate": rate, "normalization": normalization}
        row["n"] = len(group)
        measures = {
            "val_accuracy": group["final_val_accuracy"],
            "final_loss": group["final_loss"],
            "steps_to_threshold": group["steps_to_threshold"],
            "seconds_to_threshold": group["seconds_to_threshold"],
        }
        for name, values in measures.items():
            interval = _interval(values.astype(float))
            row[f"{name}_mean"], row[f"{name}_ci95"] = interval.mean, interval.half_width
        row["diverged"] = int((~np.isfinite(group["final_loss"].astype(float))).sum())
        row["reached"] = int(group["steps_to_threshold"].notna().sum())
        rows.append(row)
    return pd.DataFrame(rows)


def summary_table(summary: pd.DataFrame) -> pd.DataFrame:
    """`summarize_regimes` as a readable table: `mean ± 95% CI` per measure, labels spelled out.

    Example:

    >>> summary_table(summarize_regimes(load_regime_runs("runs/regimes"), 1.8))
    """
    table = pd.DataFrame(
        {
            "optimizer": summary["optimizer"].map(lambda name: OPTIMIZER_LABELS.get(name, name)),
            "learning rate": summary["learning_rate"].map(lambda rate: f"{rate:g}"),
            "normalization": summary["normalization"].map(NORMALIZATION_LABELS.get),
            "n": summary["n"],
        }
    )
    for name, (label, spec) in _MEASURES.items():
        table[f"{label} (mean ± 95% CI)"] = [
            "-" if math.isnan(mean) else Interval(mean, ci, 0).format(spec)
            for mean, ci in zip(summary[f"{name}_mean"], summary[f"{name}_ci95"])
        ]
    table["diverged"] = summary["diverged"].astype(str) + "/" + summary["n"].astype(str)
    table["reached threshold"] = summary["reached"].astype(str) + "/" + summary["n"].astype(str)
    return table


# --- figures -------------------------------------------------------------------------------


def _color(normalization: str) -> str:
    return RUN_COLORS[NORMALIZATION_RUNS[normalization]]


def _transparent(color: str, alpha: float = 0.15) -> str:
    red, green, blue = plotly.colors.hex_to_rgb(color)
    return f"rgba({red}, {green}, {blue}, {alpha})"


def _grid_figure(summary: pd.DataFrame, rows: Sequence[tuple[str, str]], title: str) -> go.Figure:
    """One column per optimizer, one row per (measure, axis title); x: learning rate (log)."""
    optimizers = _ordered(summary["optimizer"], _OPTIMIZER_ORDER)
    figure = make_subplots(
        rows=len(rows),
        cols=len(optimizers),
        shared_xaxes=True,
        column_titles=[OPTIMIZER_LABELS.get(name, name) for name in optimizers],
        horizontal_spacing=0.06,
        vertical_spacing=0.08,
    )
    for column, optimizer in enumerate(optimizers, start=1):
        of_optimizer = summary[summary["optimizer"] == optimizer]
        for row, (measure, _) in enumerate(rows, start=1):
            for normalization in _ordered(of_optimizer["normalization"], NORMALIZATIONS):
                points = of_optimizer[of_optimizer["normalization"] == normalization]
                figure.add_scatter(
                    x=points["learning_rate"],
                    y=points[f"{measure}_mean"],
                    error_y={"type": "data", "array": points[f"{measure}_ci95"]},
                    customdata=np.stack([points["n"], points["reached"], points["diverged"]], -1),
                    hovertemplate=(
                        "lr %{x:g}: %{y:.4g} ± %{error_y.array:.3g}<br>n=%{customdata[0]}, "
                        "reached %{customdata[1]}, diverged %{customdata[2]}<extra></extra>"
                    ),
                    mode="lines+markers",
                    name=NORMALIZATION_LABELS.get(normalization, normalization),
                    legendgroup=normalization,
                    showlegend=row == 1 and column == 1,
                    line={"color": _color(normalization)},
                    row=row,
                    col=column,
                )
    for row, (_, axis_title) in enumerate(rows, start=1):
        figure.update_yaxes(title_text=axis_title, row=row, col=1)
    rates = sorted(set(summary["learning_rate"]))
    figure.update_xaxes(type="log", tickvals=rates, ticktext=[f"{rate:g}" for rate in rates])
    figure.update_xaxes(title_text="learning rate", row=len(rows))
    figure.update_layout(
        title=title, template="plotly_white", height=300 * len(rows) + 120, hovermode="closest"
    )
    return figure


def sensitivity_figure(summary: pd.DataFrame) -> go.Figure:
    """Final validation accuracy and training loss against the learning rate: one column per
    optimizer, one curve per normalization, error bars the 95% intervals over seeds.

    Example:

    >>> sensitivity_figure(summarize_regimes(load_regime_runs("runs/regimes"), 1.8)).show()
    """
    figure = _grid_figure(
        summary,
        [("val_accuracy", "final val accuracy"), ("final_loss", "final training loss")],
        "Learning-rate sensitivity: mean ± 95% CI over seeds",
    )
    figure.update_yaxes(type="log", row=2)
    return figure


def speed_figure(summary: pd.DataFrame, loss_threshold: float | None = None) -> go.Figure:
    """Steps and seconds until the training loss first reaches the threshold, against the
    learning rate: mean ± 95% CI over the runs that reached it (a missing point: none did).

    Example:

    >>> speed_figure(summarize_regimes(load_regime_runs("runs/regimes"), 1.8), 1.8).show()
    """
    reach = "" if loss_threshold is None else f" {loss_threshold:g}"
    figure = _grid_figure(
        summary,
        [("steps_to_threshold", "steps"), ("seconds_to_threshold", "seconds")],
        f"Speed: steps and seconds until the training loss reaches{reach} (runs that did)",
    )
    figure.update_yaxes(type="log")
    return figure


def loss_curves_figure(runs: pd.DataFrame, loss_threshold: float | None = None) -> go.Figure:
    """Training loss against optimizer steps, both axes logarithmic: the mean over seeds with
    a band of its 95% interval, one column per optimizer, one curve per normalization; a
    slider picks the learning rate.

    Example:

    >>> loss_curves_figure(load_regime_runs("runs/regimes"), loss_threshold=1.8).show()
    """
    optimizers = _ordered(runs["optimizer"], _OPTIMIZER_ORDER)
    rates = sorted(set(runs["learning_rate"]))
    figure = make_subplots(
        rows=1,
        cols=len(optimizers),
        shared_yaxes=True,
        column_titles=[OPTIMIZER_LABELS.get(name, name) for name in optimizers],
        horizontal_spacing=0.04,
    )
    rate_of_trace = []
    for optimizer, rate, normalization, group in _groups(runs):
        steps, mean, half_width = _mean_curve(group)
        if steps.size == 0:
            continue
        column = optimizers.index(optimizer) + 1
        color = _color(normalization)
        label = NORMALIZATION_LABELS.get(normalization, normalization)
        figure.add_scatter(
            x=np.concatenate([steps, steps[::-1]]),
            y=np.concatenate([mean + half_width, (mean - half_width)[::-1]]),
            fill="toself",
            fillcolor=_transparent(color),
            line={"width": 0},
            hoverinfo="skip",
            legendgroup=normalization,
            showlegend=False,
            row=1,
            col=column,
        )
        figure.add_scatter(
            x=steps,
            y=mean,
            customdata=half_width,
            name=label,
            legendgroup=normalization,
            showlegend=column == 1,
            line={"color": color},
            hovertemplate=f"{label}<br>step %{{x}}: %{{y:.4f}} ± %{{customdata:.4f}}"
            "<extra></extra>",
            row=1,
            col=column,
        )
        rate_of_trace += [rate, rate]
    shown = rates[len(rates) // 2] if rates else None
    for trace, rate in zip(figure.data, rate_of_trace):
        trace.visible = rate == shown
    figure.update_layout(
        sliders=[
            {
                "active": rates.index(shown) if rates else 0,
                "currentvalue": {"prefix": "learning rate: "},
                "steps": [
                    {
                        "label": f"{rate:g}",
                        "method": "restyle",
                        "args": [{"visible": [r == rate for r in rate_of_trace]}],
                    }
                    for rate in rates
                ],
            }
        ],
        title="Training loss: mean ± 95% CI over seeds (log-log)",
        template="plotly_white",
        height=480,
    )
    figure.update_xaxes(type="log", title_text="step")
    figure.update_yaxes(type="log")
    figure.update_yaxes(title_text="training loss", col=1)
    if loss_threshold is not None:
        figure.add_hline(y=loss_threshold, line={"dash": "dot", "color": "gray"})
    return figure


def _mean_curve(group: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps, mean loss and 95% half-width over the group's runs, on their common steps."""
    length = min((len(steps) for steps in group["steps"]), default=0)
    if length == 0:
        return np.array([]), np.array([]), np.array([])
    losses = np.stack([loss[:length] for loss in group["step_loss"]])
    intervals = [mean_interval(column) for column in losses.T]
    mean = np.array([interval.mean for interval in intervals])
    half_width = np.array([interval.half_width for interval in intervals])
    return group["steps"].iloc[0][:length], mean, np.nan_to_num(half_width)


# --- the verdict ---------------------------------------------------------------------------


def _compare(a: Sequence[float], b: Sequence[float]) -> tuple[str, Interval]:
    """ "higher", "lower" or "" (no difference shown) for mean(a) - mean(b), with its interval.

    Non-finite values (diverged runs) are left out.
    """
    a = [value for value in a if math.isfinite(value)]
    b = [value for value in b if math.isfinite(value)]
    if not a or not b:
        return "", Interval(math.nan, math.nan, 0)
    difference = difference_interval(a, b)
    if not difference.excludes_zero:
        return "", difference
    return ("higher" if difference.mean > 0 else "lower"), difference


def _values(runs: pd.DataFrame, optimizer: str, rate: float, normalization: str, column: str):
    chosen = runs[
        (runs["optimizer"] == optimizer)
        & (runs["learning_rate"] == rate)
        & (runs["normalization"] == normalization)
    ]
    return chosen[column].astype(float).tolist()


def accuracy_differences(runs: pd.DataFrame) -> pd.DataFrame:
    """Final validation accuracy of each normalization minus the baseline's (no normalization),
    per optimizer and learning rate, with its 95% Welch interval.

    Columns: `optimizer`, `learning_rate`, `normalization`, `difference`, `ci95` and `shown`:
    `"higher"` or `"lower"` where the interval excludes zero, else `""`.

    Example:

    >>> accuracy_differences(load_regime_runs("runs/regimes")).query("shown != ''")
    """
    rows = []
    for optimizer, rate, normalization, group in _groups(runs):
        if normalization == BASELINE:
            continue
        baseline = _values(runs, optimizer, rate, BASELINE, "final_val_accuracy")
        if not baseline:
            continue
        shown, difference = _compare(group["final_val_accuracy"].astype(float), baseline)
        rows.append(
            {
                "optimizer": optimizer,
                "learning_rate": rate,
                "normalization": normalization,
                "difference": difference.mean,
                "ci95": difference.half_width,
                "shown": shown,
            }
        )
    columns = ["optimizer", "learning_rate", "normalization", "difference", "ci95", "shown"]
    return pd.DataFrame(rows, columns=columns)


def _rates(rates: Sequence[float]) -> str:
    return ", ".join(f"{rate:g}" for rate in rates) or "none"


def _capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def _accuracy_sentence(differences: pd.DataFrame, normalization: str) -> str:
    """At how many learning rates the final val accuracy is above or below the baseline's."""
    rows = differences[differences["normalization"] == normalization]
    counts, details = {}, {}
    for direction in ("higher", "lower"):
        chosen = rows[rows["shown"] == direction]
        counts[direction] = len(chosen)
        listed = "; ".join(
            f"{rate:g}: {Interval(mean, ci, 0).format('+.3f')}"
            for rate, mean, ci in zip(chosen["learning_rate"], chosen["difference"], chosen["ci95"])
        )
        details[direction] = f" ({listed})" if listed else ""
    unclear = int((rows["shown"] == "").sum())
    return (
        f"{NORMALIZATION_LABELS[normalization]} ends with a higher validation accuracy than "
        f"{NORMALIZATION_LABELS[BASELINE]} at {counts['higher']} of {len(rows)} learning rates"
        f"{details['higher']}, a lower one at {counts['lower']}{details['lower']}, and no "
        f"difference is shown at {unclear}."
    )


def _reaching_rates(summary: pd.DataFrame, optimizer: str, normalization: str) -> list[float]:
    """The learning rates at which every seed reached the loss threshold."""
    rows = summary[
        (summary["optimizer"] == optimizer) & (summary["normalization"] == normalization)
    ]
    return rows.loc[rows["reached"] == rows["n"], "learning_rate"].tolist()


def _robustness_sentence(summary: pd.DataFrame, optimizer: str, threshold: float) -> str:
    """At how many learning rates each normalization reached the threshold in every seed."""
    of_optimizer = summary[summary["optimizer"] == optimizer]
    total = of_optimizer["learning_rate"].nunique()
    parts = []
    for normalization in _ordered(of_optimizer["normalization"], NORMALIZATIONS):
        trained = _reaching_rates(summary, optimizer, normalization)
        parts.append(
            f"{NORMALIZATION_LABELS[normalization]} at {len(trained)} of {total} "
            f"({_rates(trained)})"
        )
    return (
        f"Learning rates at which every seed reached a training loss of {threshold:g}: "
        + "; ".join(parts)
        + "."
    )


def _fastest(summary: pd.DataFrame, optimizer: str, normalization: str) -> float | None:
    """The learning rate with the fewest mean steps to the threshold among those at which
    every seed reached it, or None."""
    rows = summary[
        (summary["optimizer"] == optimizer)
        & (summary["normalization"] == normalization)
        & (summary["reached"] == summary["n"])
    ]
    if rows.empty:
        return None
    return float(rows.loc[rows["steps_to_threshold_mean"].idxmin(), "learning_rate"])


def _speed_sentence(runs, summary, optimizer, normalization, threshold) -> str:
    label = NORMALIZATION_LABELS[normalization]
    baseline = NORMALIZATION_LABELS[BASELINE]
    ours, theirs = (_fastest(summary, optimizer, n) for n in (normalization, BASELINE))
    if ours is None:
        return f"{label} did not reach {threshold:g} in every seed at any learning rate."
    steps = _values(runs, optimizer, ours, normalization, "steps_to_threshold")
    seconds = _values(runs, optimizer, ours, normalization, "seconds_to_threshold")
    text = (
        f"At its fastest learning rate ({ours:g}) {label} reaches {threshold:g} in "
        f"{mean_interval(steps).format('.0f')} steps ({mean_interval(seconds).format('.1f')} s)"
    )
    if normalization == BASELINE:
        return f"{text}."
    if theirs is None:
        return f"{text}; {baseline} never did in every seed."
    their_steps = _values(runs, optimizer, theirs, BASELINE, "steps_to_threshold")
    shown, difference = _compare(steps, their_steps)
    against = f"against {mean_interval(their_steps).format('.0f')} for {baseline} (at {theirs:g})"
    if not shown:
        return f"{text}, {against}: no difference shown ({difference.format('+.0f')} steps)."
    fewer = "fewer" if shown == "lower" else "more"
    return f"{text}, {against}: {fewer} steps ({difference.format('+.0f')})."


def _in_short(differences: pd.DataFrame, summary: pd.DataFrame) -> list[str]:
    """One line per normalization: its accuracy differences and learning-rate range, counted
    over every optimizer."""
    lines = []
    optimizers = _ordered(summary["optimizer"], _OPTIMIZER_ORDER)
    for normalization in _ordered(differences["normalization"], NORMALIZATIONS):
        rows = differences[differences["normalization"] == normalization]
        higher, lower = ((rows["shown"] == word).sum() for word in ("higher", "lower"))
        ours, theirs = (
            sum(len(_reaching_rates(summary, optimizer, n)) for optimizer in optimizers)
            for n in (normalization, BASELINE)
        )
        range_word = "more" if ours > theirs else "fewer" if ours < theirs else "as many"
        lines.append(
            f"- {NORMALIZATION_LABELS[normalization]}: a higher final validation accuracy than "
            f"{NORMALIZATION_LABELS[BASELINE]} in {higher} of {len(rows)} settings (optimizer "
            f"and learning rate), a lower one in {lower}; it trained to the loss threshold at "
            f"{range_word} learning rates ({ours} against {theirs}, over all optimizers).\n"
        )
    return lines


def verdict(runs: pd.DataFrame, loss_threshold: float) -> str:
    """The comparison in plain words, as markdown: in short, then per optimizer.

    Every claim is computed: a normalization is called better or worse than none only where
    the 95% Welch interval of the difference excludes zero, and each such difference is
    printed with its interval. Nothing is said about settings that were not run.

    Example:

    >>> print(verdict(load_regime_runs("runs/regimes"), loss_threshold=1.8))
    """
    summary = summarize_regimes(runs, loss_threshold)
    runs = _with_threshold(runs, loss_threshold)
    differences = accuracy_differences(runs)
    seeds = summary["n"]
    count = f"{seeds.min()}" if seeds.min() == seeds.max() else f"{seeds.min()}–{seeds.max()}"
    lines = [f"**In short** ({count} seed{'s' if seeds.max() > 1 else ''} per setting):\n\n"]
    if seeds.min() < 2:
        lines.append("- With one seed there are no intervals, so no difference can be shown.\n")
    if differences.empty:
        lines.append(f"- No run with {NORMALIZATION_LABELS[BASELINE]} to compare with.\n")
    lines += _in_short(differences, summary)
    for optimizer in _ordered(runs["optimizer"], _OPTIMIZER_ORDER):
        of_optimizer = runs[runs["optimizer"] == optimizer]
        lines.append(f"\n**{OPTIMIZER_LABELS.get(optimizer, optimizer)}**\n\n")
        normalizations = _ordered(of_optimizer["normalization"], NORMALIZATIONS)
        mine = differences[differences["optimizer"] == optimizer]
        for normalization in normalizations:
            if normalization in set(mine["normalization"]):
                lines.append(f"- {_accuracy_sentence(mine, normalization)}\n")
        lines.append(f"- {_robustness_sentence(summary, optimizer, loss_threshold)}\n")
        for normalization in normalizations:
            speed = _speed_sentence(of_optimizer, summary, optimizer, normalization, loss_threshold)
            lines.append(f"- {_capitalized(speed)}\n")
    lines.append(
        '\nA difference is given as mean ± half-width of its 95% Welch interval; "no '
        'difference shown" means the interval includes zero. Steps and seconds to the '
        "threshold average over the runs that reached it."
    )
    return "".join(lines)
