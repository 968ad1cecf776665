"""Weight normalization's mechanism, measured while a model trains: ‖v‖, g and the effective step.

With `w = g · v / ‖v‖`, the gradient with respect to `v` is orthogonal to `v`, so every plain
gradient step makes `‖v‖` grow (Salimans & Kingma, 2016, section 2.1). A longer `v` shrinks
the step that the same gradient makes in `w`: the effective step size falls as `‖v‖` grows,
which the paper credits for weight normalization's robustness to the learning rate.
`WeightNormProbe` measures this for every `labkit.WeightNormalization` layer of a model, every
`every` optimizer steps:

- `v_norm`: the mean over output units of `‖v‖` (the norm of each unit's direction vector);
- `g_mean`: the mean of `g` (each unit's length);
- `effective_step`: `‖w_t − w_(t−1)‖ / ‖w_(t−1)‖`, the relative change of the layer's weights
  `w` (its first normalized kernel) in the last update. With `steps_per_execution=k > 1` the
  weights can only be read between executions: the relative change over the last execution,
  divided by its `k` updates (the net change per update; for updates that point in different
  directions, less than each one's own).

`LivePlot(diagnostics=True)` draws them as a row of the live figure and adds one value per
epoch to Keras' logs, which `labkit.run_experiment` writes to `history.csv` and `metrics.json`.
The probe computes each layer's `w`, mean `‖v‖` and mean `g` with the layer's own methods
(`normalized_kernels`, `kernel_norm`), all layers in one backend call (`value_reader`: one
traced graph on TensorFlow), and copies them to the host, so it only measures every `every`
steps, and on the step before each of those (with `steps_per_execution`, at the first
execution boundary at or past each multiple of `every`, and at the boundary before). On JAX,
where `fit` keeps
the weights out of the model's variables between epochs, it first asks the trainer to put
them back (`jax_state_sync`, the trainer's own hook for callbacks).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import keras
import numpy as np

from labkit._checks import check_int
from labkit._keras_compat import flatten_layers, value_reader
from labkit.live.diagnostics_row import DIAGNOSTIC_QUANTITIES, DIAGNOSTICS_PREFIX

__all__ = ["WeightNormProbe", "series_name", "stable_names", "DEFAULT_EVERY"]

# Optimizer steps between two measurements, by default: each reads the layers twice (once on
# the step before, for the effective step), one backend call of about 1.3 ms each for the
# tutorial's ConvNet on a 2-core CPU right after a step (whose work flushed the caches),
# against about 7.8 ms per step (one TensorFlow thread); every 100 steps keeps that near 0.35%
# of training (`benchmarks/liveplot_overhead.py`: 0.4% over the arm without diagnostics, their
# row's redraws included), and gives 15 points per epoch of full CIFAR-10 at batch 32.
DEFAULT_EVERY = 100


def series_name(layer: str, quantity: str) -> str:
    """The series (and log key) of one quantity of one layer, e.g. `"wn/dense/v_norm"`.

    Example:

    >>> series_name("conv2d", "effective_step")
    'wn/conv2d/effective_step'
    """
    return f"{DIAGNOSTICS_PREFIX}{layer}/{quantity}"


@dataclass
class _Layer:
    """One weight-normalized layer, and its `w` before the last step."""

    name: str
    wrapper: keras.layers.Layer  # the `labkit.WeightNormalization`
    before: np.ndarray | None = None
    before_step: int = 0  # the updates done when `before` was copied
    steps: list[float] = field(default_factory=list)


class WeightNormProbe:
    """Measures `‖v‖`, mean `g` and the effective step of every weight-normalized layer.

    Args:
        every: Optimizer steps between two measurements (an integer >= 1).

    Example:

    >>> probe = WeightNormProbe(every=10)
    >>> probe.attach(model)  # the series it will fill
    ['wn/conv2d/v_norm', 'wn/conv2d/g_mean', 'wn/conv2d/effective_step', ...]
    >>> probe.after_step(10)  # after the 10th update
    {'wn/conv2d/v_norm': 2.31, 'wn/conv2d/g_mean': 0.97, 'wn/conv2d/effective_step': 0.004, ...}
    """

    def __init__(self, every: int = DEFAULT_EVERY):
        check_int("diagnostics_every", every, minimum=1)
        self.every = every
        self.layers: list[_Layer] = []
        self._sync = None
        self._latest: tuple[int, dict[str, float]] | None = None
        self._read = None  # reads every layer in one backend call
        self._read_ids: list[int] = []  # the layers it reads
        self._step = 0  # the updates done at the last `after_step`
        self._span = 1  # the updates one call covers (the model's `steps_per_execution`)

    def attach(self, model: keras.Model) -> list[str]:
        """Finds the model's weight-normalized layers; returns the series it will fill.

        Called when training starts (the model must be built); a model without such
        layers gives no series.
        """
        self.layers = list(_probe_layers(model))
        wrappers = [layer.wrapper for layer in self.layers]
        if [id(wrapper) for wrapper in wrappers] != self._read_ids:
            # Retrained in a notebook, a model is attached again at every `fit`: traced once.
            self._read_ids = [id(wrapper) for wrapper in wrappers]
            self._read = value_reader(lambda: [v for w in wrappers for v in _quantities(w)])
        self._latest = None
        self._step = 0
        self._span = int(getattr(model, "steps_per_execution", 1) or 1)
        # JAX's trainer holds the weights apart during `fit` until asked to write them back.
        self._sync = getattr(model, "jax_state_sync", None)
        if self._span // self.every > 0:
            self._remember()  # the weights before the first update: it is measured
        return [
            series_name(layer.name, quantity)
            for layer in self.layers
            for quantity in DIAGNOSTIC_QUANTITIES
        ]

    def after_step(self, step: int) -> dict[str, float]:
        """Called when `step` updates (1, 2, ...) are done: the measurements when one is due.

        Keras calls its callbacks once per execution: with `steps_per_execution=k`, `step`
        grows by `k` from one call to the next, and a measurement is due when it passed a
        multiple of `every`. The weights are also copied at the call before each measurement,
        for the effective step; other calls cost nothing.
        """
        last, self._step = self._step, step
        values = {}
        if step // self.every > last // self.every and self.layers:
            values = self.measure(step)
            self._latest = (step, values)
        if (step + self._span) // self.every > step // self.every:
            self._remember(step)
        return values

    def measure(self, step: int | None = None) -> dict[str, float]:
        """Every quantity of every layer now, `step` updates done.

        The effective step needs the weights copied before the last update(s): it is NaN
        without them, and with several updates since, the change divided by their number.
        """
        values = {}
        for layer, (w, v_norm, g_mean) in zip(self.layers, self._read_layers()):
            change = math.nan
            if layer.before is not None:
                scale = _norm(layer.before)
                updates = 1 if step is None else max(1, step - layer.before_step)
                change = _norm(w - layer.before) / scale / updates if scale else math.nan
                layer.steps.append(change)
                layer.before = None
            values[series_name(layer.name, "v_norm")] = v_norm
            values[series_name(layer.name, "g_mean")] = g_mean
            values[series_name(layer.name, "effective_step")] = change
        return values

    def epoch_summary(self, step: int | None = None) -> dict[str, float]:
        """One value per quantity and layer for the epoch that ends, for Keras' logs.

        `v_norm` and `g_mean` as they are now (the weights are not read again when `step`, the
        updates done, is the one last measured); `effective_step` the mean over the epoch's
        measurements (NaN when none fell in it). Starts the next epoch's mean afresh.
        """
        if self._latest is not None and step is not None and self._latest[0] == step:
            current = self._latest[1]
        else:
            current = {}
            for layer, (_, v_norm, g_mean) in zip(self.layers, self._read_layers()):
                current[series_name(layer.name, "v_norm")] = v_norm
                current[series_name(layer.name, "g_mean")] = g_mean
        summary = {}
        for layer in self.layers:
            steps = [step for step in layer.steps if not math.isnan(step)]
            for quantity in ("v_norm", "g_mean"):
                name = series_name(layer.name, quantity)
                summary[name] = current[name]
            summary[series_name(layer.name, "effective_step")] = (
                float(np.mean(steps)) if steps else math.nan
            )
            layer.steps.clear()
        return summary

    def _remember(self, step: int = 0) -> None:
        for layer, (w, _, _) in zip(self.layers, self._read_layers()):
            layer.before, layer.before_step = w, step

    def _read_layers(self) -> list[tuple[np.ndarray, float, float]]:
        """Each layer's `w` (a float32 NumPy array), mean `‖v‖` and mean `g`."""
        if not self.layers:
            return []
        if self._sync is not None:
            self._sync()
        arrays = self._read()
        return [
            (np.asarray(w, dtype=np.float32), float(v_norm), float(g_mean))
            for w, v_norm, g_mean in zip(arrays[::3], arrays[1::3], arrays[2::3])
        ]


