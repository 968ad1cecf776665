"""labkit.data: the Keras path, the offline archive, its cache, subsets and errors."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from labkit import data as data_module
from labkit.data import CIFAR10_CLASSES, DatasetError, load_dataset


def test_small_archive_decodes_to_training_arrays(small_archive, tmp_path):
    data = load_dataset("cifar10", archive=small_archive, cache_dir=tmp_path / "cache")

    assert data.x_train.shape == (30, 32, 32, 3) and data.x_test.shape == (20, 32, 32, 3)
    assert data.x_train.dtype == np.float32
    assert data.x_train.min() >= 0.0 and data.x_train.max() <= 1.0
    assert data.y_train.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(data.y_train), [3] * 10)
    # Each class was written as a flat colour 20 * label + 10: labels match their images.
    centre = np.round(data.x_train[:, 16, 16, 0] * 255)
    np.testing.assert_allclose(centre, 20 * data.y_train + 10, atol=3)
    assert data.class_names == CIFAR10_CLASSES
    assert data.input_shape == (32, 32, 3) and data.num_classes == 10


def test_onehot_labels(small_archive, tmp_path):
    data = load_dataset(
        "cifar10", labels="onehot", archive=small_archive, cache_dir=tmp_path / "cache"
    )
    assert data.y_train.shape == (30, 10)
    np.testing.assert_array_equal(data.y_train.sum(axis=1), 1)


def test_archive_is_decoded_once_then_read_from_cache(small_archive, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = load_dataset("cifar10", archive=small_archive, cache_dir=cache)
    assert len(list(cache.glob("cifar10-jpeg-*.npz"))) == 1

    def no_decoding(path):
        raise AssertionError("the cached arrays should have been used")

    monkeypatch.setattr(data_module, "_decode_archive", no_decoding)
    second = load_dataset("cifar10", archive=small_archive, cache_dir=cache)
    np.testing.assert_array_equal(first.x_train, second.x_train)


def test_environment_variables_point_to_archive_and_cache(small_archive, tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_CIFAR10_ARCHIVE", str(small_archive))
    monkeypatch.setenv("LABKIT_CACHE_DIR", str(tmp_path / "env-cache"))
    assert len(load_dataset("cifar10").x_train) == 30
    assert list((tmp_path / "env-cache").glob("*.npz"))


def test_limit_is_balanced_and_seeded(small_archive, tmp_path):
    kwargs = {"archive": small_archive, "cache_dir": tmp_path / "cache", "limit": 20}
    a = load_dataset("cifar10", seed=1, **kwargs)
    b = load_dataset("cifar10", seed=1, **kwargs)
    c = load_dataset("cifar10", seed=2, test_limit=10, **kwargs)
    np.testing.assert_array_equal(np.bincount(a.y_train), [2] * 10)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_train, c.x_train)
    np.testing.assert_array_equal(np.bincount(c.y_test), [1] * 10)


def test_truncated_archive_is_an_error_not_fewer_images(tmp_path, make_archive):
    archive = make_archive(tmp_path / "cut.tar.gz", truncate=400)
    with pytest.raises(DatasetError, match="corrupt or truncated"):
        load_dataset("cifar10", archive=archive, cache_dir=tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("*.npz"))


def test_corrupt_image_is_named(tmp_path):
    import io
    import tarfile

    archive = tmp_path / "corrupt.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("cifar10-jpeg/train/cat/0000.jpg")
        info.size = 10
        tar.addfile(info, io.BytesIO(b"not a jpeg"))
    with pytest.raises(DatasetError, match="corrupt image cifar10-jpeg/train/cat/0000.jpg"):
        load_dataset("cifar10", archive=archive, cache_dir=tmp_path / "cache")


def test_missing_class_images_are_reported(tmp_path, make_archive):
    archive = make_archive(tmp_path / "partial.tar.gz", per_class={"train": 2})
    with pytest.raises(DatasetError, match="incomplete: its test split"):
        load_dataset("cifar10", archive=archive, cache_dir=tmp_path / "cache")


def test_missing_archive_says_how_to_fix_it(tmp_path):
    with pytest.raises(DatasetError, match="LABKIT_CIFAR10_ARCHIVE"):
        load_dataset("cifar10", archive=tmp_path / "nowhere.tar.gz")


@pytest.mark.timeout(120)
def test_no_internet_and_no_offline_copy_gives_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("LABKIT_CIFAR10_ARCHIVE", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))  # no cached download

    def unreachable(*args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(socket.socket, "connect", unreachable)
    monkeypatch.setattr(socket, "getaddrinfo", unreachable)
    with pytest.raises(DatasetError) as error:
        load_dataset("cifar10")
    message = str(error.value)
    assert "\n" not in message
    assert "keras.datasets.cifar10" in message and "LABKIT_CIFAR10_ARCHIVE" in message


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "imagenet"}, "Received: `name='imagenet'`"),
        ({"labels": "dense"}, "Received: `labels='dense'`"),
        ({"limit": 5}, "Received: `limit=5`"),
        ({"test_limit": -1}, "Received: `test_limit=-1`"),
        ({"limit": 2.5}, "Received: `limit=2.5`"),
    ],
)
def test_invalid_arguments_are_one_line_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_dataset(**kwargs)


@pytest.mark.slow
def test_shared_offline_copy_is_full_cifar10(offline_cifar10):
    data = load_dataset("cifar10")
    assert data.x_train.shape == (50000, 32, 32, 3) and data.x_test.shape == (10000, 32, 32, 3)
    np.testing.assert_array_equal(np.bincount(data.y_train), [5000] * 10)
    np.testing.assert_array_equal(np.bincount(data.y_test), [1000] * 10)
