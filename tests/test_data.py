"""labkit.data: the Keras path, the offline archive, its cache, subsets and errors."""

from __future__ import annotations

import gc
import os
import socket
import warnings

import numpy as np
import pytest

from labkit import data as data_module
from labkit._io import temporary_path
from labkit.data import (
    CIFAR10_CLASSES,
    DatasetCacheWarning,
    DatasetError,
    check_archive,
    load_dataset,
)


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


def _cache_file(cache):
    (cached,) = cache.glob("cifar10-jpeg-*.npz")
    return cached


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # truncated (a full disk, a killed copy)
        lambda data: b"",  # empty
        lambda data: data[:100] + bytes(len(data) - 100),  # overwritten with zeros
    ],
    ids=["truncated", "empty", "zeroed"],
)
def test_a_corrupt_cache_is_named_in_a_warning_and_rebuilt(small_archive, tmp_path, damage):
    cache = tmp_path / "cache"
    first = load_dataset("cifar10", archive=small_archive, cache_dir=cache)
    cached = _cache_file(cache)
    cached.write_bytes(damage(cached.read_bytes()))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        second = load_dataset("cifar10", archive=small_archive, cache_dir=cache)
        gc.collect()  # a file left open would warn now

    messages = [str(warning.message) for warning in caught]
    assert [warning.category for warning in caught] == [DatasetCacheWarning], messages
    assert messages[0].startswith(f"The dataset cache {cached} is corrupt")
    np.testing.assert_array_equal(first.x_train, second.x_train)
    np.testing.assert_array_equal(first.y_test, second.y_test)
    with np.load(cached) as arrays:  # rebuilt: whole again
        assert arrays["x_train"].shape == (30, 32, 32, 3)


def test_a_cache_folder_that_cannot_be_created_means_no_cache(small_archive, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    with pytest.warns(DatasetCacheWarning, match="going on without a cache"):
        data = load_dataset("cifar10", archive=small_archive, cache_dir=blocker / "cache")
    assert data.x_train.shape == (30, 32, 32, 3)


def test_an_unwritable_cache_folder_means_no_cache(small_archive, tmp_path, monkeypatch):
    def denied(path, mode="w"):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(data_module, "atomic_file", denied)
    with pytest.warns(DatasetCacheWarning, match="PermissionError"):
        data = load_dataset("cifar10", archive=small_archive, cache_dir=tmp_path / "cache")
    assert data.x_train.shape == (30, 32, 32, 3)


def test_a_failed_cache_write_leaves_no_temporary_file(small_archive, tmp_path, monkeypatch):
    def interrupted(file, **arrays):
        file.write(b"half a cache")
        raise KeyboardInterrupt

    monkeypatch.setattr(data_module.np, "savez", interrupted)
    cache = tmp_path / "cache"
    with pytest.raises(KeyboardInterrupt):
        load_dataset("cifar10", archive=small_archive, cache_dir=cache)
    assert list(cache.iterdir()) == []


def test_temporary_files_of_killed_writers_are_removed(small_archive, tmp_path, dead_pid):
    cache = tmp_path / "cache"
    load_dataset("cifar10", archive=small_archive, cache_dir=cache)
    cached = _cache_file(cache)
    dead = dead_pid
    running = temporary_path(cached)  # this process's: still being written
    # What a decode killed while writing leaves, under its name and labkit 0.1.0's.
    killed = running.with_name(running.name.replace(f".{os.getpid()}@", f".{dead}@"))
    legacy = cache / f"{cached.stem}.{dead}.tmp.npz"
    for path in (killed, legacy, running):
        path.write_bytes(b"x" * 1000)

    load_dataset("cifar10", archive=small_archive, cache_dir=cache)
    assert not killed.exists() and not legacy.exists()
    assert running.exists() and cached.exists()


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


def test_a_class_short_of_its_share_gives_all_it_has(monkeypatch):
    # Like MNIST's test set, where the fives are fewer than a tenth of 9,000.
    labels = np.repeat(np.arange(10), [100] * 5 + [20] + [100] * 4)
    images = np.zeros((len(labels), 28, 28), dtype=np.uint8)
    monkeypatch.setattr(data_module, "_load_from_keras", lambda name: ((images, labels),) * 2)
    data = load_dataset("mnist", limit=900, test_limit=30)
    np.testing.assert_array_equal(np.bincount(data.y_train), [98] * 5 + [20] + [98] * 2 + [97] * 2)
    np.testing.assert_array_equal(np.bincount(data.y_test), [3] * 10)


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


def test_an_archive_that_is_a_folder_is_named_as_one(tmp_path):
    with pytest.raises(DatasetError, match=rf"archive {tmp_path} is a folder, not a file\. "):
        load_dataset("cifar10", archive=tmp_path)


@pytest.mark.parametrize(
    ("archive", "problem"),
    [("missing.tar.gz", "was not found"), (".", "is a folder, not a file")],
)
def test_check_archive_refuses_what_load_dataset_could_not_read(archive, problem, monkeypatch):
    monkeypatch.delenv("LABKIT_CIFAR10_ARCHIVE", raising=False)
    with pytest.raises(ValueError) as error:
        check_archive(archive)
    assert str(error.value) == (
        "Invalid value for `archive`: expected the path of an offline CIFAR-10 archive file "
        f"(this one {problem}). Received: `archive={archive!r}`"
    )

    check_archive(archive, dataset="mnist")  # read only for CIFAR-10
    monkeypatch.setenv("LABKIT_CIFAR10_ARCHIVE", archive)
    with pytest.raises(ValueError, match=rf"Received: `LABKIT_CIFAR10_ARCHIVE={archive!r}`"):
        check_archive("")  # the variable, when no archive is given


def test_macos_metadata_in_a_repacked_archive_is_ignored(tmp_path, make_archive):
    apple_double = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        "  # a `._` file's header
    archive = make_archive(
        tmp_path / "repacked-on-a-mac.tar.gz",
        extra={
            "cifar10-jpeg/train/cat/._0000.jpg": apple_double,
            "cifar10-jpeg/test/ship/._0001.jpg": apple_double,
            "__MACOSX/cifar10-jpeg/train/cat/._0000.jpg": apple_double,
            "cifar10-jpeg/train/.DS_Store": b"Bud1",
        },
    )

    data = load_dataset("cifar10", archive=archive, cache_dir=tmp_path / "cache")

    np.testing.assert_array_equal(np.bincount(data.y_train), [3] * 10)
    np.testing.assert_array_equal(np.bincount(data.y_test), [2] * 10)


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
        ({"seed": -1}, "Received: `seed=-1`"),
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
