"""Each training step's own metric values, recovered exactly from the running means Keras reports.

After every training batch (with `steps_per_execution=k`, after every `k` batches: once per
execution), Keras hands the callbacks each training metric's mean over the epoch so far,
weighted by batch size: after `N_t` examples, `m_t = S_t / N_t`, where `S_t` sums the metric
over those examples. Curves of these running means restart at every epoch and flatten as the
epoch goes on. The mean over the examples since the previous report is, exactly,

    v_t = (m_t · N_t − m_(t−1) · N_(t−1)) / (N_t − N_(t−1)),

which `StepValues` computes in float64: each batch's own value, or with `steps_per_execution`
each execution's mean. Keras rounds `m_t` to float32, so `v_t` carries an error of about
`t · 1e-7` of `m_t` (2e-4 of it after the 1,563 batches of a CIFAR-10 epoch at batch 32).

`EpochExamples` says how many examples `N_t` the means average after a given batch: from the
batch size and the epoch's size when they are given (`labkit.run_experiment` knows them), else
read from Keras' own loss tracker twice per fit (after the first execution and the last one of
the first epoch; on JAX after asking the trainer to hand its state back). Every batch of an
epoch but the last is taken to hold the same number of examples, as with arrays, `PyDataset`s
and batched `tf.data` datasets. Where neither is known (a model without a loss tracker) the
means are weighted by batches, which is exact whenever the batches are of one size.

`labkit.recording.StepRecorder` writes these values to `metrics.json`; `labkit.LivePlot` draws
them.

Example:

>>> values = StepValues()
>>> values.after({"loss": 2.0}, seen=32)  # the first batch: its own mean
({'loss': 2.0}, 32.0)
>>> values.after({"loss": 1.5}, seen=64)  # the second batch's loss was 1.0
({'loss': 1.0}, 32.0)
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["StepValues", "EpochExamples", "examples_counted"]


class StepValues:
    """The mean of each metric over the examples since the previous call, from running means.

    Call `start_epoch` when an epoch begins (Keras resets its means then), then `after` with the
    logs of every `on_train_batch_end`.

    Example:

    >>> values = StepValues()
    >>> values.after({"loss": 3.0, "accuracy": 0.5}, seen=4)
    ({'loss': 3.0, 'accuracy': 0.5}, 4.0)
    >>> values.after({"loss": 2.5, "accuracy": 0.5}, seen=6)  # a last batch of 2 examples
    ({'loss': 1.5, 'accuracy': 0.5}, 2.0)
    """

    def __init__(self):
        self._sums: dict[str, float] = {}
        self._seen = 0.0

    def start_epoch(self) -> None:
        """Forgets the epoch so far: the next running means start from zero examples."""
        self._sums = {}
        self._seen = 0.0

    def after(self, means: Mapping[str, float], seen: float) -> tuple[dict[str, float], float]:
        """The values of the examples since the previous call, and how many examples those are.

        Args:
            means: Each metric's running mean over the epoch so far (Keras' `logs`).
            seen: The examples those means average (or the batches, when every batch holds
                as many examples).

        Returns an empty dict when `seen` did not grow (nothing new to recover).
        """
        seen = float(seen)
        count = seen - self._seen
        if not count > 0:
            return {}, 0.0
        values = {}
        for name, mean in means.items():
            total = float(mean) * seen
            values[name] = (total - self._sums.get(name, 0.0)) / count
            self._sums[name] = total
        self._seen = seen
        return values, count


class EpochExamples:
    """How many examples Keras' running means average after each `on_train_batch_end`.

    Args:
        batch_size: Examples per batch, if known.
        examples: Examples per epoch, if known (the last batch holds the rest).

    Example:

    >>> counter = EpochExamples(batch_size=32, examples=100)
    >>> counter.start_epoch()
    >>> [counter.seen(None, batch, steps=4) for batch in range(4)]  # sizes given: no model read
    [32.0, 64.0, 96.0, 100.0]
    """

    def __init__(self, batch_size: int | None = None, examples: int | None = None):
        self._given = (batch_size, examples)
        self.batch_size: float | None = batch_size
        self.examples: float | None = examples
        self._first = True

    def start_fit(self) -> None:
        """Forgets what was read from an earlier `fit` (it may have trained on other data)."""
        self.batch_size, self.examples = self._given
        self._first = True

    def start_epoch(self) -> None:
        """Marks the next call as the epoch's first."""
        self._first = True

    def seen(self, model, batch: int, steps: int | None) -> float:
        """The examples averaged after batch `batch` (0-based, the execution's last) of the epoch.

        Reads Keras' loss tracker only while the sizes are unknown: after the first execution
        of a fit (unless it is also the epoch's last), and after the epoch's last execution.
        In batches (`batch + 1`) when the batch size cannot be known.
        """
        last = steps is not None and batch >= steps - 1
        first, self._first = self._first, False
        if self.batch_size is None and first and not last:
            count = examples_counted(model)
            if count:
                self.batch_size = count / (batch + 1)
        if self.batch_size is None:
            return float(batch + 1)
        if last and self.examples is None:
            self.examples = examples_counted(model)
        seen = (batch + 1) * self.batch_size
        return float(min(seen, self.examples) if self.examples else seen)


def examples_counted(model) -> float | None:
    """The examples Keras' loss tracker has averaged in this epoch, or `None` without one.

    Example:

    >>> examples_counted(model)  # in `on_train_batch_end` after 3 batches of 32
    96.0
    """
    from labkit._keras_compat import read_variable

    tracker = next(
        (metric for metric in getattr(model, "metrics", ()) if metric.name == "loss"), None
    )
    count = getattr(tracker, "count", None)
    if count is None:
        return None
    # JAX's trainer holds the metrics' state apart during `fit` until asked to write it back.
    sync = getattr(model, "jax_state_sync", None)
    if sync is not None:
        sync()
    return float(read_variable(count))
