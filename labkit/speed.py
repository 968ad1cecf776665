"""How a training step is executed: `jit_compile` and `steps_per_execution`, with `"auto"`
resolved to what measured fastest for the backend and the machine.

Both are Keras' own `Model.compile` arguments. `"auto"` resolves them from what
`benchmarks/training_speed.py` measured on the tutorial's ConvNets (process CPU time per step,
pinned to one core; `docs/speed.md` has the numbers):

- **TensorFlow**: `steps_per_execution=32` (one call into the graph per 32 steps instead of
  one per step) for runs of at least `MULTI_STEP_MIN_STEPS` steps; a shorter run (a quick
  panel run) keeps one step per call, because tracing the 32-step loop costs about as much
  as it saves there and moves the first drawn point later. XLA (`jit_compile=True`) only
  where it pays: on a GPU, or on a CPU whose TensorFlow kernels are Eigen's, for runs of at
  least `XLA_MIN_STEPS` steps (XLA's compile takes seconds, which a short run does not win
  back). Where TensorFlow runs its oneDNN kernels (x86 CPUs with AVX-512 VNNI, BF16 or AMX,
  the default there), XLA's CPU code is slower than they are, so `"auto"` keeps XLA off.
- **JAX**: Keras' compiled step (`jit_compile=True`), and `steps_per_execution=32` as on
  TensorFlow.
- **PyTorch**: Keras' own default there, the eager step (`jit_compile=True`, which means
  `torch.compile`, is left to an explicit choice), and `steps_per_execution=1`, the only
  value Keras' PyTorch trainer accepts.

Example:

>>> from labkit.speed import resolve_speed
>>> resolve_speed("auto", "auto", steps=15_630)  # doctest: +SKIP
Speed(jit_compile=False, steps_per_execution=32)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from labkit._checks import check, is_int

__all__ = [
    "AUTO",
    "AUTO_STEPS_PER_EXECUTION",
    "MULTI_STEP_MIN_STEPS",
    "XLA_MIN_STEPS",
    "Speed",
    "check_speed",
    "resolve_speed",
]

AUTO = "auto"
# Steps per call into the compiled training function that `"auto"` picks (TensorFlow, JAX).
AUTO_STEPS_PER_EXECUTION = 32
# The fewest steps of a run for which `"auto"` runs several steps per call: a one-epoch run of
# 63 steps took 2.4 s CPU with 32 steps per call against 2.1 s with one (regular ConvNet;
# 3.2 s against 2.8 s WeightNorm), while 32 saved 0.9-1.9 ms a step.
MULTI_STEP_MIN_STEPS = 1_000
# The fewest steps of a run for which `"auto"` turns XLA on, on a CPU with Eigen's kernels:
# XLA's compile cost 3-7 s more in the first epoch and saved about 4 ms a step, so it pays
# back after roughly 700-1,800 steps; this leaves a margin (the tutorial is 15,630 steps).
XLA_MIN_STEPS = 5_000


@dataclass(frozen=True)
class Speed:
    """Resolved `Model.compile` settings: what a run actually compiles with.

    Example:

    >>> model.compile("adam", "mse", **Speed(False, 32).compile_arguments())  # doctest: +SKIP
    """

    jit_compile: bool
    steps_per_execution: int

    def compile_arguments(self) -> dict[str, Any]:
        """Keyword arguments for `Model.compile`."""
        return {"jit_compile": self.jit_compile, "steps_per_execution": self.steps_per_execution}


def check_speed(jit_compile: Any, steps_per_execution: Any) -> None:
    """Raises a one-line `ValueError` naming the parameter unless the values are allowed:
    `jit_compile` `"auto"`, `True` or `False`; `steps_per_execution` `"auto"` or an integer
    >= 1 (1 on PyTorch, whose Keras trainer runs one step per call).

    Example:

    >>> check_speed("auto", 32)
    >>> check_speed("yes", 1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: Invalid value for `jit_compile`: expected 'auto', True or False. Received: ...
    """
    ok = jit_compile == AUTO or isinstance(jit_compile, bool)
    check("jit_compile", jit_compile, ok, "'auto', True or False")
    ok = steps_per_execution == AUTO or (is_int(steps_per_execution) and steps_per_execution >= 1)
    check("steps_per_execution", steps_per_execution, ok, "'auto' or an integer >= 1")
    if is_int(steps_per_execution) and steps_per_execution > 1 and _backend() == "torch":
        check(
            "steps_per_execution",
            steps_per_execution,
            False,
            "'auto' or 1 on the PyTorch backend (Keras runs one step per call there)",
        )


def resolve_speed(
    jit_compile: Any = AUTO, steps_per_execution: Any = AUTO, steps: int = 0
) -> Speed:
    """The settings a run of `steps` optimizer steps compiles with; explicit values pass through.

    Args:
        jit_compile: `"auto"`, `True` or `False`.
        steps_per_execution: `"auto"` or an integer >= 1.
        steps: Optimizer steps the run will take (epochs x batches per epoch); short runs keep
            one step per call, and XLA off, where the extra tracing or compiling would not pay
            back.

    Example:

    >>> resolve_speed(False, 1)
    Speed(jit_compile=False, steps_per_execution=1)
    """
    check_speed(jit_compile, steps_per_execution)
    backend = _backend()
    if jit_compile == AUTO:
        jit_compile = _auto_jit_compile(backend, steps)
    if steps_per_execution == AUTO:
        several = backend != "torch" and steps >= MULTI_STEP_MIN_STEPS
        steps_per_execution = AUTO_STEPS_PER_EXECUTION if several else 1
    return Speed(bool(jit_compile), int(steps_per_execution))


def _auto_jit_compile(backend: str, steps: int) -> bool:
    if backend == "jax":
        return True
    if backend != "tensorflow":
        return False
    if _tensorflow_has_accelerator():
        return True
    return not tensorflow_uses_onednn() and steps >= XLA_MIN_STEPS


def _backend() -> str:
    import keras

    return keras.backend.backend()


@functools.cache
def _tensorflow_has_accelerator() -> bool:
    import tensorflow as tf

    return any(device.device_type != "CPU" for device in tf.config.list_physical_devices())


def tensorflow_uses_onednn() -> bool:
    """Whether TensorFlow runs its oneDNN CPU kernels (`TF_ENABLE_ONEDNN_OPTS`, on by default on
    x86 CPUs with AVX-512 VNNI, BF16 or AMX).

    Example:

    >>> tensorflow_uses_onednn()  # doctest: +SKIP
    True
    """
    from labkit._keras_compat import tensorflow_onednn_enabled

    return tensorflow_onednn_enabled()
