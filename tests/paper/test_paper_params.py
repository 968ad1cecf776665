"""labkit.paper.params and labkit.paper.backend: runs validated before any work."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from labkit.paper.backend import use_backend
from labkit.paper.params import PaperParams, paper_runs


def test_a_schedule_sets_epochs_and_data_unless_overridden():
    cpu = PaperParams(schedule="cpu")
    assert (cpu.epochs_to_run, cpu.train_images, cpu.test_images) == (4, 1000, 500)
    assert cpu.plan.decay_start == 2 and cpu.batch_size == 100 and cpu.init_examples == 500
    full = PaperParams(schedule="full")
    assert (full.epochs_to_run, full.train_images, full.test_images) == (200, 0, 0)
    custom = PaperParams(schedule="gpu", epochs=30, train_limit=0, test_limit=500)
    assert (custom.epochs_to_run, custom.plan.decay_start, custom.test_images) == (30, 15, 500)


def test_runs_are_named_after_their_normalization():
    runs = paper_runs("all", schedule="cpu", seed=3)
    assert [run.run_name for run in runs] == [
        "regular", "weightnorm", "batchnorm", "weightnorm_meanonly",
    ]  # fmt: skip
    assert {run.seed for run in runs} == {3}
    assert [run.normalization for run in paper_runs("batchnorm")] == ["batchnorm"]


def test_speed_settings_default_to_auto_as_every_labkit_run():
    params = PaperParams()
    assert (params.jit_compile, params.steps_per_execution) == ("auto", "auto")
    assert PaperParams(jit_compile=False, steps_per_execution=1).to_dict()["jit_compile"] is False


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"normalization": "layernorm"}, "Invalid value for `normalization`: expected one of"),
        ({"schedule": "fast"}, "`schedule`: expected one of 'cpu', 'gpu', 'full'"),
        ({"epochs": -1}, "`epochs`: expected an integer >= 0. Received: `epochs=-1`"),
        ({"train_limit": 5}, "`train_limit`: expected -1 \\(the schedule's\\), 0 \\(all\\)"),
        ({"batch_size": 0}, "`batch_size`: expected an integer >= 1"),
        ({"learning_rate": 0.0}, "`learning_rate`: expected a number in \\(0, 10\\]"),
        ({"seed": 2**32}, "`seed`: expected an integer in \\[0, 4294967295\\]"),
        ({"jit_compile": "yes"}, "`jit_compile`: expected 'auto', True or False"),
        ({"steps_per_execution": 0}, "`steps_per_execution`: expected 'auto' or an integer >= 1"),
        ({"epoch": 3}, "Unknown parameter `epoch`. Valid parameters: archive, batch_size"),
    ],
)
def test_bad_values_fail_with_one_line_naming_the_parameter(values, message):
    with pytest.raises(ValueError, match=message) as error:
        PaperParams.from_dict(values)
    assert "\n" not in str(error.value)


def test_notebook_values_are_checked_before_any_data(tmp_path):
    with pytest.raises(ValueError, match="`normalization`: expected one of .*'all'"):
        paper_runs("every")
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(ValueError, match="`output_dir`: expected a folder"):
        paper_runs("all", output_dir=str(blocked / "runs"))


def test_the_backend_is_chosen_before_keras_loads():
    """`use_backend` sets `KERAS_BACKEND` in a fresh process, and refuses a change afterwards."""
    code = (
        "from labkit.paper.backend import use_backend\n"
        "import os, sys\n"
        "print(use_backend('jax'), os.environ['KERAS_BACKEND'], 'keras' in sys.modules)\n"
        "import keras\n"
        "print(keras.backend.backend())\n"
        "try:\n"
        "    use_backend('torch')\n"
        "except ValueError as error:\n"
        "    print(error)\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"}
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout.splitlines()
    assert output[0] == "jax jax False" and output[1] == "jax"
    assert output[2].startswith("Invalid value for `backend`: expected 'jax' (Keras is already")


def test_an_unknown_backend_fails_with_one_line():
    with pytest.raises(ValueError, match="`backend`"):
        use_backend("mxnet")
