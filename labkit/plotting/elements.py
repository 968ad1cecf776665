"""The plotly pieces several labkit figures share: bands, sliders, a log switch, fills.

A band is the filled area between `center - half_width` and `center + half_width` (a std, or
the half-width of a 95% interval), drawn as one closed trace behind its curve. A restyle slider
switches what the traces show (their `y`, or which are visible) in the browser alone, so it
works in an HTML file or a notebook without a kernel, as does the linear/log switch.

Example:

>>> figure = go.Figure(band(epochs, mean, std, color="#d62728", legendgroup="regular"))
>>> figure.update_layout(sliders=[restyle_slider("smoothing: ", {"0": {"y": [...]}}, 0)])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.colors
import plotly.graph_objects as go

__all__ = ["transparent", "band", "band_y", "restyle_slider", "axis_type_switch"]


def transparent(color: str, alpha: float = 0.15) -> str:
    """`color` (hex, `rgb(...)` or a CSS name plotly knows) as `rgba(...)` with `alpha`.

    Example:

    >>> transparent("#1f77b4")
    'rgba(31, 119, 180, 0.15)'
    """
    rgb = plotly.colors.convert_colors_to_same_type(color, colortype="rgb")[0][0]
    red, green, blue = plotly.colors.unlabel_rgb(rgb)
    return f"rgba({red:g}, {green:g}, {blue:g}, {alpha})"


def band_y(center: np.ndarray, half_width: np.ndarray) -> np.ndarray:
    """The y values of a band: along its upper edge, then back along its lower edge.

    Example:

    >>> band_y(np.array([1.0, 2.0]), np.array([0.5, 0.5])).tolist()
    [1.5, 2.5, 1.5, 0.5]
    """
    center, half_width = np.asarray(center, float), np.asarray(half_width, float)
    return np.concatenate([center + half_width, (center - half_width)[::-1]])


def band(
    x: Sequence[float], center: np.ndarray, half_width: np.ndarray, color: str, legendgroup: str
) -> go.Scatter:
    """The filled band `center ± half_width` over `x`, in a faint `color`, without legend or
    hover: it goes with the curve of the same `legendgroup` (hiding the curve hides it).

    Example:

    >>> figure.add_trace(band(steps, mean, half_width, "#1f77b4", "weightnorm"), row=1, col=1)
    """
    x = np.asarray(x)
    return go.Scatter(
        x=np.concatenate([x, x[::-1]]),
        y=band_y(center, half_width),
        fill="toself",
        fillcolor=transparent(color),
        line={"width": 0},
        hoverinfo="skip",
        legendgroup=legendgroup,
        showlegend=False,
    )


def restyle_slider(
    prefix: str, steps: Mapping[str, dict[str, Any]], active: int, **placement: Any
) -> dict[str, Any]:
    """A slider whose steps restyle the figure's traces: `steps` maps each step's label to the
    trace properties it sets (lists with one entry per trace, as plotly's `restyle` takes).

    Example:

    >>> restyle_slider("learning rate: ", {"0.01": {"visible": [True, False]},
    ...                                    "0.1": {"visible": [False, True]}}, active=0)
    """
    return {
        "active": active,
        "currentvalue": {"prefix": prefix},
        "steps": [
            {"label": label, "method": "restyle", "args": [properties]}
            for label, properties in steps.items()
        ],
        **placement,
    }


def axis_type_switch(log: bool, axis: str = "yaxis", **placement: Any) -> dict[str, Any]:
    """Buttons that switch an axis between linear and log (an entry of `updatemenus`).

    Example:

    >>> figure.update_layout(updatemenus=[axis_type_switch(log=False, x=1, xanchor="right")])
    """
    return {
        "type": "buttons",
        "direction": "right",
        "active": int(log),
        "buttons": [
            {"label": kind, "method": "relayout", "args": [{f"{axis}.type": kind}]}
            for kind in ("linear", "log")
        ],
        "showactive": True,
        **placement,
    }
