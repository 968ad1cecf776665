"""labkit.plotting.elements: the band, sliders, switch and fills the figures share."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from labkit.plotting.elements import axis_type_switch, band, band_y, restyle_slider, transparent


@pytest.mark.parametrize("color", ["#1f77b4", "rgb(31, 119, 180)", "rgb(31,119,180)"])
def test_every_colour_notation_becomes_the_same_transparent_fill(color):
    assert transparent(color, alpha=0.3) == "rgba(31, 119, 180, 0.3)"


def test_a_band_runs_along_its_upper_edge_and_back_along_its_lower_edge():
    x, center, half = np.array([1, 2, 3]), np.array([1.0, 2.0, 3.0]), np.array([0.5, 1.0, 0.0])

    trace = band(x, center, half, "#d62728", legendgroup="regular")

    assert list(trace.x) == [1, 2, 3, 3, 2, 1]
    assert list(trace.y) == list(band_y(center, half)) == [1.5, 3.0, 3.0, 3.0, 1.0, 0.5]
    assert trace.fill == "toself" and trace.fillcolor == "rgba(214, 39, 40, 0.15)"
    assert trace.showlegend is False and trace.legendgroup == "regular"


def test_a_restyle_slider_and_a_log_switch_are_valid_plotly_layout():
    slider = restyle_slider(
        "rate: ", {"0.1": {"visible": [True, False]}, "1": {"visible": [False, True]}}, 1, x=0
    )
    switch = axis_type_switch(log=True, x=1)

    layout = go.Figure(layout={"sliders": [slider], "updatemenus": [switch]}).layout
    assert [step.label for step in layout.sliders[0].steps] == ["0.1", "1"]
    assert layout.sliders[0].steps[1].args == ({"visible": [False, True]},)
    assert layout.sliders[0].active == 1 and layout.sliders[0].currentvalue.prefix == "rate: "
    assert [button.args[0] for button in layout.updatemenus[0].buttons] == [
        {"yaxis.type": "linear"},
        {"yaxis.type": "log"},
    ]
    assert layout.updatemenus[0].active == 1
