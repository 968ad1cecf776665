"""Image classification datasets, ready for training.

`load_dataset` goes through Keras' own download (`keras.datasets`) and, for CIFAR-10, can
read an offline copy instead: a tar.gz of JPEG files laid out as
`cifar10-jpeg/{train,test}/{class}/NNNN.jpg` (macOS metadata, such as the `._*` AppleDouble
files and `__MACOSX/` of an archive repacked on a Mac, is ignored). The offline copy is decoded
once and cached as arrays. `check_archive` checks the archive a run would read before any data
loads.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import socket
import tarfile
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labkit._checks import check, check_int, is_int, quoted
from labkit._io import atomic_file, process_exists, remove_stale_temporaries

__all__ = [
    "check_archive",
    "Dataset",
    "IMAGE_DTYPES",
    "to_float_images",
    "DatasetError",
    "DatasetCacheWarning",
    "load_dataset",
    "DATASETS",
    "CIFAR10_CLASSES",
]

ARCHIVE_ENV = "LABKIT_CIFAR10_ARCHIVE"
CACHE_ENV = "LABKIT_CACHE_DIR"

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
FASHION_MNIST_CLASSES = (
    "t-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
)
DATASETS = {
    "cifar10": CIFAR10_CLASSES,
    "mnist": tuple(str(digit) for digit in range(10)),
    "fashion_mnist": FASHION_MNIST_CLASSES,
}
LABEL_MODES = ("sparse", "onehot")
# How `load_dataset` returns images: floats in [0, 1], or the pixels as stored (4x smaller;
# training converts each batch as it is drawn, see `to_float_images`).
IMAGE_DTYPES = ("float32", "uint8")
SPLITS = ("train", "test")
# Seconds a download may stall before giving up, so "no internet" fails fast.
_DOWNLOAD_TIMEOUT = 20


class DatasetError(RuntimeError):
    """A dataset could not be downloaded, read or decoded."""


@dataclass(frozen=True, repr=False)
class Dataset:
    """Train and test arrays: images (N, H, W, C), float32 in [0, 1] or uint8 pixels, labels
    sparse or one-hot. `to_float_images` turns either kind of image into the model's input."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, train={len(self.x_train)}, test={len(self.x_test)}, "
            f"input_shape={self.input_shape}, classes={self.num_classes})"
        )


def load_dataset(
    name: str = "cifar10",
    *,
    labels: str = "sparse",
    limit: int | None = None,
    test_limit: int | None = None,
    seed: int = 0,
    archive: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    dtype: str = "float32",
) -> Dataset:
    """Loads a dataset as images (float32 in [0, 1], or uint8) and integer or one-hot labels.

    The real path is Keras' download (`keras.datasets.<name>.load_data()`). For CIFAR-10 an
    offline archive is used instead when `archive` is given or the environment variable
    `LABKIT_CIFAR10_ARCHIVE` points to one; it is decoded once and cached under `cache_dir`
    (default: `$LABKIT_CACHE_DIR`, else `~/.cache/labkit`).

    Args:
        name: One of `"cifar10"`, `"mnist"`, `"fashion_mnist"`.
        labels: `"sparse"` (integer class ids) or `"onehot"`.
        limit: Keep only this many training images, equally many per class, drawn with
            `seed`. `None` or 0 keeps all.
        test_limit: The same for the test set.
        seed: Seed of the subset draw.
        archive: Path of an offline CIFAR-10 archive (`cifar10-jpeg-q75.tar.gz`).
        cache_dir: Where decoded archives are cached.
        dtype: `"float32"` (images in [0, 1]) or `"uint8"` (the pixels, a quarter of the
            memory; `to_float_images` converts a batch exactly as `"float32"` would have).

    Returns:
        A `Dataset`.

    Example:

    >>> data = load_dataset("cifar10", labels="onehot", limit=2000)
    >>> data.x_train.shape, data.y_train.shape
    ((2000, 32, 32, 3), (2000, 10))
    """
    if name not in DATASETS:
        raise ValueError(
            f"Unknown dataset: expected one of {quoted(DATASETS)}. Received: `name={name!r}`"
        )
    if labels not in LABEL_MODES:
        raise ValueError(
            f"Invalid `labels`: expected one of {quoted(LABEL_MODES)}. "
            f"Received: `labels={labels!r}`"
        )
    num_classes = len(DATASETS[name])
    for argument, value in (("limit", limit), ("test_limit", test_limit)):
        if value is not None and value != 0 and (not is_int(value) or value < num_classes):
            raise ValueError(
                f"Invalid `{argument}`: expected 0, None or an integer >= {num_classes} "
                f"(one image per class at least). Received: `{argument}={value!r}`"
            )

    check_int("seed", seed, minimum=0)  # before loading, not when drawing the subset
    if dtype not in IMAGE_DTYPES:
        raise ValueError(
            f"Invalid `dtype`: expected one of {quoted(IMAGE_DTYPES)}. Received: `dtype={dtype!r}`"
        )
    images = _to_float_images if dtype == "float32" else _with_channel_axis

    archive = archive or os.environ.get(ARCHIVE_ENV) or None
    if name == "cifar10" and archive:
        (x_train, y_train), (x_test, y_test) = _load_cifar10_archive(Path(archive), cache_dir)
    else:
        (x_train, y_train), (x_test, y_test) = _load_from_keras(name)

    rng = np.random.default_rng(seed)
    train = _balanced_subset(y_train, limit, rng)
    test = _balanced_subset(y_test, test_limit, rng)
    return Dataset(
        name=name,
        x_train=images(x_train[train]),
        y_train=_encode_labels(y_train[train], num_classes, labels),
        x_test=images(x_test[test]),
        y_test=_encode_labels(y_test[test], num_classes, labels),
        class_names=DATASETS[name],
    )