def _probe_layers(model: keras.Model) -> Iterator[_Layer]:
    """The model's built weight-normalized layers."""
    from labkit.weightnorm import WeightNormalization

    wrappers = [
        layer
        for layer in flatten_layers(model, include_self=False)
        if isinstance(layer, WeightNormalization) and layer.built
    ]
    names = stable_names([wrapper.layer for wrapper in wrappers])
    for wrapper, name in zip(wrappers, names):
        yield _Layer(name, wrapper)


def _quantities(wrapper) -> list:
    """`w`, the mean over units of `‖v‖` and the mean of `g` of a layer's first normalized
    kernel, as backend tensors (float32)."""
    v = wrapper.kernel_variables[0]
    w = wrapper.normalized_kernels()[0]
    v_norm = keras.ops.mean(wrapper.kernel_norm(v.value))
    return [w, v_norm, keras.ops.mean(keras.ops.cast(wrapper.g, "float32"))]


def stable_names(layers: list[keras.layers.Layer]) -> list[str]:
    """The layers' names, with the numbers Keras appends to automatic names counted afresh.

    Keras numbers automatic names across the whole process (`conv2d`, then `conv2d_1`, ...),
    so the same model built second is `conv2d_2`; the diagnostics' series and columns would
    then differ between runs. An automatic name (its class's, plus `_N`) is replaced by the
    name the layer would get in a model built first: the class's name, numbered by its place
    among the layers of that class here. Names given by hand are kept (and all the names are,
    should a renamed layer then share its name with one of those).

    Example:

    >>> stable_names([keras.layers.Dense(2), keras.layers.Dense(2, name="head")])
    ['dense', 'head']
    """
    seen: dict[str, int] = {}
    names = []
    for layer in layers:
        base = _snake_case(type(layer).__name__)
        if re.fullmatch(rf"{re.escape(base)}(_\d+)?", layer.name):
            count = seen.get(base, 0)
            seen[base] = count + 1
            names.append(f"{base}_{count}" if count else base)
        else:
            names.append(layer.name)
    if len(set(names)) < len(names):  # a name given by hand is another's automatic name
        return [layer.name for layer in layers]
    return names


def _snake_case(name: str) -> str:
    """`Conv2DTranspose` → `conv2d_transpose`, as Keras names layers."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _norm(values: np.ndarray) -> float:
    """The L2 norm of all values, summed in float64 (by NumPy: BLAS threads stall a busy CPU)."""
    return float(np.sqrt(np.square(values).sum(dtype=np.float64)))
