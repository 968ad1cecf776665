"""Keras schedules of the optimizer step for the paper's training schedule.

`HeldThenLinearDecay` is the authors' learning rate, `lr * min(2 - epoch / 100, 1)` for 200
epochs, at any length; `epoch_switch` changes a value (Adam's `beta_1`) at an epoch. Both are
`keras.optimizers.schedules.LearningRateSchedule`s: called with the optimizer's step inside the
training step, serializable with the optimizer. `labkit.paper.schedule.PaperSchedule` makes them.

Example:

>>> from labkit.paper.step_schedules import HeldThenLinearDecay, epoch_switch
>>> learning_rate = HeldThenLinearDecay(0.001, steps_per_epoch=500, epochs=200, decay_start=100)
>>> beta_1 = epoch_switch(0.9, 0.5, epoch=100, steps_per_epoch=500)
"""

from __future__ import annotations

import keras
from keras import ops

from labkit._checks import check, check_int

__all__ = ["HeldThenLinearDecay", "epoch_switch"]


@keras.saving.register_keras_serializable(package="labkit")
class HeldThenLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """A learning rate held until epoch `decay_start`, then decayed linearly, once per epoch,
    to zero at epoch `epochs` (the authors' `lr * min(2 - epoch / 100, 1)` for 200 epochs).

    Args:
        initial_learning_rate: The rate before the decay.
        steps_per_epoch: Optimizer steps in one epoch.
        epochs: The epoch at which the rate would reach zero (the training length).
        decay_start: The first epoch (from 0) with a lower rate.

    Example:

    >>> schedule = HeldThenLinearDecay(0.001, steps_per_epoch=10, epochs=4, decay_start=2)
    >>> [round(float(schedule(step)), 6) for step in (0, 19, 20, 30)]
    [0.001, 0.001, 0.001, 0.0005]
    """

    def __init__(
        self, initial_learning_rate: float, steps_per_epoch: int, epochs: int, decay_start: int
    ):
        check_int("steps_per_epoch", steps_per_epoch, minimum=1)
        check_int("epochs", epochs, minimum=1)
        check_int("decay_start", decay_start, minimum=0, maximum=epochs)
        self.initial_learning_rate = float(initial_learning_rate)
        self.steps_per_epoch = steps_per_epoch
        self.epochs = epochs
        self.decay_start = decay_start

    def __call__(self, step):
        epoch = ops.floor_divide(ops.cast(step, "float32"), float(self.steps_per_epoch))
        decay_epochs = self.epochs - self.decay_start
        if decay_epochs == 0:
            return ops.cast(self.initial_learning_rate, "float32")
        factor = ops.clip((self.epochs - epoch) / float(decay_epochs), 0.0, 1.0)
        return self.initial_learning_rate * factor

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "steps_per_epoch": self.steps_per_epoch,
            "epochs": self.epochs,
            "decay_start": self.decay_start,
        }


def epoch_switch(before: float, after: float, epoch: int, steps_per_epoch: int):
    """A Keras schedule that is `before` until epoch `epoch` (from 0) and `after` from it on.

    It is `keras.optimizers.schedules.PiecewiseConstantDecay`, whose boundary is the last
    step that keeps the first value (the optimizer passes the steps done before the current
    one, so the first step of epoch `epoch` is step `epoch * steps_per_epoch`).

    Example:

    >>> beta_1 = epoch_switch(0.9, 0.5, epoch=2, steps_per_epoch=10)
    >>> [round(float(beta_1(step)), 2) for step in (19, 20)]
    [0.9, 0.5]
    """
    check_int("epoch", epoch, minimum=1)
    check_int("steps_per_epoch", steps_per_epoch, minimum=1)
    check("after", after, 0 <= after < 1, "a number in [0, 1)")
    return keras.optimizers.schedules.PiecewiseConstantDecay(
        [epoch * steps_per_epoch - 1], [float(before), float(after)]
    )
