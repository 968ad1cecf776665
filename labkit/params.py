"""`ExperimentParams`: everything that defines one training run, validated when it is made.

Example:

>>> from labkit.params import ExperimentParams
>>> ExperimentParams(normalization="weightnorm", epochs=2).run_name
'weightnorm'
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from labkit._checks import check, check_choice, check_int, is_number
from labkit._io import writable_dir_problem
from labkit.data import DATASETS, Dataset, load_dataset
from labkit.speed import AUTO, check_speed
from labkit.variants import NORMALIZATION_RUNS, WEIGHT_NORMALIZED, checked_normalization

__all__ = [
    "ExperimentParams",
    "OPTIMIZERS",
    "SGD_MOMENTUM",
    "INIT_STYLES",
    "DATA_FIELDS",
    "MAX_SEED",
    "check_run_fields",
]

# "momentum" is SGD with momentum `SGD_MOMENTUM`; the others are Keras' optimizers by name.
OPTIMIZERS = ("adam", "sgd", "rmsprop", "adamw", "momentum")
SGD_MOMENTUM = 0.9
# How the data-dependent init of a WeightNorm model is done: as in the paper, or as
# tensorflow-addons did it.
INIT_STYLES = ("paper", "tfa")
# The fields that decide what `ExperimentParams.load_data` returns (callers that cache a
# loaded dataset key it on these).
DATA_FIELDS = ("dataset", "train_limit", "test_limit", "seed", "archive")
# NumPy's legacy seeding, which Keras' `set_random_seed` uses, takes 32-bit seeds.
MAX_SEED = 2**32 - 1


def check_run_fields(params: Any) -> None:
    """Checks the fields every labkit run's parameters share (`learning_rate`, `output_dir`,
    `archive`, `run_name`, `jit_compile`, `steps_per_execution`), and names the run after its
    `normalization` where `run_name` is None. For the `__post_init__` of a frozen dataclass.

    Example:

    >>> check_run_fields(ExperimentParams())  # passes silently; bad values raise ValueError
    """
    rate = params.learning_rate
    is_rate = is_number(rate) and math.isfinite(rate) and 0 < rate <= 10
    check("learning_rate", rate, is_rate, "a number in (0, 10]")
    for name in ("output_dir", "archive", "run_name"):
        value = getattr(params, name)
        check(name, value, value is None or isinstance(value, str), "a string or None")
    check_speed(params.jit_compile, params.steps_per_execution)
    if params.run_name is None:
        object.__setattr__(params, "run_name", NORMALIZATION_RUNS[params.normalization])


@dataclass(frozen=True)
class ExperimentParams:
    """Everything that defines one training run. Invalid values raise `ValueError` at once.

    `normalization` says which ConvNet is trained. `weight_norm` is the older way to say it and
    is still accepted (keyword only, here and in `replace`): `weight_norm=True` means
    `normalization="weightnorm"`, `False` means `"none"`; given with `normalization`, the two
    must agree. Read back, `weight_norm` is derived: `True` for `"weightnorm"` and
    `"weightnorm+meanonly"`, the ConvNets whose layers are weight-normalized.

    Args:
        dataset: `"cifar10"`, `"mnist"` or `"fashion_mnist"`.
        data_init: Data-dependent init of the WeightNorm layers (ignored without them).
        epochs: Passes over the training set.
        batch_size: Examples per gradient step.
        learning_rate: Optimizer step size.
        optimizer: `"adam"`, `"sgd"`, `"rmsprop"`, `"adamw"` or `"momentum"` (SGD with
            momentum 0.9).
        seed: Seeds Python, NumPy and the backend, and the subset draw; 0 to 2**32 - 1.
        train_limit: Training images to use, balanced over classes; 0 uses all.
        test_limit: Test (validation) images to use; 0 uses all.
        output_dir: Folder that receives `<run_name>/metrics.json` and `history.csv`;
            `None` writes nothing.
        archive: Offline CIFAR-10 archive; `None` uses `$LABKIT_CIFAR10_ARCHIVE` or Keras.
        run_name: Name of the run's folder; defaults to the ConvNet's name (`"regular"`,
            `"weightnorm"`, `"batchnorm"` or `"weightnorm_meanonly"`).
        init_style: How the data-dependent init is done: `"paper"` (Salimans & Kingma) or
            `"tfa"` (as tensorflow-addons did it); only used with WeightNorm layers and
            `data_init`.
        normalization: How the ConvNet's layers are normalized (see `build_convnet`):
            `"none"` (the default: the tutorial's regular ConvNet), `"weightnorm"`,
            `"batchnorm"` or `"weightnorm+meanonly"`. `None` or `""` (as in `metrics.json`
            files that labkit wrote before this was the one field) is what `weight_norm` says.
        jit_compile: Keras' `compile(jit_compile=...)`: `True` compiles the training step
            with XLA, `False` does not; `"auto"` (the default) picks what measured fastest for
            the backend and machine (`labkit.speed`).
        steps_per_execution: Keras' `compile(steps_per_execution=...)`: optimizer steps per
            call into the compiled training function (callbacks then see one batch end per
            call); `"auto"` (the default) picks what measured fastest (`labkit.speed`).

    Example:

    >>> params = ExperimentParams(normalization="weightnorm", epochs=2, train_limit=5000)
    >>> params.replace(seed=1).seed
    1
    >>> params.weight_norm, ExperimentParams(weight_norm=True).normalization
    (True, 'weightnorm')
    """

    dataset: str = "cifar10"
    data_init: bool = True
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 0.001
    optimizer: str = "adam"
    seed: int = 0
    train_limit: int = 0
    test_limit: int = 0
    output_dir: str | None = None
    archive: str | None = None
    run_name: str | None = None
    init_style: str = "paper"
    normalization: str = "none"
    jit_compile: bool | str = AUTO
    steps_per_execution: int | str = AUTO

    def __post_init__(self):
        check_choice("dataset", self.dataset, tuple(DATASETS))
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("init_style", self.init_style, INIT_STYLES)
        check("data_init", self.data_init, isinstance(self.data_init, bool), "a boolean")
        normalization = checked_normalization(None, self.normalization)  # None, "" -> "none"
        object.__setattr__(self, "normalization", normalization)
        check_int("epochs", self.epochs, minimum=1)
        check_int("batch_size", self.batch_size, minimum=1)
        check_int("seed", self.seed, minimum=0, maximum=MAX_SEED)
        num_classes = len(DATASETS[self.dataset])
        for name in ("train_limit", "test_limit"):
            value = getattr(self, name)
            check_int(name, value, minimum=0)
            check(name, value, value == 0 or value >= num_classes, f"0 or >= {num_classes}")
        check_run_fields(self)

    @property
    def weight_norm(self) -> bool:
        """Whether the ConvNet's layers are weight-normalized (`"weightnorm"` and
        `"weightnorm+meanonly"`): derived from `normalization`, never set on its own."""
        return self.normalization in WEIGHT_NORMALIZED

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ExperimentParams:
        """Builds parameters from a mapping, rejecting unknown names; `to_dict`'s own output
        (and that of older labkit versions, with `normalization: None`) reads back.

        Example:

        >>> ExperimentParams.from_dict({"epochs": 2, "weight_norm": True}).run_name
        'weightnorm'
        """
        known = {f.name for f in dataclasses.fields(cls)} | {"weight_norm"}
        for name, value in values.items():
            if name not in known:
                raise ValueError(
                    f"Unknown parameter `{name}`. Valid parameters: {', '.join(sorted(known))}. "
                    f"Received: `{name}={value!r}`"
                )
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (what `metrics.json` stores under `params`), with the
        derived `weight_norm` second, where readers of older files find it.

        Example:

        >>> ExperimentParams(epochs=2).to_dict()["epochs"]
        2
        >>> ExperimentParams(normalization="weightnorm").to_dict()["weight_norm"]
        True
        """
        dataset, *others = dataclasses.asdict(self).items()
        return dict([dataset, ("weight_norm", self.weight_norm), *others])

    def load_data(self) -> Dataset:
        """Loads the dataset these parameters describe: uint8 images (training converts each
        batch as it is drawn, `labkit.data.to_float_images`) and one-hot labels.

        Example:

        >>> data = ExperimentParams(train_limit=2000).load_data()
        """
        dataset, train_limit, test_limit, seed, archive = (getattr(self, f) for f in DATA_FIELDS)
        return load_dataset(
            dataset,
            labels="onehot",
            limit=train_limit or None,
            test_limit=test_limit or None,
            seed=seed,
            archive=archive or None,
            dtype="uint8",
        )

    def check_output_dir(self) -> None:
        """Raises `ValueError` unless `output_dir` is unset or a folder that can be written or
        created; creates nothing. Run it before loading data, so a bad folder fails at once.

        Example:

        >>> ExperimentParams(output_dir="runs/demo").check_output_dir()  # creates nothing
        """
        if not self.output_dir:
            return
        problem = writable_dir_problem(self.output_dir)
        expected = f"a folder that can be written or created ({problem})"
        check("output_dir", self.output_dir, problem is None, expected)

    def replace(self, **changes) -> ExperimentParams:
        """A copy with some fields changed (validated again).

        `weight_norm=` is accepted as in the constructor (it replaces `normalization`);
        `run_name=None` names the run after its ConvNet again.

        Example:

        >>> ExperimentParams().replace(weight_norm=True, run_name=None).run_name
        'weightnorm'
        >>> ExperimentParams(weight_norm=True).replace(normalization="batchnorm").weight_norm
        False
        """
        if "weight_norm" in changes:  # it stands for `normalization`, not the one kept
            changes.setdefault("normalization", None)
        return dataclasses.replace(self, **changes)


def _with_weight_norm(init: Callable[..., None]) -> Callable[..., None]:
    """The dataclass' `__init__`, also taking `weight_norm=` as a keyword-only alias.

    The alias is mapped here, where `normalization` left at its default can be told apart from
    an explicit `"none"` (which `weight_norm=True` contradicts).
    """

    @functools.wraps(init)
    def __init__(self, *args, weight_norm: bool | None = None, **kwargs) -> None:
        if weight_norm is not None:
            given = kwargs.get("normalization")
            kwargs["normalization"] = checked_normalization(weight_norm, given)
        init(self, *args, **kwargs)

    keyword = inspect.Parameter.KEYWORD_ONLY
    alias = inspect.Parameter("weight_norm", keyword, default=None, annotation="bool | None")
    signature = inspect.signature(init)
    __init__.__signature__ = signature.replace(parameters=[*signature.parameters.values(), alias])
    return __init__


ExperimentParams.__init__ = _with_weight_norm(ExperimentParams.__init__)
