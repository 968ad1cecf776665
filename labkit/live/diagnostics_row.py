"""The look of the live figure's diagnostics row: a colour per layer, a dash per run.

Series named `wn/<layer>/<quantity>` hold the weight-norm diagnostics that
`labkit.live.diagnostics` measures. `FigureSpec` draws them as a second row of three subplots
(`DIAGNOSTIC_QUANTITIES`): each layer in one colour, the same in the three; one legend entry per
layer, with a readable name (`layer_labels`: `conv 1`, `conv 2`, `dense 1`, ...), in a legend of
its own beside the row; several runs told apart by dash; hovering a point shows the run, the
layer, the quantity and its value.

Example:

>>> layer_labels(["conv2d", "conv2d_1", "dense"])
{'conv2d': 'conv 1', 'conv2d_1': 'conv 2', 'dense': 'dense 1'}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import plotly.colors

from labkit.live.history import MetricHistory, Series

__all__ = [
    "DIAGNOSTICS_PREFIX",
    "DIAGNOSTIC_QUANTITIES",
    "layer_labels",
    "diagnostic_layers",
    "diagnostic_style",
    "diagnostics_legend_title",
]

DIAGNOSTICS_PREFIX = "wn/"
# Each quantity's subplot title and y-axis type.
DIAGNOSTIC_QUANTITIES = {
    "v_norm": ("‖v‖ (mean over units)", "linear"),
    "g_mean": ("mean g", "linear"),
    "effective_step": ("effective step ‖Δw‖/‖w‖", "log"),
}
_LAYER_COLORS = plotly.colors.qualitative.Dark2
# Plotly's dash of each run in turn, and how the legend's title words it.
_RUN_DASHES = {"solid": "solid", "dash": "dashed", "dot": "dotted", "dashdot": "dash-dotted"}
# What `layer_labels` calls the layers Keras names automatically, by the name's stem.
_LAYER_KINDS = {
    **{f"conv{d}d": "conv" for d in (1, 2, 3)},
    **{f"conv{d}d_transpose": "conv transpose" for d in (1, 2, 3)},
    "dense": "dense",
    "simple_rnn": "rnn",
    "gru": "gru",
    "lstm": "lstm",
}


def layer_labels(layers: Sequence[str]) -> dict[str, str]:
    """Readable names for weight-normalized layers, numbered in model order by kind.

    Keras' automatic names (`conv2d`, `conv2d_1`, `dense`, ... as
    `labkit.live.diagnostics.stable_names` gives them) become `conv 1`, `conv 2`, `dense 1`;
    names given by hand are kept.

    Example:

    >>> layer_labels(["conv2d", "conv2d_1", "dense", "head"])
    {'conv2d': 'conv 1', 'conv2d_1': 'conv 2', 'dense': 'dense 1', 'head': 'head'}
    """
    counts: dict[str, int] = {}
    labels = {}
    for layer in layers:
        stem, _, number = layer.rpartition("_")
        kind = _LAYER_KINDS.get(stem if number.isdigit() else layer)
        if kind is None:
            labels[layer] = layer
            continue
        counts[kind] = counts.get(kind, 0) + 1
        labels[layer] = f"{kind} {counts[kind]}"
    return labels


def diagnostic_layers(series: Mapping[str, Series]) -> list[str]:
    """The weight-normalized layers a run has diagnostics of, in the order they were added.

    Example:

    >>> diagnostic_layers(history.runs["weightnorm"].series)
    ['conv2d', 'conv2d_1', 'dense', 'dense_1', 'dense_2']
    """
    names = [name[len(DIAGNOSTICS_PREFIX) :].rsplit("/", 1)[0] for name in series]
    prefixed = [name for name, full in zip(names, series) if full.startswith(DIAGNOSTICS_PREFIX)]
    return list(dict.fromkeys(prefixed))


def _diagnosed_runs(history: MetricHistory) -> list[str]:
    """The runs that have diagnostics, in figure order."""
    return [name for name, run in history.runs.items() if diagnostic_layers(run.series)]


def diagnostic_style(
    history: MetricHistory, run: str, series: str, run_label: Callable[[str], str], x_hover: str
) -> dict:
    """Everything of a diagnostics trace except its points; `legend2` holds its entry.

    The legend entry stands for the layer in every run: only the first run that has the
    layer shows it, in the first quantity's subplot, and it toggles the layer everywhere.

    Example:

    >>> diagnostic_style(history, "weightnorm", "wn/dense/v_norm", str, "step %{x}")["name"]
    'dense 1'
    """
    layer, quantity = series[len(DIAGNOSTICS_PREFIX) :].rsplit("/", 1)
    layers = diagnostic_layers(history.runs[run].series)
    name = layer_labels(layers)[layer]
    runs = _diagnosed_runs(history)
    first = next(r for r in runs if layer in diagnostic_layers(history.runs[r].series))
    axis = len(history.metrics) + 1 + list(DIAGNOSTIC_QUANTITIES).index(quantity)
    axes = {"xaxis": f"x{axis}", "yaxis": f"y{axis}"}
    return {
        "type": "scatter",
        "mode": "lines+markers",
        "marker": {"size": 4},
        "name": name,
        "legend": "legend2",
        "legendgroup": f"layer/{name}",
        "showlegend": run == first and quantity == next(iter(DIAGNOSTIC_QUANTITIES)),
        "line": {
            "color": _LAYER_COLORS[layers.index(layer) % len(_LAYER_COLORS)],
            "dash": list(_RUN_DASHES)[runs.index(run) % len(_RUN_DASHES)],
            "width": 1.5,
        },
        **axes,
        "hovertemplate": f"{run_label(run)} · {name}<br>{x_hover}<br>"
        f"{DIAGNOSTIC_QUANTITIES[quantity][0]} %{{y:.4g}}<extra></extra>",
    }


def diagnostics_legend_title(history: MetricHistory, run_label: Callable[[str], str]) -> str:
    """`"layers"`, and which dash is which run when several runs have diagnostics.

    Example:

    >>> diagnostics_legend_title(history, {"weightnorm": "WeightNorm ConvNet"}.get)
    'layers'
    """
    runs = _diagnosed_runs(history)
    if len(runs) < 2:
        return "layers"
    dashes = list(_RUN_DASHES.values())
    key = ", ".join(
        f"{dashes[index % len(dashes)]}: {run_label(run)}" for index, run in enumerate(runs)
    )
    return f"layers<br><sup>{key.replace(', ', '<br>')}</sup>"