# --- Keras download ------------------------------------------------------------------------


def _load_from_keras(name: str):
    import keras

    loader = getattr(keras.datasets, name)
    try:
        with _socket_timeout(_DOWNLOAD_TIMEOUT):
            (x_train, y_train), (x_test, y_test) = loader.load_data()
    except Exception as error:
        hint = (
            f" Without internet, point labkit at an offline copy: "
            f"`load_dataset('cifar10', archive='.../cifar10-jpeg-q75.tar.gz')` or set "
            f"{ARCHIVE_ENV}=.../cifar10-jpeg-q75.tar.gz."
            if name == "cifar10"
            else ""
        )
        message = " ".join(str(error).split())
        raise DatasetError(
            f"Could not download {name} through `keras.datasets.{name}` ({message}).{hint}"
        ) from error
    return (x_train, y_train.reshape(-1)), (x_test, y_test.reshape(-1))


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    previous = socket.getdefaulttimeout()
    if previous is None:
        socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


# --- offline CIFAR-10 archive ----------------------------------------------------------------


def default_cache_dir() -> Path:
    """The folder that caches decoded archives: `$LABKIT_CACHE_DIR` or `~/.cache/labkit`."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "labkit"


def check_archive(archive: str | os.PathLike | None, dataset: str = "cifar10") -> None:
    """Checks the offline archive that `load_dataset(dataset, archive=archive)` would read, before
    any data loads: `archive`, else `$LABKIT_CIFAR10_ARCHIVE`, must name a readable file.

    Raises:
        ValueError: one line naming `archive` (or the environment variable) and the problem.

    Example:

    >>> check_archive("/data/cifar10")  # a folder
    Traceback (most recent call last):
    ValueError: Invalid value for `archive`: expected the path of an offline CIFAR-10 archive ...
    """
    if dataset != "cifar10":
        return  # only CIFAR-10 reads an archive
    for name, value in (("archive", archive), (ARCHIVE_ENV, os.environ.get(ARCHIVE_ENV))):
        if value:
            problem = _archive_problem(Path(value))
            expected = f"the path of an offline CIFAR-10 archive file (this one {problem})"
            check(name, str(value), problem is None, expected)
            return


def _archive_problem(path: Path) -> str | None:
    """What keeps `path` from being read as an archive, or None."""
    if path.is_dir():
        return "is a folder, not a file"
    if not path.is_file():
        return "was not found"
    if not os.access(path, os.R_OK):
        return "cannot be read"
    return None


def _load_cifar10_archive(path: Path, cache_dir: str | os.PathLike | None):
    problem = _archive_problem(path)
    if problem:
        raise DatasetError(
            f"The offline CIFAR-10 archive {path} {problem}. Pass `archive=` the path of "
            f"cifar10-jpeg-q75.tar.gz, or set {ARCHIVE_ENV} to it (unset it to download "
            f"through Keras)."
        )
    digest = _sha256(path)
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    cached = cache / f"cifar10-jpeg-{digest[:16]}.npz"
    if cache.is_dir():
        remove_stale_temporaries(cache)
        _remove_legacy_temporaries(cache)
    splits = _read_cache(cached)
    if splits is None:
        splits = _decode_archive(path)
        _write_cache(cached, splits)
    return splits["train"], splits["test"]


# labkit 0.1.0 wrote the cache through `<name>.<pid>.tmp.npz`, left behind by a killed decode.
_LEGACY_TEMPORARY = re.compile(r"^cifar10-jpeg-[0-9a-f]{16}\.(\d+)\.tmp\.npz$")


def _remove_legacy_temporaries(cache: Path) -> None:
    for candidate in cache.glob("cifar10-jpeg-*.tmp.npz"):
        match = _LEGACY_TEMPORARY.match(candidate.name)
        if match and not process_exists(int(match[1])):
            with contextlib.suppress(OSError):
                candidate.unlink()


class DatasetCacheWarning(UserWarning):
    """The dataset cache could not be read or written; loading went on without it."""


def _read_cache(cached: Path) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    """The cached splits, or `None` when there is no cache or it is unreadable (then removed)."""
    if not cached.is_file():
        return None
    try:
        # The file is opened here so that it is closed even when NumPy refuses it.
        with cached.open("rb") as file, np.load(file) as arrays:
            splits = {split: (arrays[f"x_{split}"], arrays[f"y_{split}"]) for split in SPLITS}
        for split, (images, labels) in splits.items():
            if images.shape[1:] != (32, 32, 3) or len(images) != len(labels):
                raise ValueError(f"{split} arrays of shapes {images.shape} and {labels.shape}")
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        warnings.warn(
            f"The dataset cache {cached} is corrupt ({type(error).__name__}: {error}); "
            "decoding the archive again to rebuild it.",
            DatasetCacheWarning,
            stacklevel=4,
        )
        with contextlib.suppress(OSError):
            cached.unlink()
        return None
    return splits


def _write_cache(cached: Path, splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """Caches the decoded splits; a cache that cannot be written only costs a warning."""
    arrays = {
        f"{axis}_{split}": splits[split][i] for split in SPLITS for i, axis in enumerate("xy")
    }
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(cached, "wb") as file:  # a concurrent reader never sees half a file
            np.savez(file, **arrays)
    except OSError as error:
        warnings.warn(
            f"Could not write the dataset cache {cached} ({type(error).__name__}: {error}); "
            f"going on without a cache. Set {CACHE_ENV} to a writable folder to keep one.",
            DatasetCacheWarning,
            stacklevel=4,
        )


def _decode_archive(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from PIL import Image, UnidentifiedImageError

    images: dict[str, list[tuple[str, int, np.ndarray]]] = {split: [] for split in SPLITS}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                parts = Path(member.name).parts
                if not member.isfile() or len(parts) != 4 or not parts[3].endswith(".jpg"):
                    continue
                if _is_macos_metadata(parts):
                    continue
                _, split, class_name, filename = parts
                if split not in images or class_name not in CIFAR10_CLASSES:
                    raise DatasetError(
                        f"Unexpected file {member.name} in CIFAR-10 archive {path}: expected "
                        "cifar10-jpeg/{train,test}/{class}/NNNN.jpg."
                    )
                data = tar.extractfile(member).read()
                try:
                    pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
                except (UnidentifiedImageError, OSError) as error:
                    raise DatasetError(
                        f"CIFAR-10 archive {path} holds a corrupt image {member.name}: {error}"
                    ) from error
                if pixels.shape != (32, 32, 3):
                    raise DatasetError(
                        f"CIFAR-10 archive {path}: {member.name} is {pixels.shape}, "
                        "expected (32, 32, 3)."
                    )
                images[split].append((member.name, CIFAR10_CLASSES.index(class_name), pixels))
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise DatasetError(
            f"CIFAR-10 archive {path} is corrupt or truncated ({error}). Copy it again."
        ) from error

    splits = {}
    for split, entries in images.items():
        entries.sort(key=lambda entry: entry[0])
        labels = np.array([label for _, label, _ in entries], dtype=np.int64)
        counts = np.bincount(labels, minlength=len(CIFAR10_CLASSES))
        if counts.min() == 0 or counts.min() != counts.max():
            raise DatasetError(
                f"CIFAR-10 archive {path} is incomplete: its {split} split has "
                f"{dict(zip(CIFAR10_CLASSES, counts.tolist()))} images per class."
            )
        splits[split] = (np.stack([pixels for _, _, pixels in entries]), labels)
    return splits


def _is_macos_metadata(parts: tuple[str, ...]) -> bool:
    """Whether an archive member is what macOS adds when it packs files: `._*` AppleDouble
    files (resource forks, extended attributes), `__MACOSX/`, `.DS_Store`."""
    return any(part.startswith("._") or part in ("__MACOSX", ".DS_Store") for part in parts)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- preprocessing ---------------------------------------------------------------------------


def _balanced_subset(labels: np.ndarray, limit: int | None, rng: np.random.Generator):
    """Indices of `limit` examples, as equally many per class as possible (sorted); all of
    them, as a slice that copies nothing, without a limit."""
    if not limit or limit >= len(labels):
        return slice(None)
    classes, available = np.unique(labels, return_counts=True)
    per_class = _shares(limit, np.ones(len(classes), dtype=bool))
    # A class with fewer examples than its share (MNIST's test set has 892 fives) gives them
    # all, and the others share what it could not give.
    while np.any(per_class > available):
        missing = int((per_class - available).clip(min=0).sum())
        per_class = np.minimum(per_class, available)
        per_class += _shares(missing, per_class < available)
    chosen = [
        rng.choice(np.flatnonzero(labels == label), size=count, replace=False)
        for label, count in zip(classes, per_class)
    ]
    return np.sort(np.concatenate(chosen))


def _shares(total: int, open_classes: np.ndarray) -> np.ndarray:
    """`total` split as equally as possible over the open classes, the first ones getting more."""
    shares = np.zeros(len(open_classes), dtype=np.int64)
    count = int(open_classes.sum())
    shares[open_classes] = total // count
    shares[np.flatnonzero(open_classes)[: total % count]] += 1
    return shares


def to_float_images(x):
    """Images as the models take them: uint8 pixels become float32 in [0, 1] (`x / 255`, the
    same values `load_dataset(dtype="float32")` gives), float images are cast to float32.

    Works on NumPy arrays and, in-graph, on TensorFlow tensors (as in a `tf.data` pipeline).

    Example:

    >>> to_float_images(np.array([[0, 51, 255]], dtype=np.uint8))
    array([[0. , 0.2, 1. ]], dtype=float32)
    """
    if isinstance(x, np.ndarray):
        if x.dtype == np.uint8:
            return x.astype(np.float32) / np.float32(255.0)
        return x.astype(np.float32, copy=False)
    import tensorflow as tf

    if x.dtype == tf.uint8:
        return tf.cast(x, tf.float32) / 255.0
    return tf.cast(x, tf.float32)


def _with_channel_axis(x: np.ndarray) -> np.ndarray:
    return x[..., np.newaxis] if x.ndim == 3 else x  # grayscale: add the channel axis


def _to_float_images(x: np.ndarray) -> np.ndarray:
    x = x.astype("float32")
    x /= 255.0  # in place: one float copy of the images, not two
    return _with_channel_axis(x)


def _encode_labels(y: np.ndarray, num_classes: int, mode: str) -> np.ndarray:
    y = y.astype("int64")
    return np.eye(num_classes, dtype="float32")[y] if mode == "onehot" else y
