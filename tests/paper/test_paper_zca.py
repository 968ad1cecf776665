"""labkit.paper.zca and the whitening step of labkit.paper.data: checked on small arrays."""

from __future__ import annotations

import numpy as np
import pytest

from labkit.data import DatasetCacheWarning
from labkit.paper.data import authors_scale, fitted_zca
from labkit.paper.zca import ZCAWhitening


def _correlated(rng, count: int, features: int) -> np.ndarray:
    return rng.normal(size=(count, features)) @ rng.normal(size=(features, features)) + 3.0


def _authors_zca(x: np.ndarray, regularization: float) -> tuple[np.ndarray, np.ndarray]:
    """The authors' `nn.ZCA.fit` (lasagne/nn.py), in NumPy and float64: (mean, matrix)."""
    x = x.reshape(len(x), -1).astype(np.float64)
    mean = x.mean(axis=0)
    centred = x - mean
    sigma = centred.T @ centred / len(x)
    u, s, _ = np.linalg.svd(sigma)
    return mean, (u @ np.diag(1.0 / np.sqrt(s + regularization))) @ u.T


def test_whitened_training_images_have_zero_mean_and_identity_covariance():
    x = _correlated(np.random.default_rng(0), 2000, 6)
    white = ZCAWhitening(regularization=1e-9, dtype="float64").fit(x).transform(x)
    np.testing.assert_allclose(white.mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(np.cov(white, rowvar=False, bias=True), np.eye(6), atol=1e-6)


def test_it_computes_the_authors_transform_on_images():
    x = np.random.default_rng(1).random((300, 4, 4, 3)).astype("float32")
    zca = ZCAWhitening(regularization=1e-5, dtype="float64").fit(x)
    mean, matrix = _authors_zca(x, 1e-5)
    np.testing.assert_allclose(zca.mean, mean, atol=1e-12)
    np.testing.assert_allclose(zca.whitening, matrix, rtol=1e-7, atol=1e-7)
    expected = ((x.reshape(300, -1) - mean) @ matrix).reshape(x.shape)
    np.testing.assert_allclose(zca.transform(x), expected, rtol=1e-4, atol=1e-4)
    assert zca.transform(x).shape == x.shape


def test_fewer_examples_than_features_gives_the_covariance_formula():
    """The SVD route (fewer examples than features) must equal the covariance route."""
    x = _correlated(np.random.default_rng(2), 12, 30)
    zca = ZCAWhitening(regularization=1e-3, dtype="float64").fit(x)
    _, matrix = _authors_zca(x, 1e-3)
    np.testing.assert_allclose(zca.whitening, matrix, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(zca.coloring @ zca.whitening, np.eye(30), atol=1e-8)
    assert zca.eigenvalues.shape == (30,) and (zca.eigenvalues[11:] < 1e-9).all()


def test_test_images_are_whitened_with_the_training_statistics_only():
    rng = np.random.default_rng(3)
    train, test = _correlated(rng, 500, 5), _correlated(rng, 100, 5) + 10.0
    zca = ZCAWhitening(dtype="float64").fit(train)
    np.testing.assert_allclose(zca.mean, train.mean(axis=0))
    np.testing.assert_allclose(zca.transform(test), (test - train.mean(axis=0)) @ zca.whitening)
    # The shifted test images are not centred by statistics they did not contribute to.
    assert zca.transform(test).mean() > 1.0


def test_inverse_and_a_saved_copy_give_back_the_same(tmp_path):
    x = np.random.default_rng(4).random((50, 2, 2, 3)).astype("float32")
    zca = ZCAWhitening().fit(x)
    np.testing.assert_allclose(zca.inverse_transform(zca.transform(x)), x, atol=1e-4)
    copy = ZCAWhitening.load(zca.save(tmp_path / "zca.npz"))
    np.testing.assert_array_equal(copy.transform(x), zca.transform(x))
    assert copy.regularization == zca.regularization and "fitted" in repr(copy)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ZCAWhitening(regularization=0), r"`regularization`: expected a finite number > 0"),
        (lambda: ZCAWhitening().fit(np.ones((1, 3))), "at least two examples"),
        (lambda: ZCAWhitening().fit(np.full((4, 3), np.nan)), "NaN or inf"),
        (lambda: ZCAWhitening().transform(np.ones((2, 3))), "not fitted yet"),
        (lambda: ZCAWhitening().fit(np.eye(3)).transform(np.ones((2, 4))), r"shape \(3,\)"),
    ],
)
def test_bad_use_fails_with_one_line(make, message):
    with pytest.raises(ValueError, match=message) as error:
        make()
    assert "\n" not in str(error.value)


def test_authors_scale_maps_pixels_to_their_range():
    pixels = np.array([0, 127.5, 255], dtype="float32") / 255
    np.testing.assert_allclose(authors_scale(pixels), [-127.5 / 128, 0.0, 127.5 / 128], atol=1e-6)


def test_the_fit_is_cached_and_a_damaged_cache_is_fit_again(tmp_path, monkeypatch):
    x = np.random.default_rng(5).random((40, 2, 2, 3)).astype("float32")
    first = fitted_zca(x, cache_dir=tmp_path)
    (cached,) = tmp_path.glob("zca-*.npz")

    def no_fit(self, x):
        raise AssertionError("fit again although it was cached")

    with monkeypatch.context() as patch:
        patch.setattr(ZCAWhitening, "fit", no_fit)
        np.testing.assert_array_equal(fitted_zca(x, cache_dir=tmp_path).whitening, first.whitening)
    cached.write_bytes(b"not a zip file")
    with pytest.warns(DatasetCacheWarning, match="damaged ZCA cache"):
        again = fitted_zca(x, cache_dir=tmp_path)
    np.testing.assert_array_equal(again.whitening, first.whitening)
    assert fitted_zca(x + 1, cache_dir=tmp_path) is not None and len(list(tmp_path.glob("*"))) == 2
