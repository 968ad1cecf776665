"""labkit._keras_compat: the private Keras APIs labkit uses still exist and behave as expected.

When a Keras upgrade moves or changes one of them, these tests fail with the installed
Keras version in the message; `labkit/_keras_compat.py` is then the only file to adapt.
"""

from __future__ import annotations

import re
from pathlib import Path

import keras
import pytest
from keras import layers
from packaging.specifiers import SpecifierSet

from labkit import _keras_compat as compat

ROOT = Path(__file__).resolve().parents[1]
KERAS = f"Keras {keras.__version__}"


def test_installed_keras_is_in_the_tested_range():
    assert keras.__version__ in SpecifierSet(compat.TESTED_KERAS), (
        f"{KERAS} is outside the range labkit is tested with (keras{compat.TESTED_KERAS}): "
        "run the suite, adapt labkit/_keras_compat.py, then widen the pin"
    )


def test_requirements_and_pyproject_pin_the_tested_range():
    requirements = (ROOT / "requirements.txt").read_text()
    (pinned,) = re.findall(r"^keras(\S+)", requirements, flags=re.MULTILINE)
    assert pinned == compat.TESTED_KERAS
    assert f'"keras{compat.TESTED_KERAS}",' in (ROOT / "pyproject.toml").read_text()


def test_get_stateless_scope_returns_the_active_scope():
    assert compat.get_stateless_scope() is None, KERAS
    with keras.StatelessScope() as scope:
        assert compat.get_stateless_scope() is scope, KERAS


def test_autocast_scope_none_reads_variables_in_their_own_dtype():
    variable = keras.Variable([1.0, 2.0], dtype="float32")
    with compat.AutocastScope("float16"):
        assert keras.backend.standardize_dtype(variable.value.dtype) == "float16", KERAS
        with compat.AutocastScope(None):
            assert keras.backend.standardize_dtype(variable.value.dtype) == "float32", KERAS


def test_flatten_layers_walks_nested_models():
    inner = keras.Sequential([keras.Input((3,)), layers.Dense(2, name="inner_dense")])
    inputs = keras.Input((3,))
    outer = keras.Model(inputs, layers.Dense(1, name="outer_dense")(inner(inputs)))

    names = [layer.name for layer in compat.flatten_layers(outer)]

    assert names[0] == outer.name, KERAS
    assert {"inner_dense", "outer_dense", inner.name} <= set(names), f"{KERAS}: {names}"
    assert outer.name not in [layer.name for layer in compat.flatten_layers(outer, False)]


def test_a_moved_api_fails_naming_the_keras_version():
    message = rf"`keras\.layers\.Layer\._moved_away`.*Keras {re.escape(keras.__version__)} "
    with pytest.raises(ImportError, match=message):
        compat.private_api("keras.layers", "Layer._moved_away")
    with pytest.raises(ImportError, match=re.escape(compat.TESTED_KERAS)):
        compat.private_api("keras.src.no_such_module", "anything")


def test_value_reader_reads_the_values_as_they_are_at_each_call():
    kernel, scale = keras.Variable([[1.0, 2.0]]), keras.Variable(3.0)
    read = compat.value_reader(lambda: [keras.ops.convert_to_tensor(kernel), scale * 2.0])
    first = read()
    kernel.assign([[4.0, 5.0]])
    scale.assign(0.5)
    second = read()  # a traced graph reads the variables again, it keeps no values
    assert [value.tolist() for value in first] == [[[1.0, 2.0]], 6.0], KERAS
    assert [value.tolist() for value in second] == [[[4.0, 5.0]], 1.0], KERAS
