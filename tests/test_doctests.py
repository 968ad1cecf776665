"""The docstring examples that need no data, files or training run as doctests."""

from __future__ import annotations

import doctest
import importlib
import types

import pytest

from labkit import _checks, notebook_contract, stats, variants
from labkit.batches import ShuffledBatches
from labkit.live import progress
from labkit.meanonly import MeanOnlyBatchNormalization
from labkit.panel_controller import data_key
from labkit.paper import params as paper_params
from labkit.paper import schedule as paper_schedule
from labkit.paper import step_schedules
from labkit.paper.data import authors_scale
from labkit.paper.experiment import ClassificationError
from labkit.paper.model import authors_parameter_counts, build_paper_convnet
from labkit.paper.optimizer import PaperAdam
from labkit.paper.scale import InitScale
from labkit.paper.zca import ZCAWhitening
from labkit.params import ExperimentParams
from labkit.results import RunRecord, RunResult
from labkit.running_means import EpochExamples, StepValues

EXAMPLES = [
    _checks,
    variants,
    notebook_contract,
    progress.format_duration,
    data_key,
    ExperimentParams,
    ExperimentParams.from_dict,
    ExperimentParams.to_dict,
    ExperimentParams.replace,
    RunRecord,
    RunRecord.to_json,
    RunRecord.from_json,
    RunResult,
    RunResult.record,
    RunResult.to_json,
    RunResult.to_frame,
    MeanOnlyBatchNormalization,
    stats,
    ShuffledBatches,
    StepValues,
    EpochExamples,
    paper_params,
    paper_schedule,
    step_schedules,
    ZCAWhitening,
    InitScale,
    build_paper_convnet,
    authors_parameter_counts,
    authors_scale,
    PaperAdam,
    ClassificationError,
]


@pytest.mark.parametrize(
    "obj", EXAMPLES, ids=lambda obj: getattr(obj, "__qualname__", obj.__name__)
)
def test_docstring_examples_run(obj):
    is_module = isinstance(obj, types.ModuleType)
    module = importlib.import_module(obj.__name__ if is_module else obj.__module__)
    tests = doctest.DocTestFinder(recurse=is_module).find(obj, globs=dict(vars(module)))
    tests = [test for test in tests if test.examples]
    assert tests, f"{obj} has no examples"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in tests:
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
