"""Tests for labkit.sweep: grid checks and ids, then sweeps of a fake notebook (no TensorFlow)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from labkit import sweep
from labkit.notebook_contract import validate_notebook_parameters
from labkit.sweep.options import notebook_task
from labkit.sweep.parameters import parse_value
from labkit.sweep.planning import MAX_RUNS, expand_grid, run_id
from labkit.sweep.records import COMPLETED, write_record

REPO = Path(__file__).resolve().parents[1]
FAKE_NOTEBOOK = REPO / "tests" / "fixtures" / "fake_train.ipynb"


def run_fake_sweep(grid, out_dir, **options):
    runs = sweep.plan_sweep(FAKE_NOTEBOOK, grid)
    return sweep.run_sweep(
        FAKE_NOTEBOOK, runs, out_dir, kernel_name="python3", progress=False, **options
    )


def test_notebook_parameters_take_types_from_default_values():
    assert sweep.notebook_parameters(FAKE_NOTEBOOK) == {
        "model": "str",
        "epochs": "int",
        "learning_rate": "float",
        "data_init": "bool",
        "seed": "int",
        "output_dir": "str",
        "fail": "bool",
        "sleep": "float",
    }


@pytest.mark.parametrize(
    ("value", "type_name", "expected"),
    [
        ("no", "bool", False),
        ("TRUE", "bool", True),
        ("1", "bool", True),
        (False, "bool", False),
        ("12", "int", 12),
        ("1e-3", "float", 0.001),
        (1, "float", 1.0),
        ("weightnorm", "str", "weightnorm"),
        ("[1, 2]", None, [1, 2]),
        ("text", None, "text"),
    ],
)
def test_parse_value_converts_to_the_parameter_type(value, type_name, expected):
    result = parse_value("name", value, type_name)

    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        ("1.5", "int"),
        (True, "int"),
        ("maybe", "bool"),
        (2, "bool"),
        ("fast", "float"),
        ("nan", "float"),
        ("-inf", "float"),
        (float("inf"), "float"),
        (False, "str"),
    ],
)
def test_parse_value_rejects_values_of_another_type(value, type_name):
    with pytest.raises(ValueError, match=rf"Invalid value for `name`.*Received: `name={value!r}`"):
        parse_value("name", value, type_name)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0,1,2", [0, 1, 2]), ("0-4", [0, 1, 2, 3, 4]), ("3-4, 0, 3", [3, 4, 0]), ("7", [7])],
)
def test_parse_seeds(text, expected):
    assert sweep.parse_seeds(text) == expected


@pytest.mark.parametrize("text", ["", "a", "4-1", "-1", "1,,2", "0-"])
def test_parse_seeds_rejects_other_text(text):
    with pytest.raises(ValueError, match="Invalid seeds"):
        sweep.parse_seeds(text)


def test_parse_seeds_refuses_a_range_too_large_to_be_meant():
    with pytest.raises(ValueError, match=rf"expected at most {MAX_RUNS} seeds"):
        sweep.parse_seeds("0-1000000000000")  # fails at once instead of filling the memory


def test_plan_sweep_refuses_a_grid_too_large_to_be_meant():
    grid = {"seed": list(range(1000)), "epochs": list(range(1, 1001))}

    with pytest.raises(ValueError, match=r"at most 100000 runs\. Received: a grid of 1000000 runs"):
        sweep.plan_sweep(FAKE_NOTEBOOK, grid)


def test_expand_grid_varies_the_last_name_fastest():
    assert expand_grid({"model": ["regular", "weightnorm"], "seed": [0, 1]}) == [
        {"model": "regular", "seed": 0},
        {"model": "regular", "seed": 1},
        {"model": "weightnorm", "seed": 0},
        {"model": "weightnorm", "seed": 1},
    ]


def test_plan_sweep_parses_values_and_names_runs_by_what_varies():
    runs = sweep.plan_sweep(
        FAKE_NOTEBOOK,
        {"model": ["regular", "weightnorm"], "data_init": ["yes", "no"], "epochs": "2"},
    )

    assert [run.params for run in runs] == [
        {"model": "regular", "data_init": True, "epochs": 2},
        {"model": "regular", "data_init": False, "epochs": 2},
        {"model": "weightnorm", "data_init": True, "epochs": 2},
        {"model": "weightnorm", "data_init": False, "epochs": 2},
    ]
    assert runs[0].run_id.startswith("model=regular,data_init=true-")
    assert len({run.run_id for run in runs}) == 4


def test_plan_sweep_merges_duplicate_values():
    runs = sweep.plan_sweep(FAKE_NOTEBOOK, {"learning_rate": ["0.001", "1e-3", 0.001]})

    assert [run.params for run in runs] == [{"learning_rate": 0.001}]


def test_plan_sweep_takes_typed_values_from_a_grid_file(tmp_path):
    grid_file = tmp_path / "grid.yaml"
    grid_file.write_text(
        "model: [regular, weightnorm]\ndata_init: false\nlearning_rate: [0.1, 1]\n"
    )

    runs = sweep.plan_sweep(FAKE_NOTEBOOK, sweep.load_grid_file(grid_file))

    assert runs[-1].params == {"model": "weightnorm", "data_init": False, "learning_rate": 1.0}


def test_a_name_given_twice_in_a_grid_file_is_refused_where_it_is(tmp_path):
    grid_file = tmp_path / "grid.yaml"
    grid_file.write_text("epochs: [1, 2]\nseed: 0\nepochs: 3\n")  # PyYAML keeps the last

    with pytest.raises(ValueError) as error:
        sweep.load_grid_file(grid_file)

    assert str(error.value) == (
        "The grid file is not valid YAML: duplicate key 'epochs' (line 3, column 1). "
        f"Received: `grid={str(grid_file)!r}`"
    )


def test_load_grid_file_needs_a_mapping(tmp_path):
    grid_file = tmp_path / "grid.yaml"
    grid_file.write_text("- model\n- seed\n")

    with pytest.raises(ValueError, match="must map parameter names to values"):
        sweep.load_grid_file(grid_file)


@pytest.mark.parametrize(
    "text", ["model: [regular, weightnorm\nseed: 0\n", "model: regular\n  epochs: 2\n", "\tx: 1"]
)
def test_load_grid_file_names_the_file_and_the_yaml_error_in_one_line(text, tmp_path):
    grid_file = tmp_path / "grid.yaml"
    grid_file.write_text(text)

    with pytest.raises(ValueError) as error:
        sweep.load_grid_file(grid_file)

    message = str(error.value)
    assert message.startswith("The grid file is not valid YAML: ")
    assert "(line " in message
    assert message.endswith(f"Received: `grid={str(grid_file)!r}`")
    assert len(message.splitlines()) == 1


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        (
            {"optimiser": ["adam"]},
            r"Unknown parameter `optimiser`.*Expected one of: model, epochs,",
        ),
        (
            {"epochs": ["ten"]},
            r"Invalid value for `epochs`: expected an int\. Received: `epochs='ten'`",
        ),
        ({"output_dir": ["x"]}, r"`output_dir` is set to each run.s own folder"),
        ({"seed": []}, r"Parameter `seed` needs at least one value"),
    ],
)
def test_plan_sweep_rejects_bad_grids(grid, message):
    with pytest.raises(ValueError, match=message):
        sweep.plan_sweep(FAKE_NOTEBOOK, grid)


def test_plan_sweep_asks_the_validator_about_every_combination():
    seen = []

    def validator(params):
        seen.append(params)
        if params["learning_rate"] > 1:
            raise ValueError(f"Invalid value for `learning_rate`. Received: {params}")

    with pytest.raises(ValueError, match="Invalid value for `learning_rate`"):
        sweep.plan_sweep(
            FAKE_NOTEBOOK, {"learning_rate": ["0.1", "10"], "seed": [0]}, validator=validator
        )
    assert seen == [{"learning_rate": 0.1, "seed": 0}, {"learning_rate": 10.0, "seed": 0}]


def test_plan_sweep_needs_a_parameters_cell(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nbformat.write(notebook, tmp_path / "plain.ipynb")

    with pytest.raises(ValueError, match="no cell tagged `parameters`"):
        sweep.plan_sweep(tmp_path / "plain.ipynb", {})


def test_plan_sweep_reports_a_missing_notebook(tmp_path):
    with pytest.raises(FileNotFoundError, match="Notebook not found"):
        sweep.plan_sweep(tmp_path / "missing.ipynb", {})


def test_run_id_is_stable_and_depends_on_every_value():
    params = {"model": "regular", "seed": 0, "epochs": 10}

    assert run_id(params, ["model", "seed"]) == "model=regular,seed=0-1833b3c1"
    assert run_id(dict(reversed(params.items())), ["model", "seed"]) == (
        "model=regular,seed=0-1833b3c1"
    )
    assert run_id({**params, "epochs": 11}, ["model", "seed"]).endswith("-4a19b90c")
    assert run_id({"archive": "/data/cifar 10.tar.gz"}, ["archive"]).startswith(
        "archive=_data_cifar_10.tar.gz-"
    )


def test_default_validator_applies_only_to_notebooks_that_import_labkit(tmp_path):
    notebook = nbformat.read(FAKE_NOTEBOOK, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("from labkit import report"))
    nbformat.write(notebook, tmp_path / "labkit_notebook.ipynb")

    assert sweep.default_validator(FAKE_NOTEBOOK) is None
    assert (
        sweep.default_validator(tmp_path / "labkit_notebook.ipynb") is validate_notebook_parameters
    )


def test_importing_sweep_does_not_import_dask():
    code = "import sys, labkit.sweep; print('distributed' in sys.modules or 'dask' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "False"


def test_run_sweep_rejects_bad_options(tmp_path):
    with pytest.raises(ValueError, match=r"`jobs` must be a positive integer\. Received: `jobs=0`"):
        sweep.run_sweep(FAKE_NOTEBOOK, [], tmp_path, jobs=0)


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), 0, -1, "60"])
def test_run_sweep_rejects_timeouts_that_are_not_a_positive_finite_number(timeout, tmp_path):
    with pytest.raises(ValueError, match=r"`timeout` must be a positive, finite number"):
        sweep.run_sweep(FAKE_NOTEBOOK, [], tmp_path, timeout=timeout)


def test_a_kernel_that_is_not_installed_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(ValueError) as error:
        sweep.run_sweep(FAKE_NOTEBOOK, [], tmp_path / "runs", kernel_name="nosuchkernel")

    assert str(error.value).startswith("Invalid value for `kernel`: expected one of ")
    assert "'python3'" in str(error.value)
    assert str(error.value).endswith("Received: `kernel='nosuchkernel'`")
    assert not (tmp_path / "runs").exists()


def test_the_notebooks_own_kernel_is_checked_too(tmp_path):
    notebook = nbformat.read(FAKE_NOTEBOOK, as_version=4)
    notebook.metadata["kernelspec"] = {"name": "julia-0.3", "display_name": "Julia"}
    nbformat.write(notebook, tmp_path / "julia.ipynb")

    with pytest.raises(ValueError, match=r"The notebook's Jupyter kernel 'julia-0.3' is not "):
        notebook_task(tmp_path / "julia.ipynb")
    notebook_task(tmp_path / "julia.ipynb", kernel_name="python3")  # chosen instead
    notebook_task(tmp_path / "julia.ipynb", local=False)  # Dask workers have their own


def test_a_sweep_finds_runs_that_gave_a_parameter_its_default(tmp_path):
    (first,) = sweep.plan_sweep(FAKE_NOTEBOOK, {"seed": [0], "epochs": [3]})  # 3: the default
    (tmp_path / first.run_id).mkdir()
    done = sweep.NotebookRecord(first.run_id, first.params, status=COMPLETED)
    write_record(tmp_path / first.run_id, done)

    (record,) = run_fake_sweep({"seed": [0]}, tmp_path)  # would run again if not found

    assert record == done


def test_run_sweep_rejects_a_runs_folder_it_cannot_write(tmp_path):
    (tmp_path / "file").touch()

    with pytest.raises(ValueError, match=r"must be a writable folder \(.*/file is not a folder\)"):
        sweep.run_sweep(FAKE_NOTEBOOK, [], tmp_path / "file" / "runs")


@pytest.mark.slow
def test_resuming_finds_runs_whatever_else_varied_and_summary_keeps_every_run(tmp_path):
    first = run_fake_sweep({"epochs": ["1", "2"]}, tmp_path, jobs=2)
    record_file = tmp_path / first[0].run_id / sweep.RECORD_FILE
    before = record_file.read_text()

    (again,) = run_fake_sweep({"epochs": ["1"]}, tmp_path)  # epochs no longer varies

    assert again == first[0]
    assert record_file.read_text() == before  # found and skipped, not run again
    summary = pd.read_csv(tmp_path / sweep.SUMMARY_FILE)
    assert summary[["run_id", "epochs"]].values.tolist() == [
        [first[0].run_id, 1],
        [first[1].run_id, 2],
    ]


@pytest.mark.slow
def test_failed_run_is_recorded_others_complete_and_rerun_resumes(tmp_path):
    records = run_fake_sweep({"fail": ["false", "true"], "epochs": "2"}, tmp_path, jobs=2)

    completed, failed = records
    assert completed.status == "completed"
    assert failed.status == "failed"
    assert failed.error == "RuntimeError: Fake training failed on purpose."
    completed_dir, failed_dir = (tmp_path / record.run_id for record in records)
    metrics = json.loads((completed_dir / "weightnorm" / "metrics.json").read_text())
    assert metrics["params"]["epochs"] == 2
    assert (completed_dir / "fake_train.ipynb").is_file()
    assert sweep.read_notebook_record(completed_dir).duration_s > 0
    threads = str(max(1, os.cpu_count() // 2))  # two runs at once share the cores
    assert json.loads((completed_dir / "threads.json").read_text()) == {
        "OMP_NUM_THREADS": threads,
        "TF_NUM_INTRAOP_THREADS": threads,
    }
    summary = pd.read_csv(tmp_path / sweep.SUMMARY_FILE)
    assert summary[["status", "fail"]].values.tolist() == [["completed", False], ["failed", True]]

    (completed_dir / "kept.txt").touch()
    (failed_dir / "stale.txt").touch()
    completed_record = (completed_dir / sweep.RECORD_FILE).read_text()
    rerun = run_fake_sweep({"fail": ["false", "true"], "epochs": "2"}, tmp_path, jobs=2)

    assert (completed_dir / sweep.RECORD_FILE).read_text() == completed_record  # skipped
    assert (completed_dir / "kept.txt").exists()
    assert not (failed_dir / "stale.txt").exists()  # retried in a fresh folder
    assert [record.status for record in rerun] == ["completed", "failed"]


@pytest.mark.slow
def test_run_past_its_timeout_is_stopped_and_recorded(tmp_path):
    (record,) = run_fake_sweep({"sleep": ["600"]}, tmp_path, timeout=2)

    assert record.status == "timed_out"
    assert record.error == "The run exceeded its timeout of 2 s."
    assert record.duration_s < 60


@pytest.mark.slow
def test_sweep_runs_on_a_dask_cluster(tmp_path, local_cluster):
    (record,) = run_fake_sweep(
        {"model": ["weightnorm"]}, tmp_path / "runs", scheduler=local_cluster.scheduler_address
    )

    assert record.status == "completed"
    run_dir = tmp_path / "runs" / record.run_id
    assert sweep.read_notebook_record(run_dir) == record
    assert (
        json.loads((run_dir / "weightnorm" / "metrics.json").read_text())["status"] == "completed"
    )
    assert (run_dir / "fake_train.ipynb").is_file()
    assert not (run_dir / "regular").exists()
