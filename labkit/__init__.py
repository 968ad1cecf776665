"""labkit: a live Jupyter lab for Weight Normalization (Salimans & Kingma, 2016) on Keras 3.

Heavy names (everything that needs Keras) are imported on first use, so that the `labkit`
command and parameter validation start fast. Importing labkit keeps TensorFlow's C++ log lines
out of notebooks (`labkit._tf_logs`; `TF_CPP_MIN_LOG_LEVEL`, when set, is respected).

Example:

>>> import labkit
>>> model = labkit.build_convnet(weight_norm=True)
"""

from __future__ import annotations

from labkit._lazy import lazy_names
from labkit._tf_logs import quiet_tensorflow_logs

# Before anything imports TensorFlow: its C++ start-up lines stay out of notebooks.
quiet_tensorflow_logs()

__version__ = "0.1.0"

_LAZY = {
    "WeightNormalization": "labkit.weightnorm",
    "data_init": "labkit.weightnorm",
    "remove_weight_norm": "labkit.weightnorm",
    "apply_weight_norm": "labkit.weightnorm",
    "MeanOnlyBatchNormalization": "labkit.meanonly",
    "build_convnet": "labkit.models",
    "load_dataset": "labkit.data",
    "Dataset": "labkit.data",
    "ExperimentParams": "labkit.params",
    "RunResult": "labkit.results",
    "run_experiment": "labkit.experiment",
    "run_experiments": "labkit.experiment",
    "tutorial_runs": "labkit.notebook_contract",
    "notebook_runs": "labkit.notebook_contract",
    "results_table": "labkit.plots",
    "accuracy_figure": "labkit.plots",
    "LivePlot": "labkit.live",
    "load_tfa_model": "labkit.tfa_checkpoints",
    "load_tfa_weights": "labkit.tfa_checkpoints",
    # The paper's own CIFAR-10 experiment (labkit.paper).
    "build_paper_convnet": "labkit.paper.model",
    "paper_data_init": "labkit.paper.init",
    "ZCAWhitening": "labkit.paper.zca",
    "PaperParams": "labkit.paper.params",
    "paper_runs": "labkit.paper.params",
    "load_paper_data": "labkit.paper.data",
    "run_paper_experiments": "labkit.paper.experiment",
    "paper_comparison": "labkit.paper.compare",
    "error_figure": "labkit.paper.figures",
}

__all__ = ["__version__", *_LAZY]


__getattr__, __dir__ = lazy_names(globals(), _LAZY)
