"""benchmarks/liveplot_overhead.py: its verdict is computed from the intervals, and it runs.

No timing is asserted here: the numbers depend on the machine (see the README).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from labkit.stats import MedianInterval

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "liveplot_overhead.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("liveplot_overhead", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def _arm(added: tuple[float, float, float], wall_low: float = 0.9) -> tuple:
    wall = MedianInterval(1.0, wall_low, 1.1, 16)
    return wall, MedianInterval(*added, 16)


def test_the_target_is_shown_only_when_every_interval_lies_under_it(script):
    shown = {"static": _arm((1.004, 1.003, 1.006)), "view": _arm((1.01, 1.008, 1.013))}
    assert script._verdict(shown, 1.02)[0].startswith("target <= 1.02: shown")
    unsure = {**shown, "diagnostics": _arm((1.015, 1.01, 1.024))}
    assert script._verdict(unsure, 1.02)[0] == (
        "target <= 1.02: met by the medians, not shown for diagnostics"
    )
    above = {**shown, "widget": _arm((1.03, 1.02, 1.04))}
    assert script._verdict(above, 1.02)[0] == "target <= 1.02: not met (widget above it)"


def test_the_verdict_says_when_the_wall_clock_disagrees(script):
    agree = {"static": _arm((1.004, 1.003, 1.006), wall_low=0.95)}
    assert "agree" in script._verdict(agree, 1.02)[1]
    clash = {"static": _arm((1.004, 1.003, 1.006), wall_low=1.05)}
    assert script._verdict(clash, 1.02)[1].startswith("the wall clock disagrees for static")


@pytest.mark.slow
def test_a_tiny_run_prints_every_arm_and_the_ratio_last():
    command = [sys.executable, str(SCRIPT), "--images", "96", "--val-images", "32"]
    command += ["--rounds", "6", "--arms", "static,diagnostics"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=True)
    lines = result.stdout.strip().splitlines()
    arms = [line.split()[0] for line in lines[2:7]]
    assert arms == ["baseline", "control", "baseline_wn", "static", "diagnostics"]
    assert lines[-3].startswith("target <= 1.02: ")
    assert re.fullmatch(r"liveplot_overhead_ratio=\d+\.\d{4}", lines[-1])
