"""One-line progress of the runs in a `MetricHistory`: epoch, batch, elapsed, ETA, best val."""

from __future__ import annotations

from labkit.live.history import MetricHistory, RunHistory

__all__ = ["format_duration", "run_progress", "progress_line"]


def format_duration(seconds: float | None) -> str:
    """Seconds as `m:ss` or `h:mm:ss`; `"?"` when unknown.

    Example:

    >>> format_duration(3725.2)
    '1:02:05'
    """
    if seconds is None:
        return "?"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def run_progress(run: RunHistory, label: str, best_metric: str = "val_accuracy") -> str:
    """Where one run stands, e.g. `'Regular ConvNet: epoch 2/10, batch 40/63, 0:12, ETA 1:03'`.

    Example:

    >>> run_progress(history.runs["regular"], "Regular ConvNet")
    """
    best = run.best(best_metric)
    best_text = f", best {best_metric} {best:.4f}" if best is not None else ""
    if run.state != "running":
        return f"{label}: {run.state} after {format_duration(run.elapsed)}{best_text}"
    epoch = min(run.epoch + 1, run.epochs or run.epoch + 1)
    parts = [f"epoch {epoch}/{run.epochs or '?'}"]
    if run.steps:
        parts.append(f"batch {run.batches_done}/{run.steps}")
    parts.append(f"{format_duration(run.elapsed)} elapsed")
    parts.append(f"ETA {format_duration(run.eta)}")
    return f"{label}: {', '.join(parts)}{best_text}"


def progress_line(
    history: MetricHistory, labels: dict[str, str] | None = None, separator: str = " · "
) -> str:
    """The progress of every run in `history`, joined with `separator`.

    Example:

    >>> progress_line(history, {"regular": "Regular ConvNet"})
    'Regular ConvNet: completed after 0:41, best val_accuracy 0.5120'
    """
    labels = labels or {}
    best_metric = next(
        (f"val_{m}" for m in history.metrics if "acc" in m), f"val_{history.metrics[0]}"
    )
    return separator.join(
        run_progress(run, labels.get(name, name), best_metric) for name, run in history.runs.items()
    )
