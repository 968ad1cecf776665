"""Salimans & Kingma's own CIFAR-10 experiment (2016, section 5.1), as the authors' code runs it.

One concern per module: `zca` whitens the images, `data` loads CIFAR-10 in the authors' scale
and whitens it, `scale` holds `InitScale` (the normal parameterization's data-dependent init),
`model` builds the ConvNet with each of the four normalizations, `init` runs the data-dependent
init as the authors do, `schedule` names the training lengths and `step_schedules` turns them
into Keras schedules of the learning rate and `beta_1`, `optimizer` is the authors' Adam,
`params` validates a run, `experiment` trains and records it, `compare` sets the results beside
the paper's Table 1, `figures` draws them, and `backend` picks the Keras backend from a
notebook parameter.
`docs/paper_cifar10.md` lists every difference from the authors' code.

Names are imported on first use, so that validating parameters does not import Keras.

Example:

>>> from labkit.paper import build_paper_convnet, paper_data_init
>>> model = build_paper_convnet("weightnorm+meanonly")
>>> paper_data_init(model, x_train_white[:500])
"""

from __future__ import annotations

from labkit._lazy import lazy_names

_LAZY = {
    "ZCAWhitening": "labkit.paper.zca",
    "InitScale": "labkit.paper.scale",
    "build_paper_convnet": "labkit.paper.model",
    "paper_data_init": "labkit.paper.init",
    "PAPER_INIT_EXAMPLES": "labkit.paper.init",
    "PaperSchedule": "labkit.paper.schedule",
    "SCHEDULES": "labkit.paper.schedule",
    "HeldThenLinearDecay": "labkit.paper.step_schedules",
    "epoch_switch": "labkit.paper.step_schedules",
    "PaperAdam": "labkit.paper.optimizer",
    "PaperParams": "labkit.paper.params",
    "paper_runs": "labkit.paper.params",
    "load_paper_data": "labkit.paper.data",
    "authors_scale": "labkit.paper.data",
    "fitted_zca": "labkit.paper.data",
    "run_paper_experiment": "labkit.paper.experiment",
    "run_paper_experiments": "labkit.paper.experiment",
    "compiled_paper_convnet": "labkit.paper.experiment",
    "ClassificationError": "labkit.paper.experiment",
    "PAPER_TEST_ERROR": "labkit.paper.compare",
    "paper_comparison": "labkit.paper.compare",
    "error_curves": "labkit.paper.compare",
    "load_paper_results": "labkit.paper.compare",
    "error_figure": "labkit.paper.figures",
    "use_backend": "labkit.paper.backend",
}

__all__ = list(_LAZY)

__getattr__, __dir__ = lazy_names(globals(), _LAZY)
