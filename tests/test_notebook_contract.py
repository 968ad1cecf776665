"""labkit.notebook_contract: notebook parameter values in, validated runs out, before any work."""

from __future__ import annotations

import pytest

from labkit.notebook_contract import (
    MODEL_CHOICES,
    NOTEBOOK_DEFAULTS,
    notebook_runs,
    tutorial_runs,
    validate_notebook_parameters,
)
from labkit.params import ExperimentParams


def test_model_picks_the_convnets():
    assert MODEL_CHOICES == ("both", "regular", "weightnorm")
    for model, names in (("both", ["regular", "weightnorm"]), ("regular", ["regular"])):
        assert [run.run_name for run in notebook_runs({"model": model})] == names
    assert [run.weight_norm for run in tutorial_runs("weightnorm")] == [True]


def test_defaults_are_those_of_experiment_params():
    defaults = ExperimentParams().to_dict()
    assert NOTEBOOK_DEFAULTS["model"] == "both" and NOTEBOOK_DEFAULTS["live"] == "auto"
    shared = NOTEBOOK_DEFAULTS.keys() - {"model", "live"}
    assert shared == defaults.keys() - {"weight_norm", "run_name"}
    assert all(NOTEBOOK_DEFAULTS[name] == defaults[name] for name in shared)


def test_values_pass_on_to_every_run_and_unknown_names_are_ignored():
    runs = notebook_runs({"epochs": 4, "init_style": "tfa", "not_ours": object()})
    assert [(run.epochs, run.init_style) for run in runs] == [(4, "tfa"), (4, "tfa")]


def test_a_bad_live_environment_variable_fails_with_the_parameters(monkeypatch):
    monkeypatch.setenv("LABKIT_LIVE", "bogus")
    with pytest.raises(ValueError) as error:
        notebook_runs({"live": "auto"})
    assert str(error.value).endswith("Received: `LABKIT_LIVE='bogus'`")
    assert "'auto', 'widget', 'display', 'static', 'off'" in str(error.value)
    with pytest.raises(ValueError, match=r"Received: `LABKIT_LIVE='bogus'`"):
        notebook_runs({"live": "static"})  # checked even where an explicit mode decides


def test_an_output_dir_that_cannot_be_written_fails_with_the_parameters(tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("a file")
    with pytest.raises(ValueError, match=r"Invalid value for `output_dir`: .* is not a folder"):
        validate_notebook_parameters({"output_dir": str(taken / "runs")})
    validate_notebook_parameters({"output_dir": str(tmp_path / "new" / "runs")})
    assert not (tmp_path / "new").exists()  # validation creates nothing


def test_diagnostics_must_be_a_boolean():
    with pytest.raises(ValueError, match="Received: `diagnostics='yes'`"):
        notebook_runs({"diagnostics": "yes"})
    assert notebook_runs({"diagnostics": True, "model": "regular"})[0].run_name == "regular"


def test_an_archive_that_cannot_be_read_fails_with_the_parameters(tmp_path, monkeypatch):
    monkeypatch.delenv("LABKIT_CIFAR10_ARCHIVE", raising=False)
    for archive, problem in ((tmp_path / "none.tar.gz", "was not found"), (tmp_path, "folder")):
        with pytest.raises(ValueError, match=rf"Invalid value for `archive`: .*{problem}"):
            notebook_runs({"archive": str(archive)})
    notebook_runs({"archive": str(tmp_path), "dataset": "mnist"})  # MNIST reads no archive
