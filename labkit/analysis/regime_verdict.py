"""The verdict of a regimes study: where a normalization differs from none.

Every claim is computed from the runs. A study compares many settings at once (15 settings x 3
normalizations against none in the full grid: 45 comparisons of final validation accuracy),
so at 95% each, about two differences would be "shown" by chance alone. The verdict therefore
calls a difference only where its Holm-Bonferroni adjusted p-value (`labkit.stats`: Welch's
t test, adjusted over the family of comparisons) is at most 5%: the chance of calling any
difference that is not there stays at 5% over the whole family. The final validation
accuracies form one family, the steps to the loss threshold another.

Example:

>>> runs = load_regime_runs("runs/regimes")
>>> accuracy_differences(runs).query("shown != ''")
>>> print(verdict(runs, loss_threshold=1.8))
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from labkit.analysis.regimes import (
    BASELINE,
    NORMALIZATION_LABELS,
    OPTIMIZER_LABELS,
    OPTIMIZER_ORDER,
    ordered,
    setting_groups,
    summarize_regimes,
    with_threshold,
)
from labkit.stats import (
    CONFIDENCE,
    Interval,
    difference_interval,
    difference_p_value,
    holm_adjusted,
    mean_interval,
)
from labkit.variants import NORMALIZATIONS

__all__ = ["CORRECTION", "accuracy_differences", "speed_differences", "verdict"]

# How the verdict controls for the number of comparisons, in words.
CORRECTION = "Holm-Bonferroni"
# The family-wise error rate: a difference is called where its adjusted p-value is at most this.
_ALPHA = 1 - CONFIDENCE
_DIFFERENCE_COLUMNS = ["difference", "ci95", "p", "p_holm", "shown"]


def _difference(a: Sequence[float], b: Sequence[float]) -> dict[str, float]:
    """mean(a) - mean(b), its 95% Welch half-width and Welch's p-value; diverged runs (values
    that are not finite) left out."""
    a = [value for value in a if math.isfinite(value)]
    b = [value for value in b if math.isfinite(value)]
    if not a or not b:
        return {"difference": math.nan, "ci95": math.nan, "p": math.nan}
    interval = difference_interval(a, b)
    return {"difference": interval.mean, "ci95": interval.half_width, "p": difference_p_value(a, b)}


def _called(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    """`rows` as a frame with `p_holm` (adjusted over all of them) and `shown`: `"higher"` or
    `"lower"` where `p_holm` <= 5%, else `""`."""
    frame = pd.DataFrame(rows, columns=[*columns, "difference", "ci95", "p"])
    frame["p_holm"] = holm_adjusted(frame["p"].to_numpy(float))
    called = frame["p_holm"].to_numpy(float) <= _ALPHA
    frame["shown"] = np.where(called, np.where(frame["difference"] > 0, "higher", "lower"), "")
    return frame[[*columns, *_DIFFERENCE_COLUMNS]]


def _values(runs: pd.DataFrame, optimizer: str, rate: float, normalization: str, column: str):
    chosen = runs[
        (runs["optimizer"] == optimizer)
        & (runs["learning_rate"] == rate)
        & (runs["normalization"] == normalization)
    ]
    return chosen[column].astype(float).tolist()


def accuracy_differences(runs: pd.DataFrame) -> pd.DataFrame:
    """Final validation accuracy of each normalization minus the baseline's (no normalization),
    per optimizer and learning rate: one family of comparisons.

    Columns: `optimizer`, `learning_rate`, `normalization`, `difference`, `ci95` (half-width
    of its 95% Welch interval), `p` (Welch's t test), `p_holm` (adjusted over every row) and
    `shown`: `"higher"` or `"lower"` where `p_holm` is at most 5%, else `""`.

    Example:

    >>> accuracy_differences(load_regime_runs("runs/regimes")).query("shown != ''")
    """
    rows = []
    for optimizer, rate, normalization, group in setting_groups(runs):
        baseline = _values(runs, optimizer, rate, BASELINE, "final_val_accuracy")
        if normalization == BASELINE or not baseline:
            continue
        rows.append(
            {
                "optimizer": optimizer,
                "learning_rate": rate,
                "normalization": normalization,
                **_difference(group["final_val_accuracy"].astype(float), baseline),
            }
        )
    return _called(rows, ["optimizer", "learning_rate", "normalization"])


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


def speed_differences(runs: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """Steps to the loss threshold of each normalization at its fastest learning rate minus the
    baseline's at its own, per optimizer: the second family of comparisons.

    `runs` must hold `steps_to_threshold` (`labkit.analysis.regimes.with_threshold`). Columns:
    `optimizer`, `normalization`, `rate`, `baseline_rate` and those of
    `accuracy_differences` (`shown` is `"lower"` for fewer steps).

    Example:

    >>> runs = with_threshold(load_regime_runs("runs/regimes"), 1.8)
    >>> speed_differences(runs, summarize_regimes(runs, 1.8))
    """
    rows = []
    for optimizer in ordered(summary["optimizer"], OPTIMIZER_ORDER):
        theirs = _fastest(summary, optimizer, BASELINE)
        of_optimizer = summary[summary["optimizer"] == optimizer]
        for normalization in ordered(of_optimizer["normalization"], NORMALIZATIONS):
            ours = _fastest(summary, optimizer, normalization)
            if normalization == BASELINE or ours is None or theirs is None:
                continue
            steps = _values(runs, optimizer, ours, normalization, "steps_to_threshold")
            their_steps = _values(runs, optimizer, theirs, BASELINE, "steps_to_threshold")
            rows.append(
                {
                    "optimizer": optimizer,
                    "normalization": normalization,
                    "rate": ours,
                    "baseline_rate": theirs,
                    **_difference(steps, their_steps),
                }
            )
    return _called(rows, ["optimizer", "normalization", "rate", "baseline_rate"])


def _rates(rates: Sequence[float]) -> str:
    return ", ".join(f"{rate:g}" for rate in rates) or "none"


def _capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def _with_p(mean: float, ci95: float, p_holm: float, spec: str) -> str:
    """`+0.102 ± 0.020, Holm p = 0.003`."""
    return f"{Interval(mean, ci95, 0).format(spec)}, Holm p = {p_holm:.2g}"


def _accuracy_sentence(differences: pd.DataFrame, normalization: str) -> str:
    """At how many learning rates the final val accuracy is above or below the baseline's."""
    rows = differences[differences["normalization"] == normalization]
    counts, details = {}, {}
    for direction in ("higher", "lower"):
        chosen = rows[rows["shown"] == direction]
        counts[direction] = len(chosen)
        listed = "; ".join(
            f"{rate:g}: {_with_p(mean, ci, p, '+.3f')}"
            for rate, mean, ci, p in zip(
                chosen["learning_rate"], chosen["difference"], chosen["ci95"], chosen["p_holm"]
            )
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
    for normalization in ordered(of_optimizer["normalization"], NORMALIZATIONS):
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


def _speed_sentence(runs, summary, speeds, optimizer, normalization, threshold) -> str:
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
    chosen = (speeds["optimizer"] == optimizer) & (speeds["normalization"] == normalization)
    row = speeds[chosen].iloc[0]
    against = f"against {mean_interval(their_steps).format('.0f')} for {baseline} (at {theirs:g})"
    if not row["shown"]:
        difference = Interval(row["difference"], row["ci95"], 0).format("+.0f")
        return f"{text}, {against}: no difference shown ({difference} steps)."
    fewer = "fewer" if row["shown"] == "lower" else "more"
    called = _with_p(row["difference"], row["ci95"], row["p_holm"], "+.0f")
    return f"{text}, {against}: {fewer} steps ({called})."


def _in_short(differences: pd.DataFrame, summary: pd.DataFrame) -> list[str]:
    """One line per normalization: its accuracy differences and learning-rate range, counted
    over every optimizer."""
    lines = []
    optimizers = ordered(summary["optimizer"], OPTIMIZER_ORDER)
    for normalization in ordered(differences["normalization"], NORMALIZATIONS):
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


def _correction_note(differences: pd.DataFrame, speeds: pd.DataFrame) -> str:
    """How the differences are called, with the size of each family."""
    accuracy, speed = (int(frame["p"].notna().sum()) for frame in (differences, speeds))
    return (
        f"\nDifferences are called with the {CORRECTION} correction for multiple comparisons: "
        f"over the {accuracy} comparison{'s' * (accuracy != 1)} of final validation accuracy, "
        f"and apart over the {speed} of steps to the threshold, the chance of calling any "
        "difference that is not there is at most 5% (a difference is called where its "
        "Holm-adjusted p-value of Welch's t test, `p_holm`, is at most 0.05). Each is given "
        "as mean ± half-width of its own 95% Welch interval, which does not account for the "
        'other comparisons; "no difference shown" means it was not called. Steps and seconds '
        "to the threshold average over the runs that reached it."
    )


def verdict(runs: pd.DataFrame, loss_threshold: float) -> str:
    """The comparison in plain words, as markdown: in short, then per optimizer.

    Every claim is computed: a normalization is called better or worse than none only where
    the Holm-Bonferroni adjusted p-value of the difference is at most 5% (see the module), and
    each such difference is printed with its 95% interval and adjusted p-value. Nothing is
    said about settings that were not run.

    Example:

    >>> print(verdict(load_regime_runs("runs/regimes"), loss_threshold=1.8))
    """
    summary = summarize_regimes(runs, loss_threshold)
    runs = with_threshold(runs, loss_threshold)
    differences = accuracy_differences(runs)
    speeds = speed_differences(runs, summary)
    seeds = summary["n"]
    count = f"{seeds.min()}" if seeds.min() == seeds.max() else f"{seeds.min()}–{seeds.max()}"
    lines = [
        f"**In short** ({count} seed{'s' if seeds.max() > 1 else ''} per setting; "
        f"{len(differences)} accuracy comparisons, {CORRECTION}-corrected):\n\n"
    ]
    if seeds.min() < 2:
        lines.append("- With one seed there are no intervals, so no difference can be shown.\n")
    if differences.empty:
        lines.append(f"- No run with {NORMALIZATION_LABELS[BASELINE]} to compare with.\n")
    lines += _in_short(differences, summary)
    for optimizer in ordered(runs["optimizer"], OPTIMIZER_ORDER):
        of_optimizer = runs[runs["optimizer"] == optimizer]
        lines.append(f"\n**{OPTIMIZER_LABELS.get(optimizer, optimizer)}**\n\n")
        normalizations = ordered(of_optimizer["normalization"], NORMALIZATIONS)
        mine = differences[differences["optimizer"] == optimizer]
        for normalization in normalizations:
            if normalization in set(mine["normalization"]):
                lines.append(f"- {_accuracy_sentence(mine, normalization)}\n")
        lines.append(f"- {_robustness_sentence(summary, optimizer, loss_threshold)}\n")
        for normalization in normalizations:
            speed = _speed_sentence(
                of_optimizer, summary, speeds, optimizer, normalization, loss_threshold
            )
            lines.append(f"- {_capitalized(speed)}\n")
    lines.append(_correction_note(differences, speeds))
    return "".join(lines)
