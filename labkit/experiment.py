"""The training runner: validated parameters in, results on disk out.

Data flows one way: `ExperimentParams` (`labkit.params`) -> `load_dataset` + `build_convnet`
-> `fit` (callbacks observe; `EpochRecorder` saves after every epoch) -> `RunResult`
(`labkit.results`: `metrics.json` + `history.csv` in the run's folder) -> report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from labkit.data import Dataset, to_float_images
from labkit.params import SGD_MOMENTUM, ExperimentParams
from labkit.results import RunResult

if TYPE_CHECKING:
    from labkit.batches import ShuffledBatches

__all__ = [
    "run_experiment",
    "run_experiments",
    "DATA_INIT_EXAMPLES",
]

# Examples used for the explicit data-dependent init of WeightNorm models.
DATA_INIT_EXAMPLES = 512


def run_experiment(
    params: ExperimentParams | Mapping[str, Any],
    callbacks: Sequence = (),
    data: Dataset | None = None,
    verbose: int | str = 0,
) -> RunResult:
    """Trains one ConvNet as `params` describe and returns its `RunResult`.

    Seeds everything, loads the data (unless `data` is given), builds and compiles the
    model (with `params.jit_compile` and `params.steps_per_execution`, `"auto"` resolved by
    `labkit.speed.resolve_speed`; `RunResult.compiled` says what was used), runs the
    data-dependent init of a WeightNorm model on a training batch, then `fit`s with the test
    set as validation data. Images may be uint8 (`ExperimentParams.load_data` loads them so):
    each batch is converted as it is drawn. The history is recorded after every epoch,
    each step's own training loss and accuracy in `RunResult.steps`, and, when
    `params.output_dir` is set, both are written to `<output_dir>/<run_name>/` as they
    grow, so a run that is stopped (`model.stop_training`), interrupted or crashes keeps
    what it computed; an interruption or error is re-raised after saving.

    Args:
        params: An `ExperimentParams` or a mapping of its fields.
        callbacks: Extra Keras callbacks (e.g. `labkit.LivePlot`).
        data: A `Dataset` with one-hot labels to reuse instead of loading one.
        verbose: Passed to `fit`.

    Example:

    >>> result = run_experiment({"weight_norm": True, "epochs": 1, "train_limit": 2000})
    >>> result.to_frame()
    """
    import keras

    from labkit.batches import ShuffledBatches, validation_data
    from labkit.models import build_convnet
    from labkit.recording import recorded_outcome, start_recording
    from labkit.speed import resolve_speed
    from labkit.weightnorm import data_init

    if not isinstance(params, ExperimentParams):
        params = ExperimentParams.from_dict(params)
    params.check_output_dir()
    keras.utils.set_random_seed(params.seed)
    if data is None:
        data = params.load_data()
    model = build_convnet(
        num_classes=data.num_classes,
        input_shape=data.input_shape,
        data_init=params.data_init,
        init_style=params.init_style,
        normalization=params.normalization,
    )
    # A fresh seeded order every epoch, the same on every backend (`fit(shuffle=True)` on
    # arrays replays one order in every epoch under a global seed on TensorFlow).
    batches = ShuffledBatches(data.x_train, data.y_train, params.batch_size, seed=params.seed)
    speed = resolve_speed(
        params.jit_compile, params.steps_per_execution, steps=params.epochs * len(batches)
    )
    model.compile(
        optimizer=_optimizer(params),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
        **speed.compile_arguments(),
    )

    recording = start_recording(params, model, speed.compile_arguments(), len(data.x_train))
    with recorded_outcome(recording.result, recording.folder, params.epochs):
        if params.weight_norm and params.data_init:
            data_init(model, _data_init_batch(params, data, batches))
        model.fit(
            **batches.fit_arguments(params.epochs),
            epochs=params.epochs,
            validation_data=validation_data(data.x_test, data.y_test, params.batch_size),
            callbacks=recording.callbacks(callbacks),
            verbose=verbose,
        )
    return recording.result


def _optimizer(params: ExperimentParams):
    """The Keras optimizer `params.optimizer` names, at `params.learning_rate`."""
    import keras

    config = {"learning_rate": params.learning_rate}
    name = params.optimizer
    if name == "momentum":
        name, config["momentum"] = "sgd", SGD_MOMENTUM
    return keras.optimizers.get({"class_name": name, "config": config})


def _data_init_batch(params: ExperimentParams, data: Dataset, batches: ShuffledBatches):
    """The examples the data-dependent init sees.

    tfa initializes on the first training batch, inside the first step; `"tfa"` uses that
    same batch. The paper's style uses `DATA_INIT_EXAMPLES` examples drawn with the seed.
    """
    if params.init_style == "tfa":
        return batches[0][0]
    size = min(DATA_INIT_EXAMPLES, len(data.x_train))
    chosen = np.random.default_rng(params.seed).choice(len(data.x_train), size, False)
    return to_float_images(data.x_train[chosen])


def run_experiments(
    runs: Sequence[ExperimentParams], callbacks: Sequence = (), data: Dataset | None = None
) -> dict[str, RunResult]:
    """Runs several experiments on the same data, one after the other; keyed by run name.

    The dataset is loaded once (from the first run's parameters) when `data` is not given.

    Example:

    >>> results = run_experiments(tutorial_runs("both", epochs=1, train_limit=2000))
    >>> results["weightnorm"].final_val_accuracy
    """
    for params in runs:
        params.check_output_dir()  # before loading the data
    if data is None and runs:
        data = runs[0].load_data()
    return {params.run_name: run_experiment(params, callbacks, data=data) for params in runs}
