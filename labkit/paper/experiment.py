"""Training the paper's ConvNet as the authors do: validated parameters in, results on disk out.

`run_paper_experiment` follows `labkit.run_experiment` (the same recorders, files and end
states) with the paper's protocol: `build_paper_convnet`, `paper_data_init` on 500 training
images, `PaperAdam` with the learning rate held then decayed linearly and `beta_1` 0.9 then
0.5 (`labkit.paper.schedule`), batches of 100 in a fresh seeded order every epoch, and the
test set evaluated after every epoch. Besides Keras' `loss` and `accuracy`, every epoch
records `error` (the training error, dropout and noise on, as the authors' `train_err`) and
`val_error` (the test error, the number of the paper's Table 1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from labkit.batches import ShuffledBatches
from labkit.data import Dataset
from labkit.paper.data import load_paper_data
from labkit.paper.init import paper_data_init
from labkit.paper.model import build_paper_convnet
from labkit.paper.optimizer import PaperAdam
from labkit.paper.params import PaperParams
from labkit.recording import recorded_outcome, start_recording
from labkit.results import RunResult
from labkit.speed import Speed, resolve_speed

__all__ = [
    "run_paper_experiment",
    "run_paper_experiments",
    "compiled_paper_convnet",
    "paper_speed",
    "ClassificationError",
    "EVALUATION_BATCH",
]

# Test images per evaluation batch.
EVALUATION_BATCH = 500


@keras.saving.register_keras_serializable(package="labkit")
class ClassificationError(keras.metrics.MeanMetricWrapper):
    """The fraction of examples whose highest score is not the true class (1 - accuracy).

    Takes one-hot (or probability) targets and scores or probabilities.

    Example:

    >>> metric = ClassificationError()
    >>> metric.update_state([[0, 1], [1, 0]], [[0.2, 0.8], [0.3, 0.7]])
    >>> float(metric.result())
    0.5
    """

    def __init__(self, name: str = "error", dtype=None):
        super().__init__(fn=_misclassified, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


def _misclassified(y_true, y_pred):
    wrong = ops.not_equal(ops.argmax(y_true, axis=-1), ops.argmax(y_pred, axis=-1))
    return ops.cast(wrong, "float32")


def compiled_paper_convnet(
    params: PaperParams, data: Dataset, steps_per_epoch: int, speed: Speed | None = None
) -> keras.Model:
    """The paper's ConvNet for `params`, compiled with the paper's optimizer and schedule.

    `speed` (the `jit_compile` and `steps_per_execution` to compile with) defaults to
    `paper_speed(params, steps_per_epoch)`.

    Example:

    >>> model = compiled_paper_convnet(PaperParams(), data, steps_per_epoch=20)
    """
    speed = speed or paper_speed(params, steps_per_epoch)
    model = build_paper_convnet(
        params.normalization,
        num_classes=data.num_classes,
        input_shape=data.input_shape,
        name=params.run_name,
    )
    learning_rate, beta_1 = params.plan.keras_schedules(params.learning_rate, steps_per_epoch)
    model.compile(
        optimizer=PaperAdam(learning_rate, beta_1=beta_1),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
        metrics=["accuracy", ClassificationError()],
        **speed.compile_arguments(),
    )
    return model


def paper_speed(params: PaperParams, steps_per_epoch: int) -> Speed:
    """`params.jit_compile` and `params.steps_per_execution`, `"auto"` resolved for a run of
    `params.epochs_to_run` epochs of `steps_per_epoch` steps (`labkit.speed.resolve_speed`).

    Example:

    >>> paper_speed(PaperParams(schedule="gpu"), steps_per_epoch=500)  # on JAX  # doctest: +SKIP
    Speed(jit_compile=True, steps_per_execution=32)
    """
    steps = params.epochs_to_run * steps_per_epoch
    return resolve_speed(params.jit_compile, params.steps_per_execution, steps=steps)


def run_paper_experiment(
    params: PaperParams | Mapping[str, Any],
    callbacks: Sequence = (),
    data: Dataset | None = None,
    verbose: int | str = 0,
) -> RunResult:
    """Trains the paper's ConvNet as `params` describe and returns its `RunResult`.

    Seeds everything, loads the whitened data (unless `data` is given), builds and compiles
    the model (`"auto"` speed settings resolved by `paper_speed`; `RunResult.compiled` says
    what was used), initializes it from `params.init_examples` training images drawn with the
    seed, then `fit`s with the test set evaluated after every epoch. The history is recorded
    after every epoch and the training loss every few steps, and written to
    `<output_dir>/<run_name>/` as it grows (`metrics.json`, `history.csv`), so a run that is
    stopped, interrupted or crashes keeps what it computed.

    Args:
        params: A `PaperParams` or a mapping of its fields.
        callbacks: Extra Keras callbacks (e.g. `labkit.LivePlot`).
        data: A dataset from `load_paper_data` to reuse.
        verbose: Passed to `fit`.

    Example:

    >>> result = run_paper_experiment({"normalization": "weightnorm", "schedule": "cpu"})
    >>> result.history["val_error"]
    """
    if not isinstance(params, PaperParams):
        params = PaperParams.from_dict(params)
    params.check_output_dir()
    keras.utils.set_random_seed(params.seed)
    if data is None:
        data = load_paper_data(params)
    batches = ShuffledBatches(data.x_train, data.y_train, params.batch_size, seed=params.seed)
    speed = paper_speed(params, len(batches))
    model = compiled_paper_convnet(params, data, len(batches), speed)
    recording = start_recording(params, model, speed.compile_arguments(), len(data.x_train))
    epochs = params.epochs_to_run
    with recorded_outcome(recording.result, recording.folder, epochs):
        size = min(params.init_examples, len(data.x_train))
        chosen = np.random.default_rng(params.seed).choice(len(data.x_train), size, replace=False)
        paper_data_init(model, data.x_train[np.sort(chosen)])
        model.fit(
            **batches.fit_arguments(epochs),
            epochs=epochs,
            validation_data=(data.x_test, data.y_test),
            # Inference uses no batch statistics: a larger batch only evaluates faster.
            validation_batch_size=max(params.batch_size, EVALUATION_BATCH),
            callbacks=recording.callbacks(callbacks),
            verbose=verbose,
        )
    return recording.result


def run_paper_experiments(
    runs: Sequence[PaperParams], callbacks: Sequence = (), data: Dataset | None = None
) -> dict[str, RunResult]:
    """Runs several normalizations on the same whitened data, one after the other.

    The data are loaded once, from the first run's parameters, when `data` is not given.

    Example:

    >>> results = run_paper_experiments(paper_runs("all", schedule="cpu"))
    >>> results["weightnorm"].history["val_error"]
    """
    for params in runs:
        params.check_output_dir()
    if data is None and runs:
        data = load_paper_data(runs[0])
    return {params.run_name: run_paper_experiment(params, callbacks, data=data) for params in runs}
