"""`PaperAdam`: Adam as the paper's code computes it, with a `beta_1` that can follow a schedule.

The authors' `nn.adam_updates` (`openai/weightnorm`, `lasagne/nn.py`) differs from Keras'
`Adam` in where epsilon goes, `m_hat / sqrt(v_hat + 1e-8)` against Keras'
`m_hat / (sqrt(v_hat) + epsilon)`, and their `train.py` changes `beta_1` from 0.9 to 0.5
halfway through training. Keras 3's `Adam` has no way to do the second reliably: it reads
`beta_1` as a number when the training step is traced, so on TensorFlow and JAX assigning
`optimizer.beta_1 = 0.5` from a callback changes nothing (on PyTorch, which runs eagerly, it
does); a `keras.Variable` as `beta_1`, assigned from a callback, works on all three but the
optimizer can then no longer be serialized (`get_config` fails on JAX and PyTorch), so the
model cannot be saved. `tests/paper/test_optimizer.py` checks all three behaviours.
`PaperAdam` takes `beta_1` as a number or as a Keras schedule of the step (like the learning
rate), evaluated inside the step.
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["PaperAdam", "PAPER_EPSILON"]

# `g_t = v_hat / T.sqrt(mg_hat + 1e-8)` in nn.adam_updates.
PAPER_EPSILON = 1e-8


@keras.saving.register_keras_serializable(package="labkit")
class PaperAdam(keras.optimizers.Adam):
    """Adam with epsilon inside the square root and a `beta_1` that may follow a schedule.

    Each step `t` (from 1) updates `m = beta_1 m + (1 - beta_1) grad` and
    `v = beta_2 v + (1 - beta_2) grad^2`, then the variable by
    `-learning_rate * m_hat / sqrt(v_hat + epsilon)`, with `m_hat = m / (1 - beta_1^t)` and
    `v_hat = v / (1 - beta_2^t)`, where `beta_1` is its value at this step: this is the
    authors' `nn.adam_updates`.

    Args:
        learning_rate: A number or a `keras.optimizers.schedules.LearningRateSchedule`.
        beta_1: A number, or a schedule (any `LearningRateSchedule`, e.g.
            `labkit.paper.schedule.epoch_switch`) called with the steps done so far.
        beta_2: Decay of the second moment.
        epsilon: Added to `v_hat` under the square root (the authors' 1e-8).
        **kwargs: Other `keras.optimizers.Adam` arguments (not `amsgrad`).

    Example:

    >>> from labkit.paper.step_schedules import epoch_switch
    >>> beta_1 = epoch_switch(0.9, 0.5, epoch=100, steps_per_epoch=500)
    >>> optimizer = PaperAdam(0.001, beta_1=beta_1)
    >>> optimizer.beta_1_at(50_000)  # the first step of epoch 100
    0.5
    """

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2: float = 0.999,
        epsilon: float = PAPER_EPSILON,
        **kwargs,
    ):
        if kwargs.get("amsgrad"):
            raise ValueError("PaperAdam does not support AMSGrad. Received: `amsgrad=True`")
        if isinstance(beta_1, dict):  # from `get_config`
            beta_1 = keras.saving.deserialize_keras_object(beta_1)
        super().__init__(
            learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, **kwargs
        )

    def _current_beta_1(self):
        if callable(self.beta_1):
            return self.beta_1(self.iterations)
        return self.beta_1

    def beta_1_at(self, step: int) -> float:
        """`beta_1` at optimizer step `step` (the steps done before it), as a number."""
        value = self.beta_1(step) if callable(self.beta_1) else self.beta_1
        return float(ops.convert_to_numpy(value))

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        learning_rate = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        beta_1 = ops.cast(self._current_beta_1(), dtype)
        beta_2 = ops.cast(self.beta_2, dtype)

        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - beta_2))
        m_hat = ops.divide(m, 1 - ops.power(beta_1, step))
        v_hat = ops.divide(v, 1 - ops.power(beta_2, step))
        self.assign_sub(
            variable,
            ops.divide(ops.multiply(learning_rate, m_hat), ops.sqrt(ops.add(v_hat, self.epsilon))),
        )

    def get_config(self):
        config = super().get_config()
        if callable(self.beta_1):
            config["beta_1"] = keras.saving.serialize_keras_object(self.beta_1)
        config.pop("amsgrad", None)
        return config
