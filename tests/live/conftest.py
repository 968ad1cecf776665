"""Fixtures for the live-plot tests: tiny data and models, a clean environment, a fake kernel."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field

import pytest

from labkit.data import Dataset, load_dataset
from labkit.live import environment

# Variables that steer the renderer choice; each test starts without them.
STEERING_VARIABLES = ("LABKIT_LIVE", "JPY_SESSION_NAME", "VSCODE_PID")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """No renderer hints from the machine running the tests (a JupyterLab terminal, VS Code)."""
    for name in STEERING_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)


@pytest.fixture(scope="session")
def tiny_data(cifar10_env) -> Dataset:
    """200 training and 100 test images of the offline CIFAR-10 copy, one-hot labels."""
    archive, cache = cifar10_env["LABKIT_CIFAR10_ARCHIVE"], cifar10_env["LABKIT_CACHE_DIR"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LABKIT_CACHE_DIR", cache)
        return load_dataset("cifar10", labels="onehot", limit=200, test_limit=100, archive=archive)


@pytest.fixture
def compiled_convnet():
    """Builds a compiled tutorial ConvNet, seeded: `compiled_convnet(weight_norm=True)`."""
    import keras

    from labkit.models import build_convnet

    def build(weight_norm: bool = False, **kwargs):
        keras.utils.set_random_seed(0)
        model = build_convnet(weight_norm=weight_norm, **kwargs)
        model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
        return model

    return build


@dataclass
class FakeHandle:
    """Stands in for `IPython.display.DisplayHandle`, recording updates."""

    bundle: dict
    updates: list = field(default_factory=list)

    def update(self, bundle, raw=False):
        self.updates.append(bundle)


@dataclass
class FakeKernel:
    """A kernel as `labkit.live.environment` sees it, plus what was displayed in it."""

    displayed: list = field(default_factory=list)
    handles: list = field(default_factory=list)
    connection: dict = field(default_factory=dict)

    def display(self, *objects, raw=False, display_id=None, **kwargs):
        self.displayed.extend(objects)
        if display_id:
            handle = FakeHandle(objects[0])
            self.handles.append(handle)
            return handle
        return None


@pytest.fixture
def fake_kernel(monkeypatch) -> FakeKernel:
    """Pretends the code runs in an IPython kernel; collects `display` calls."""
    import ipykernel.connect
    import IPython.display

    kernel = FakeKernel()
    monkeypatch.setattr(environment, "in_kernel", lambda: True)
    monkeypatch.setattr(IPython.display, "display", kernel.display)
    monkeypatch.setattr(
        ipykernel.connect, "get_connection_info", lambda: json.dumps(kernel.connection)
    )
    return kernel
