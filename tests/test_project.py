"""Project wiring: CI runs exactly the README's test command; no outputs are committed."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in first_block.splitlines() if line and not line.startswith("#")]


def test_readme_starts_with_the_main_job_and_the_test_command():
    main_job, tests = _readme_commands()[:2]
    assert "papermill notebooks/weight_norm.ipynb" in main_job
    assert "python -m pytest" in tests


def test_ci_runs_the_readme_test_command_exactly():
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _readme_commands()[1] in ci_lines


def test_no_run_outputs_caches_or_datasets_are_tracked():
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    forbidden = ("runs/", ".cache/", ".npz", ".tar.gz", ".keras", ".weights.h5")
    # Tiny reference files written by tensorflow-addons are test fixtures, not outputs.
    fixtures = [path for path in tracked if path.startswith("tests/fixtures/")]
    assert not [path for path in fixtures if (ROOT / path).stat().st_size > 200_000]
    outputs = [path for path in tracked if path not in fixtures]
    assert not [path for path in outputs if any(part in path for part in forbidden)]
