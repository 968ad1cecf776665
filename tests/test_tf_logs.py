"""labkit._tf_logs: TensorFlow's C++ log lines stay out of notebooks, unless the user asks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from labkit._tf_logs import LEVEL_ENV, kept_lines

ROOT = Path(__file__).resolve().parents[1]
START_UP = """a line of someone else's
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1796295276.467065   14569 port.cc:153] oneDNN custom operations are on.
I0000 00:00:1796295276.536365   14569 cpu_feature_guard.cc:227] This TensorFlow binary is optimized.
To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow.
W0000 00:00:1796295279.4 14569 some.cc:1] a warning
E0000 00:00:1796295285.642626   14716 cuda_platform.cc:52] failed call to cuInit: INTERNAL
"""


def test_the_level_drops_what_tensorflow_would_and_keeps_other_lines():
    assert kept_lines(START_UP, 3) == "a line of someone else's\n"
    assert kept_lines(START_UP, 2) == "a line of someone else's\n" + START_UP.splitlines(True)[-1]
    assert kept_lines(START_UP, 1).count("\n") == 4  # the banner and W and E lines stay
    assert kept_lines(START_UP, 0) == START_UP


def _import_tensorflow(level: str | None) -> tuple[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": "tensorflow"}
    env.pop(LEVEL_ENV, None)
    if level is not None:
        env[LEVEL_ENV] = level
    code = "import os, labkit, tensorflow as tf; tf.constant(1.0) + 1; print(os.environ['"
    code += LEVEL_ENV + "'], tf.__loader__.__class__.__name__)"
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip(), result.stderr


@pytest.mark.slow
def test_importing_labkit_first_keeps_tensorflow_quiet_unless_the_user_set_a_level():
    printed, logged = _import_tensorflow(None)
    assert (printed, logged) == ("3 SourceFileLoader", "")  # TensorFlow's own loader, as ever
    printed, logged = _import_tensorflow("0")  # the user's value is kept: everything shows
    assert logged.startswith("WARNING: All log messages before absl::InitializeLog()")
    assert "I0000" in logged and printed == "0 SourceFileLoader"
