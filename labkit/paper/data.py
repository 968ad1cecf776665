"""The paper's CIFAR-10 inputs: the authors' pixel scale, whitened with ZCA statistics of the
whole training set.

The authors' `train.py` scales the pixels `p` (0 to 255) to `(p - 127.5) / 128`, fits
`nn.ZCA(regularization=1e-5)` on the 50,000 training images and whitens both splits with it.
`load_paper_data` does the same from `labkit.load_dataset` (Keras' download, or the offline
archive). It fits the whitening on all 50,000 training images even when a run trains on a
subset: the subset is a shortcut for time, while a whitening fit on fewer images than its
3,072 features is singular and would blow up the test images (see `ZCAWhitening`). The fit
(about 20 s on two cores) is cached beside the decoded dataset, keyed by the images' digest.
"""

from __future__ import annotations

import hashlib
import warnings
import zipfile
from pathlib import Path

import numpy as np

from labkit.data import Dataset, DatasetCacheWarning, default_cache_dir, load_dataset
from labkit.paper.params import PaperParams
from labkit.paper.zca import PAPER_REGULARIZATION, ZCAWhitening

__all__ = ["load_paper_data", "authors_scale", "fitted_zca"]


def authors_scale(x: np.ndarray) -> np.ndarray:
    """Images in [0, 1] (labkit's scale) in the authors' scale, `(255 x - 127.5) / 128`.

    Example:

    >>> authors_scale(np.array([0.0, 1.0], dtype="float32")).tolist()
    [-0.99609375, 0.99609375]
    """
    return ((np.asarray(x, dtype=np.float32) * 255.0 - 127.5) / 128.0).astype(np.float32)


def fitted_zca(
    x_train: np.ndarray,
    regularization: float = PAPER_REGULARIZATION,
    cache_dir: str | Path | None = None,
) -> ZCAWhitening:
    """A `ZCAWhitening` fit on `x_train`, read from the cache when it was fit before.

    The cache file is `<cache_dir>/zca-<digest>.npz` (`cache_dir` defaults to labkit's
    dataset cache, `$LABKIT_CACHE_DIR` or `~/.cache/labkit`), where the digest covers the
    images and `regularization`. A damaged cache file is named in a warning and fit again;
    a cache folder that cannot be written means no cache.

    Example:

    >>> zca = fitted_zca(authors_scale(load_dataset("cifar10").x_train))  # doctest: +SKIP
    """
    digest = hashlib.blake2b(digest_size=8)
    digest.update(np.ascontiguousarray(x_train).data)
    digest.update(f"{x_train.shape}{x_train.dtype}{regularization!r}".encode())
    path = Path(cache_dir or default_cache_dir()) / f"zca-{digest.hexdigest()}.npz"
    if path.is_file():
        try:
            return ZCAWhitening.load(path)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
            warnings.warn(
                f"Ignoring a damaged ZCA cache file {path} ({type(error).__name__}); "
                "fitting again.",
                DatasetCacheWarning,
                stacklevel=2,
            )
    zca = ZCAWhitening(regularization).fit(x_train)
    try:
        zca.save(path)
    except OSError as error:
        warnings.warn(
            f"Could not cache the ZCA fit in {path.parent} ({error}); it is fit again next time.",
            DatasetCacheWarning,
            stacklevel=2,
        )
    return zca


def load_paper_data(params: PaperParams) -> Dataset:
    """CIFAR-10 as the paper trains on it: ZCA-whitened images, one-hot labels.

    The whitening is fit on all 50,000 training images (in the authors' pixel scale); the
    run's training and test images (`params.train_images`, `params.test_images`, drawn
    balanced over classes with `params.seed`) are then whitened with it.

    Example:

    >>> data = load_paper_data(PaperParams(schedule="cpu"))
    >>> data.x_train.shape
    (1000, 32, 32, 3)
    """
    full = load_dataset("cifar10", labels="onehot", archive=params.archive or None)
    zca = fitted_zca(authors_scale(full.x_train))
    data = full
    if params.train_images or params.test_images:
        data = load_dataset(
            "cifar10",
            labels="onehot",
            limit=params.train_images or None,
            test_limit=params.test_images or None,
            seed=params.seed,
            archive=params.archive or None,
        )
    return Dataset(
        name="cifar10 (ZCA-whitened)",
        x_train=zca.transform(authors_scale(data.x_train)),
        y_train=data.y_train,
        x_test=zca.transform(authors_scale(data.x_test)),
        y_test=data.y_test,
        class_names=data.class_names,
    )
