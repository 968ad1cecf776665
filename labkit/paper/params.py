"""`PaperParams`: one run of the paper's CIFAR-10 experiment, validated when it is made.

Example:

>>> from labkit.paper.params import PaperParams
>>> params = PaperParams(normalization="weightnorm", schedule="cpu")
>>> params.run_name, params.epochs_to_run, params.train_images
('weightnorm', 4, 1000)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from labkit._checks import check, check_choice, check_int, is_int
from labkit._io import writable_dir_problem
from labkit.paper.schedule import SCHEDULES, PaperSchedule
from labkit.params import MAX_SEED, check_run_fields
from labkit.speed import AUTO
from labkit.variants import NORMALIZATIONS

__all__ = ["PaperParams", "paper_runs", "NOTEBOOK_NORMALIZATIONS"]

# A notebook's `normalization`: one of the four, or "all" of them one after the other.
NOTEBOOK_NORMALIZATIONS = (*NORMALIZATIONS, "all")


@dataclass(frozen=True)
class PaperParams:
    """Everything that defines one run of the paper's experiment. Bad values raise at once.

    Args:
        normalization: `"none"`, `"weightnorm"`, `"batchnorm"` or `"weightnorm+meanonly"`.
        schedule: `"cpu"`, `"gpu"` or `"full"` (`labkit.paper.schedule.SCHEDULES`): the
            number of epochs and the data; the learning rate is held for the first half and
            decayed linearly in the second, `beta_1` 0.9 then 0.5.
        epochs: Overrides the schedule's epochs (the decay still takes the second half);
            0 keeps them.
        train_limit: Training images, balanced over classes; -1 keeps the schedule's, 0
            uses all 50,000.
        test_limit: Test images evaluated after every epoch; -1 keeps the schedule's, 0
            uses all 10,000.
        batch_size: Examples per step (the paper's 100).
        learning_rate: Adam's rate before the decay (the authors' default 0.001).
        seed: Seeds weights, noise, dropout, the batch order and the subsets; 0 to 2**32 - 1.
        init_examples: Training images the data-dependent init sees (the authors' 500).
        output_dir: Folder that receives `<run_name>/metrics.json` and `history.csv`;
            `None` writes nothing.
        archive: Offline CIFAR-10 archive; `None` uses `$LABKIT_CIFAR10_ARCHIVE` or Keras.
        run_name: Name of the run's folder; defaults to the normalization's run name.
        jit_compile: Keras' `compile(jit_compile=...)`: `True` (XLA), `False`, or `"auto"`
            (the default), resolved by `labkit.speed.resolve_speed` as for every labkit run.
        steps_per_execution: Keras' `compile(steps_per_execution=...)`: optimizer steps per
            call into the compiled step, an integer >= 1 or `"auto"` (the default, resolved
            by `labkit.speed.resolve_speed`: 32 on TensorFlow and JAX for runs of >= 1,000
            steps, such as the `gpu` and `full` schedules, else 1).

    Example:

    >>> PaperParams(schedule="full").epochs_to_run
    200
    >>> PaperParams(batch_size=0)
    Traceback (most recent call last):
        ...
    ValueError: Invalid value for `batch_size`: expected an integer >= 1. Received: `batch_size=0`
    """

    normalization: str = "weightnorm"
    schedule: str = "cpu"
    epochs: int = 0
    train_limit: int = -1
    test_limit: int = -1
    batch_size: int = 100
    learning_rate: float = 0.001
    seed: int = 0
    init_examples: int = 500
    output_dir: str | None = None
    archive: str | None = None
    run_name: str | None = None
    jit_compile: bool | str = AUTO
    steps_per_execution: int | str = AUTO

    def __post_init__(self):
        check_choice("normalization", self.normalization, NORMALIZATIONS)
        check_choice("schedule", self.schedule, tuple(SCHEDULES))
        check_int("epochs", self.epochs, minimum=0)
        for name in ("train_limit", "test_limit"):
            value = getattr(self, name)
            valid = is_int(value) and (value in (-1, 0) or value >= 10)
            check(name, value, valid, "-1 (the schedule's), 0 (all) or an integer >= 10")
        check_int("batch_size", self.batch_size, minimum=1)
        check_int("seed", self.seed, minimum=0, maximum=MAX_SEED)
        check_int("init_examples", self.init_examples, minimum=2)
        check_run_fields(self)

    @property
    def plan(self) -> PaperSchedule:
        """The schedule this run follows, with `epochs` and the limits applied.

        Example:

        >>> PaperParams(schedule="gpu", epochs=30).plan.decay_start
        15
        """
        preset = SCHEDULES[self.schedule]
        return dataclasses.replace(
            preset,
            epochs=self.epochs or preset.epochs,
            train_limit=preset.train_limit if self.train_limit == -1 else self.train_limit,
            test_limit=preset.test_limit if self.test_limit == -1 else self.test_limit,
        )

    @property
    def epochs_to_run(self) -> int:
        return self.plan.epochs

    @property
    def train_images(self) -> int:
        """Training images used: the limit, or 0 for all of them."""
        return self.plan.train_limit

    @property
    def test_images(self) -> int:
        """Test images used: the limit, or 0 for all of them."""
        return self.plan.test_limit

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> PaperParams:
        """Builds parameters from a mapping; an unknown name raises, listing the valid ones.

        Example:

        >>> PaperParams.from_dict({"normalization": "batchnorm"}).run_name
        'batchnorm'
        """
        known = sorted(field.name for field in dataclasses.fields(cls))
        unknown = sorted(set(values) - set(known))
        if unknown:
            name = unknown[0]
            raise ValueError(
                f"Unknown parameter `{name}`. Valid parameters: {', '.join(known)}. "
                f"Received: `{name}={values[name]!r}`"
            )
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (what `metrics.json` stores under `params`)."""
        return dataclasses.asdict(self)

    def check_output_dir(self) -> None:
        """Raises `ValueError` unless `output_dir` is unset or can be written or created."""
        problem = writable_dir_problem(self.output_dir) if self.output_dir else None
        expected = f"a folder that can be written or created ({problem})"
        check("output_dir", self.output_dir, problem is None, expected)


def paper_runs(normalization: str = "all", **params) -> list[PaperParams]:
    """The runs a notebook asks for: one normalization, or `"all"` four one after the other.

    Raises:
        ValueError: one line naming the parameter and what is allowed, before any work.

    Example:

    >>> [run.run_name for run in paper_runs("all", schedule="cpu")]
    ['regular', 'weightnorm', 'batchnorm', 'weightnorm_meanonly']
    """
    check_choice("normalization", normalization, NOTEBOOK_NORMALIZATIONS)
    picked = NORMALIZATIONS if normalization == "all" else (normalization,)
    runs = [PaperParams.from_dict({**params, "normalization": name}) for name in picked]
    runs[0].check_output_dir()  # the runs share it
    return runs
