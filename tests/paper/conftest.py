"""Fixtures for the tests of the paper's experiment: small whitened-like data, a tiny archive."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from labkit.data import CIFAR10_CLASSES, Dataset

# The smallest images the paper's ConvNet takes (8x8 after two pools, 6x6 after the valid
# convolution would need 32x32; 12x12 leaves 1x1), to keep the tests fast.
SMALL_IMAGE = (12, 12, 3)


@pytest.fixture(scope="session")
def small_whitened() -> Dataset:
    """600 training and 40 test images of 12x12, standard normal pixels, one-hot labels."""
    rng = np.random.default_rng(0)
    labels = np.arange(640) % 10
    return Dataset(
        name="small",
        x_train=rng.normal(size=(600, *SMALL_IMAGE)).astype("float32"),
        y_train=np.eye(10, dtype="float32")[labels[:600]],
        x_test=rng.normal(size=(40, *SMALL_IMAGE)).astype("float32"),
        y_test=np.eye(10, dtype="float32")[labels[600:]],
        class_names=CIFAR10_CLASSES,
    )


@pytest.fixture
def tiny_archive(make_archive, tmp_path) -> Path:
    """A CIFAR-10-layout archive of 100 training and 50 test images (flat colours per class)."""
    return make_archive(tmp_path / "tiny-cifar10.tar.gz", {"train": 10, "test": 5})
