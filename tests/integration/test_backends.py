"""Runs the weight-norm and per-step-value tests under the JAX and PyTorch backends too.

Keras picks its backend once per process, so each backend gets its own pytest subprocess;
together with the in-process run on TensorFlow, one `python -m pytest` covers all three.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Everything whose behaviour must not depend on the backend.
MODULES = [
    "tests/test_weightnorm.py",
    "tests/test_weightnorm_kernels.py",
    "tests/test_weightnorm_models.py",
    "tests/test_keras_compat.py",
    "tests/test_tfa_init.py",
    "tests/test_tfa_lockstep.py",
    "tests/test_batches.py",
    "tests/test_meanonly.py",
    "tests/test_models.py",
    "tests/test_per_step_values.py",
    "tests/test_steps_per_execution.py",
    "tests/paper/test_paper_optimizer.py",
]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_weightnorm_module_passes_on_backend(backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"`{backend}` is not installed")
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *MODULES, "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, (
        f"{MODULES} failed under KERAS_BACKEND={backend}:\n{result.stdout}\n{result.stderr}"
    )
