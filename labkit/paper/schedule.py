"""The paper's training schedule, at any length: the learning rate held, then decayed linearly
to zero, and Adam's `beta_1` 0.9, then 0.5.

The authors' `train.py` trains 200 epochs; in epoch `e` (from 0) the learning rate is
`lr * min(2 - e / 100, 1)` and `beta_1` is 0.9 before epoch 100 and 0.5 from it. So the
second half of the epochs decays the rate, one step per epoch, from `lr` to `lr / 100` in the
last epoch. `PaperSchedule` keeps that shape for any number of epochs `E`: the decay starts
at epoch `D = E - E // 2` and epoch `e >= D` uses `lr * (E - e) / (E - D)`.

`SCHEDULES` names the lengths labkit offers: `"cpu"` (a few minutes on a laptop, on a subset
of CIFAR-10), `"gpu"` (about ten minutes of one H200 for all four normalizations) and
`"full"` (the paper's 200 epochs). `keras_schedules` turns one into Keras schedules of the
optimizer step (`labkit.paper.step_schedules`), which hold on every backend, with
`jit_compile` and `steps_per_execution`, and need no callback. This module does not import
Keras, so that parameters are checked fast.

Example:

>>> schedule = SCHEDULES["full"]
>>> schedule.decay_start, schedule.learning_rate_factor(150), schedule.beta_1(150)
(100, 0.5, 0.5)
"""

from __future__ import annotations

from dataclasses import dataclass

from labkit._checks import check_int

__all__ = [
    "PaperSchedule",
    "SCHEDULES",
    "BETA_1",
    "BETA_1_DECAY",
]

# `mom1 = 0.9` for the first half of the epochs, `0.5` for the second (train.py).
BETA_1 = 0.9
BETA_1_DECAY = 0.5


@dataclass(frozen=True)
class PaperSchedule:
    """A training length in the paper's shape, and the data it trains on.

    Args:
        name: The schedule's name.
        epochs: Passes over the training set.
        train_limit: Training images (balanced over classes); 0 uses all 50,000.
        test_limit: Test images evaluated after each epoch; 0 uses all 10,000.

    Example:

    >>> PaperSchedule("short", epochs=26).decay_start
    13
    """

    name: str
    epochs: int
    train_limit: int = 0
    test_limit: int = 0

    def __post_init__(self):
        check_int("epochs", self.epochs, minimum=1)
        check_int("train_limit", self.train_limit, minimum=0)
        check_int("test_limit", self.test_limit, minimum=0)

    @property
    def decay_start(self) -> int:
        """The first epoch (from 0) with a decayed learning rate and `beta_1` 0.5."""
        return self.epochs - self.epochs // 2

    def learning_rate_factor(self, epoch: int) -> float:
        """The factor on the learning rate in epoch `epoch` (from 0).

        Example:

        >>> [PaperSchedule("s", 4).learning_rate_factor(e) for e in range(4)]
        [1.0, 1.0, 1.0, 0.5]
        """
        decay_epochs = self.epochs - self.decay_start
        if epoch < self.decay_start or decay_epochs == 0:
            return 1.0
        return max(self.epochs - epoch, 0) / decay_epochs

    def beta_1(self, epoch: int) -> float:
        """Adam's `beta_1` in epoch `epoch` (from 0)."""
        return BETA_1 if epoch < self.decay_start else BETA_1_DECAY

    def keras_schedules(self, learning_rate: float, steps_per_epoch: int) -> tuple:
        """The learning rate and `beta_1` as Keras schedules of the optimizer step.

        Example:

        >>> lr, beta_1 = SCHEDULES["full"].keras_schedules(0.001, steps_per_epoch=500)
        >>> optimizer = PaperAdam(lr, beta_1=beta_1)  # doctest: +SKIP
        """
        from labkit.paper.step_schedules import HeldThenLinearDecay, epoch_switch

        learning_rate_schedule = HeldThenLinearDecay(
            learning_rate, steps_per_epoch, self.epochs, self.decay_start
        )
        beta_1 = epoch_switch(BETA_1, BETA_1_DECAY, self.decay_start, steps_per_epoch)
        return learning_rate_schedule, beta_1


SCHEDULES = {
    schedule.name: schedule
    for schedule in (
        PaperSchedule("cpu", epochs=4, train_limit=1000, test_limit=500),
        PaperSchedule("gpu", epochs=26),
        PaperSchedule("full", epochs=200),
    )
}
