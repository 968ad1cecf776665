"""`labkit.speed` and the parameters that reach it: `"auto"` resolved per backend and CPU,
explicit values passed through, bad values refused in one line before anything trains."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from labkit import speed
from labkit.controls import ControlPanel
from labkit.notebook_contract import NOTEBOOK_DEFAULTS, notebook_runs
from labkit.params import ExperimentParams
from labkit.search.space import parse_dimension
from labkit.speed import (
    AUTO_STEPS_PER_EXECUTION,
    MULTI_STEP_MIN_STEPS,
    XLA_MIN_STEPS,
    Speed,
    resolve_speed,
)
from labkit.sweep import notebook_parameters
from labkit.sweep.parameters import parse_value

NOTEBOOK = "notebooks/weight_norm.ipynb"


@pytest.fixture
def machine(monkeypatch):
    """Pretends to be a backend on a CPU with or without oneDNN, or with an accelerator."""

    def pretend(backend: str, onednn: bool = True, accelerator: bool = False) -> None:
        monkeypatch.setattr(speed, "_backend", lambda: backend)
        monkeypatch.setattr(speed, "tensorflow_uses_onednn", lambda: onednn)
        monkeypatch.setattr(speed, "_tensorflow_has_accelerator", lambda: accelerator)

    return pretend


@pytest.mark.parametrize(
    ("backend", "onednn", "accelerator", "steps", "expected"),
    [
        # oneDNN's CPU kernels beat XLA's CPU code: multi-step only.
        ("tensorflow", True, False, 15_630, Speed(False, AUTO_STEPS_PER_EXECUTION)),
        # Eigen's kernels: XLA pays on a long run, not on a short one (compile time).
        ("tensorflow", False, False, XLA_MIN_STEPS, Speed(True, AUTO_STEPS_PER_EXECUTION)),
        ("tensorflow", False, False, XLA_MIN_STEPS - 1, Speed(False, AUTO_STEPS_PER_EXECUTION)),
        # A short run (a quick panel run) keeps one step per call: the 32-step loop's
        # tracing would cost about what it saves, and delay the first drawn point.
        ("tensorflow", True, False, MULTI_STEP_MIN_STEPS - 1, Speed(False, 1)),
        ("tensorflow", True, True, 10, Speed(True, 1)),
        ("jax", True, False, MULTI_STEP_MIN_STEPS, Speed(True, AUTO_STEPS_PER_EXECUTION)),
        ("torch", True, False, 15_630, Speed(False, 1)),
    ],
)
def test_auto_resolves_to_what_measured_fastest(
    machine, backend, onednn, accelerator, steps, expected
):
    machine(backend, onednn, accelerator)
    assert resolve_speed("auto", "auto", steps=steps) == expected


def test_explicit_values_pass_through(machine):
    machine("tensorflow")
    assert resolve_speed(True, 7, steps=1) == Speed(True, 7)
    assert resolve_speed(False, "auto", steps=MULTI_STEP_MIN_STEPS).compile_arguments() == {
        "jit_compile": False,
        "steps_per_execution": AUTO_STEPS_PER_EXECUTION,
    }


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("jit_compile", "yes", "'auto', True or False"),
        ("jit_compile", 1, "'auto', True or False"),
        ("steps_per_execution", 0, "'auto' or an integer >= 1"),
        ("steps_per_execution", 2.0, "'auto' or an integer >= 1"),
        ("steps_per_execution", True, "'auto' or an integer >= 1"),
        ("steps_per_execution", "fast", "'auto' or an integer >= 1"),
    ],
)
def test_bad_values_fail_in_one_line_naming_the_parameter(name, value, allowed):
    with pytest.raises(ValueError) as error:
        ExperimentParams(**{name: value})
    message = str(error.value)
    assert "\n" not in message
    assert f"`{name}`" in message and allowed in message
    assert f"Received: `{name}={value!r}`" in message


def test_pytorch_refuses_several_steps_per_execution_before_training(machine):
    machine("torch")
    with pytest.raises(ValueError, match=r"`steps_per_execution`.*1 on the PyTorch backend"):
        notebook_runs({"steps_per_execution": 8})
    assert ExperimentParams(steps_per_execution=1).steps_per_execution == 1


def test_defaults_reach_notebook_panel_and_sweeps():
    assert NOTEBOOK_DEFAULTS["jit_compile"] == "auto"
    assert NOTEBOOK_DEFAULTS["steps_per_execution"] == "auto"
    types = notebook_parameters(NOTEBOOK)
    assert types["jit_compile"] == "bool | str"
    assert types["steps_per_execution"] == "int | str"
    # A union takes the first type the value parses as, from the command line or YAML.
    assert parse_value("jit_compile", "true", types["jit_compile"]) is True
    assert parse_value("jit_compile", "auto", types["jit_compile"]) == "auto"
    assert parse_value("steps_per_execution", "16", types["steps_per_execution"]) == 16
    assert parse_value("steps_per_execution", 16, types["steps_per_execution"]) == 16
    with pytest.raises(ValueError, match=r"expected an int or a str\. Received"):
        parse_value("steps_per_execution", 1.5, types["steps_per_execution"])
    # A search may draw steps_per_execution from an integer range.
    dimension = parse_dimension("steps_per_execution", {"type": "int", "low": 1, "high": 64})
    dimension.check_kind(types["steps_per_execution"])
    with pytest.raises(ValueError, match="`type: categorical` for a parameter of type bool"):
        parse_dimension("jit_compile", {"type": "int", "low": 0, "high": 1}).check_kind(
            types["jit_compile"]
        )


def test_panel_has_an_advanced_row_that_reaches_the_runs():
    panel = ControlPanel({"epochs": 2, "train_limit": 2000}, mode="off")
    assert panel.values()["jit_compile"] == "auto"
    panel.controls["jit_compile"].value = False
    panel.controls["steps_per_execution"].value = 8
    assert {(run.jit_compile, run.steps_per_execution) for run in panel.runs()} == {(False, 8)}
    # A value the dropdown would show as another one (1 for True) is refused, not changed.
    with pytest.raises(ValueError, match="`jit_compile`"):
        ControlPanel({"jit_compile": 1}, mode="off")
    panel = ControlPanel({"steps_per_execution": 0}, mode="off")
    panel.train()
    assert panel.controller.error and "`steps_per_execution`" in panel.message


def test_onednn_is_read_from_tensorflow():
    code = "from labkit.speed import tensorflow_uses_onednn as f; print(f())"
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.stdout.strip().splitlines()[-1] == "False", result.stderr[-2000:]
