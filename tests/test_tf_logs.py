"""labkit._tf_logs: TensorFlow's C++ log lines stay out of notebooks, unless the user asks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import labkit._tf_logs as tf_logs
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


def test_a_level_the_user_set_is_kept_and_tensorflow_imported_already_is_left_alone(
    monkeypatch,
):
    finders = list(tf_logs.sys.meta_path)
    monkeypatch.setattr(tf_logs.sys, "meta_path", finders)
    monkeypatch.delitem(tf_logs.sys.modules, "tensorflow", raising=False)
    monkeypatch.setenv(LEVEL_ENV, "0")
    tf_logs.quiet_tensorflow_logs()
    assert os.environ[LEVEL_ENV] == "0"  # the user's value
    assert sum(isinstance(f, tf_logs._QuietImport) for f in finders) == 1
    tf_logs.quiet_tensorflow_logs()  # once is enough
    assert sum(isinstance(f, tf_logs._QuietImport) for f in finders) == 1
    monkeypatch.setitem(tf_logs.sys.modules, "tensorflow", object())  # imported already
    monkeypatch.delenv(LEVEL_ENV)
    tf_logs.quiet_tensorflow_logs()
    assert LEVEL_ENV not in os.environ  # too late to matter: not set


@pytest.mark.slow
def test_importing_labkit_first_keeps_tensorflow_quiet():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": "tensorflow"}
    env.pop(LEVEL_ENV, None)
    code = "import os, labkit, tensorflow as tf; tf.constant(1.0) + 1; print(os.environ['"
    code += LEVEL_ENV + "'], tf.__loader__.__class__.__name__)"
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    # Nothing on stderr; TensorFlow keeps its own loader, as ever.
    assert (result.stdout.strip(), result.stderr) == ("3 SourceFileLoader", "")
