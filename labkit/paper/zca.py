"""ZCA whitening: a preprocessing step fit on training images, then applied to any split.

Salimans & Kingma (2016) whiten CIFAR-10 before training, with the authors' own `nn.ZCA`
(`openai/weightnorm`, `lasagne/nn.py`): subtract the per-pixel mean, then multiply by
`U diag(1 / sqrt(S + regularization)) U^T`, where `U S U^T` is the covariance of the
training images (all pixels of an image as one vector). The whitened training set then has
(nearly) identity covariance, and the transform changes the images as little as a whitening
can (the "zero-phase" choice), so they still look like images.

`ZCAWhitening` does the same with NumPy and SciPy, in float64 for the statistics (the
covariance's smallest eigenvalues, about 1e-5 on CIFAR-10, are below float32's resolution
of its largest, about 200), and keeps them in an `.npz` file so that a fit is done once.

Example:

>>> zca = ZCAWhitening().fit(x_train)
>>> x_train_white, x_test_white = zca.transform(x_train), zca.transform(x_test)
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from scipy import linalg

from labkit._checks import check, is_number
from labkit._io import atomic_file

__all__ = ["ZCAWhitening", "PAPER_REGULARIZATION"]

# `nn.ZCA(regularization=1e-5)` in the authors' code, on images scaled to about [-1, 1].
PAPER_REGULARIZATION = 1e-5
# Rows per block when accumulating the covariance (bounds the float64 copies in memory).
_BLOCK = 4096


class ZCAWhitening:
    """Whitens images with the ZCA transform of a training set.

    `fit` computes the per-feature mean `m` and the covariance `C = U diag(S) U^T` of the
    training images (each image flattened), and the whitening matrix
    `W = U diag(1 / sqrt(S + regularization)) U^T`; `transform(x)` returns
    `(x - m) W` in the shape of `x`, and `inverse_transform` undoes it. Fit it on training
    images only: the test images are then whitened with statistics they did not contribute to.

    `regularization` is added to every eigenvalue. It keeps the directions in which the
    training images hardly vary (fine, high-frequency detail) from being amplified without
    bound; its effect depends on the scale of the images (the paper's 1e-5 is for images in
    about [-1, 1]). With fewer training images than features, the covariance is singular and
    the test images' components outside the training images' span are amplified by up to
    `1 / sqrt(regularization)`: fit on as many images as you can.

    Args:
        regularization: Added to the covariance's eigenvalues, > 0.
        dtype: The dtype `transform` returns.

    Example:

    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(500, 4)) @ rng.normal(size=(4, 4))
    >>> white = ZCAWhitening(regularization=1e-9).fit(x).transform(x)
    >>> np.allclose(np.cov(white, rowvar=False, bias=True), np.eye(4), atol=1e-6)
    True
    """

    def __init__(self, regularization: float = PAPER_REGULARIZATION, dtype: str = "float32"):
        positive = (
            is_number(regularization) and math.isfinite(regularization) and regularization > 0
        )
        check("regularization", regularization, positive, "a finite number > 0")
        self.regularization = float(regularization)
        self.dtype = np.dtype(dtype)
        self.mean: np.ndarray | None = None
        self.whitening: np.ndarray | None = None
        self.coloring: np.ndarray | None = None
        self.eigenvalues: np.ndarray | None = None
        self.shape: tuple[int, ...] | None = None

    @property
    def fitted(self) -> bool:
        return self.whitening is not None

    def fit(self, x) -> ZCAWhitening:
        """Computes the mean and the whitening matrix of `x` (examples along the first axis).

        Example:

        >>> zca = ZCAWhitening().fit(x_train)  # doctest: +SKIP
        """
        x = np.asarray(x)
        if x.ndim < 2 or len(x) < 2:
            raise ValueError(
                "ZCA whitening needs at least two examples of at least one feature. "
                f"Received: `x` of shape {x.shape}"
            )
        flat = x.reshape(len(x), -1)
        if not np.isfinite(flat).all():
            raise ValueError("ZCA whitening cannot be fit on NaN or inf values.")
        mean = flat.mean(axis=0, dtype=np.float64)
        count, features = flat.shape
        if count >= features:
            eigenvalues, vectors = self._covariance_eigen(flat, mean)
        else:
            # Fewer examples than features: the covariance has rank < count, and the SVD of
            # the centred examples gives its nonzero eigenpairs at a fraction of the cost;
            # every other direction has eigenvalue 0.
            _, singular, vectors_t = linalg.svd(flat - mean, full_matrices=False)
            eigenvalues, vectors = singular**2 / count, vectors_t.T
        eigenvalues = np.clip(eigenvalues, 0.0, None)  # rounding can make the smallest < 0
        root = np.sqrt(eigenvalues + self.regularization)
        self.whitening = (vectors / root) @ vectors.T
        self.coloring = (vectors * root) @ vectors.T
        if len(eigenvalues) < features:  # the directions with eigenvalue 0
            complement = np.eye(features) - vectors @ vectors.T
            floor = np.sqrt(self.regularization)
            self.whitening += complement / floor
            self.coloring += complement * floor
        missing = np.zeros(features - len(eigenvalues))
        self.eigenvalues = np.concatenate([np.sort(eigenvalues)[::-1], missing])
        self.mean = mean
        self.shape = tuple(x.shape[1:])
        return self

    @staticmethod
    def _covariance_eigen(flat: np.ndarray, mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Eigenvalues and eigenvectors of the covariance of `flat`, accumulated in float64."""
        covariance = np.zeros((flat.shape[1], flat.shape[1]))
        for start in range(0, len(flat), _BLOCK):
            block = flat[start : start + _BLOCK] - mean
            covariance += block.T @ block
        covariance /= len(flat)
        # The covariance is symmetric: `eigh` is its SVD (the authors' `linalg.svd`), faster.
        return linalg.eigh(covariance, overwrite_a=True)

    def transform(self, x) -> np.ndarray:
        """`x` whitened: `(x - mean) W`, in the shape of `x` and in `dtype`.

        Example:

        >>> x_test_white = zca.transform(x_test)  # doctest: +SKIP
        """
        return self._apply(x, self.whitening, before=self.mean)

    def inverse_transform(self, x) -> np.ndarray:
        """Undoes `transform` (up to rounding): `x W^-1 + mean`.

        Example:

        >>> np.allclose(zca.inverse_transform(zca.transform(x)), x, atol=1e-4)  # doctest: +SKIP
        True
        """
        return self._apply(x, self.coloring, after=self.mean)

    def _apply(self, x, matrix, before=None, after=None) -> np.ndarray:
        if not self.fitted:
            raise ValueError("This ZCAWhitening is not fitted yet: call `fit(x_train)` first.")
        x = np.asarray(x)
        if tuple(x.shape[1:]) != self.shape:
            raise ValueError(
                f"ZCA whitening was fit on examples of shape {self.shape}. "
                f"Received: `x` of shape {x.shape}"
            )
        out = np.empty(x.shape, dtype=self.dtype)
        flat_out = out.reshape(len(x), -1)
        matrix = matrix.astype(self.dtype)  # the product in the output's precision
        flat = x.reshape(len(x), -1)
        for start in range(0, len(flat), _BLOCK):
            block = flat[start : start + _BLOCK].astype(np.float64)
            if before is not None:
                block -= before
            result = block.astype(self.dtype) @ matrix
            if after is not None:
                result = result + after
            flat_out[start : start + _BLOCK] = result
        return out

    def save(self, path: str | os.PathLike) -> Path:
        """Writes the fitted statistics to an `.npz` file (atomically); returns its path.

        Example:

        >>> ZCAWhitening().fit(x_train).save("zca.npz")  # doctest: +SKIP
        """
        if not self.fitted:
            raise ValueError("This ZCAWhitening is not fitted yet: nothing to save.")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path, "wb") as file:
            np.savez(
                file,
                regularization=self.regularization,
                mean=self.mean,
                whitening=self.whitening,
                coloring=self.coloring,
                eigenvalues=self.eigenvalues,
                shape=np.asarray(self.shape),
            )
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, dtype: str = "float32") -> ZCAWhitening:
        """Reads statistics written by `save`.

        Example:

        >>> zca = ZCAWhitening.load("zca.npz")  # doctest: +SKIP
        """
        with np.load(path) as stored:
            zca = cls(float(stored["regularization"]), dtype=dtype)
            zca.mean = stored["mean"]
            zca.whitening = stored["whitening"]
            zca.coloring = stored["coloring"]
            zca.eigenvalues = stored["eigenvalues"]
            zca.shape = tuple(int(size) for size in stored["shape"])
        return zca

    def __repr__(self) -> str:
        fitted = f"fitted on examples of shape {self.shape}" if self.fitted else "not fitted"
        return f"ZCAWhitening(regularization={self.regularization:g}, {fitted})"
