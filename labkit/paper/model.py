"""The paper's CIFAR-10 ConvNet (Salimans & Kingma, 2016, section 5.1 and appendix), as the
authors' code builds it (`openai/weightnorm`, `lasagne/train.py` and `lasagne/nn.py`).

The architecture (the paper's modification of Springenberg et al.'s ConvPool-CNN-C):

    Gaussian noise (std 0.15)
    3 x [3x3 conv, 96 channels, same padding, leaky ReLU (0.1)]   32x32
    2x2 max-pool, dropout 0.5                                     16x16
    3 x [3x3 conv, 192 channels, same padding, leaky ReLU]        16x16
    2x2 max-pool, dropout 0.5                                     8x8
    3x3 conv, 192 channels, valid padding, leaky ReLU             6x6
    2 x [1x1 conv (the authors' NINLayer), 192 channels, leaky ReLU]
    global average pooling                                        192
    dense, 10 units: the logits (the softmax lives in the loss)

The authors wrap *every* conv and dense layer, the last one too, in one of four
"normalizers" (`--norm_type`); `build_paper_convnet(normalization=...)` builds each the same
way, and follows it with the leaky ReLU (none after the last layer):

- `"none"` (`no_norm`): the layer without its bias, with Lasagne's default Glorot-uniform
  kernel, then `InitScale` (a fixed per-channel scale that the data init sets, and the bias).
- `"weightnorm"` (`weight_norm`): `WeightNormalization(layer)`, its direction `v` drawn from
  N(0, 0.05^2), with the paper's data init.
- `"batchnorm"` (`batch_norm`): the layer without its bias, kernel from N(0, 0.05^2), then
  batch normalization (momentum 0.9, epsilon 1e-6); no data init.
- `"weightnorm+meanonly"` (`mean_only_bn`): `WeightNormalization(layer without bias)`, `v`
  from N(0, 0.05^2), then `MeanOnlyBatchNormalization` (momentum 0.9).
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from labkit._checks import check, check_choice, is_number
from labkit.meanonly import MeanOnlyBatchNormalization
from labkit.paper.scale import InitScale
from labkit.variants import (
    BATCHNORM,
    NORMALIZATION_RUNS,
    NORMALIZATIONS,
    WEIGHTNORM,
    WEIGHTNORM_MEANONLY,
)
from labkit.weightnorm import WeightNormalization

__all__ = [
    "build_paper_convnet",
    "parameter_counts",
    "authors_parameter_counts",
    "AUTHORS_LAYERS",
    "NOISE_STDDEV",
    "DROPOUT_RATE",
    "NEGATIVE_SLOPE",
    "KERNEL_STDDEV",
    "BATCHNORM_MOMENTUM",
    "BATCHNORM_EPSILON",
]

# The authors' settings (lasagne/train.py, lasagne/nn.py).
NOISE_STDDEV = 0.15  # ll.GaussianNoiseLayer(sigma=0.15)
DROPOUT_RATE = 0.5  # ll.DropoutLayer(p=0.5)
NEGATIVE_SLOPE = 0.1  # nn.lrelu(x, a=0.1)
KERNEL_STDDEV = (
    0.05  # W=lasagne.init.Normal(0.05) in WeightNormLayer, BatchNormLayer, MeanOnlyBNLayer
)
BATCHNORM_MOMENTUM = 0.9  # avg = 0.9 * avg + 0.1 * batch statistic
BATCHNORM_EPSILON = 1e-6  # sqrt(1e-6 + var)

# The authors' conv and dense layers as train.py lists them: (input channels, output channels,
# kernel size), `None` for the DenseLayer. Each gets the weights of its normalizer (nn.py).
AUTHORS_LAYERS = (
    (3, 96, 3),
    (96, 96, 3),
    (96, 96, 3),
    (96, 192, 3),
    (192, 192, 3),
    (192, 192, 3),
    (192, 192, 3),  # pad=0
    (192, 192, 1),  # NINLayer
    (192, 192, 1),  # NINLayer
    (192, 10, None),  # DenseLayer
)
# Per output channel, the authors' normalizer layers add (trainable, not trainable) vectors:
# InitLayer b and a fixed g; WeightNormLayer b and g; BatchNormLayer b and g, and the moving
# mean and variance; MeanOnlyBNLayer b and g, and the moving mean.
_AUTHORS_VECTORS = {
    "none": (1, 1),
    WEIGHTNORM: (2, 0),
    BATCHNORM: (2, 2),
    WEIGHTNORM_MEANONLY: (2, 1),
}


def build_paper_convnet(
    normalization: str = "none",
    num_classes: int = 10,
    input_shape: tuple[int, ...] = (32, 32, 3),
    noise_stddev: float = NOISE_STDDEV,
    dropout_rate: float = DROPOUT_RATE,
    name: str | None = None,
) -> keras.Sequential:
    """Builds Salimans & Kingma's CIFAR-10 ConvNet with one of the four normalizations.

    See the module docstring for the layers, and `docs/paper_cifar10.md` for every place
    where this Keras model differs from the authors' Lasagne code. The model returns logits:
    compile it with `CategoricalCrossentropy(from_logits=True)` (or the sparse one).
    Initialize it with `labkit.paper.paper_data_init(model, x_train[:500])` before training,
    as the authors do (every normalization but `"batchnorm"` has a data-dependent init).

    On CIFAR-10 shapes the model has 1,406,794 trainable parameters with
    `normalization="none"` and 1,408,244 with each of the others, the authors' counts (the
    1,450 extra are one length `g` per output channel, or batch normalization's scale).

    Args:
        normalization: `"none"`, `"weightnorm"`, `"batchnorm"` or `"weightnorm+meanonly"`.
        num_classes: Units of the output layer.
        input_shape: Shape of one image, channels last; the valid 3x3 convolution needs
            at least 12x12 (8x8 after the two pools, minus 2).
        noise_stddev: Standard deviation of the Gaussian noise added to the inputs in
            training (the paper's 0.15, for ZCA-whitened inputs).
        dropout_rate: Rate of the two dropout layers.
        name: Model name; defaults to the run name of the normalization (`"regular"`,
            `"weightnorm"`, `"batchnorm"` or `"weightnorm_meanonly"`).

    Returns:
        An uncompiled, built `keras.Sequential`.

    Example:

    >>> model = build_paper_convnet("weightnorm+meanonly")
    >>> model.count_params()
    1409704
    >>> model.output_shape
    (None, 10)
    """
    check_choice("normalization", normalization, NORMALIZATIONS)
    check(
        "input_shape", input_shape, _big_enough(input_shape), "(height, width, channels), >= 12x12"
    )
    for argument, value in (("noise_stddev", noise_stddev), ("dropout_rate", dropout_rate)):
        check(argument, value, is_number(value) and 0 <= value < 1, "a number in [0, 1)")

    def normalized(layer: Callable[..., keras.layers.Layer], activate: bool = True) -> list:
        """The layer with the normalization, then the leaky ReLU (unless `activate=False`)."""
        if normalization == WEIGHTNORM:
            layers = [WeightNormalization(layer(kernel_initializer=_normal()), init_style="paper")]
        elif normalization == WEIGHTNORM_MEANONLY:
            layers = [
                WeightNormalization(layer(use_bias=False, kernel_initializer=_normal())),
                MeanOnlyBatchNormalization(momentum=BATCHNORM_MOMENTUM),
            ]
        elif normalization == BATCHNORM:
            layers = [
                layer(use_bias=False, kernel_initializer=_normal()),
                keras.layers.BatchNormalization(
                    momentum=BATCHNORM_MOMENTUM, epsilon=BATCHNORM_EPSILON
                ),
            ]
        else:
            layers = [layer(use_bias=False, kernel_initializer="glorot_uniform"), InitScale()]
        if activate:
            layers.append(keras.layers.LeakyReLU(negative_slope=NEGATIVE_SLOPE))
        return layers

    def conv(filters: int, size: int, padding: str = "same") -> list:
        return normalized(
            lambda **options: keras.layers.Conv2D(filters, size, padding=padding, **options)
        )

    def pool_and_drop() -> list:
        return [keras.layers.MaxPooling2D(2), keras.layers.Dropout(dropout_rate)]

    return keras.Sequential(
        [
            keras.Input(shape=tuple(input_shape)),
            keras.layers.GaussianNoise(noise_stddev),
            *conv(96, 3),
            *conv(96, 3),
            *conv(96, 3),
            *pool_and_drop(),
            *conv(192, 3),
            *conv(192, 3),
            *conv(192, 3),
            *pool_and_drop(),
            *conv(192, 3, padding="valid"),
            *conv(192, 1),
            *conv(192, 1),
            keras.layers.GlobalAveragePooling2D(),
            *normalized(lambda **options: keras.layers.Dense(num_classes, **options), False),
        ],
        name=name or NORMALIZATION_RUNS[normalization],
    )


def _normal() -> keras.initializers.Initializer:
    """The authors' `lasagne.init.Normal(0.05)`: N(0, 0.05^2), a fresh one per layer."""
    return keras.initializers.RandomNormal(stddev=KERNEL_STDDEV)


def _big_enough(shape) -> bool:
    return (
        isinstance(shape, (tuple, list))
        and len(shape) == 3
        and all(isinstance(size, int) for size in shape)
        and shape[0] >= 12
        and shape[1] >= 12
        and shape[2] >= 1
    )


def authors_parameter_counts(normalization: str, num_classes: int = 10) -> tuple[int, int]:
    """(trainable, not trainable) parameters of the authors' Lasagne model, counted from
    `AUTHORS_LAYERS` and the weights each of their normalizers adds.

    Example:

    >>> authors_parameter_counts("none")
    (1406794, 1450)
    """
    check_choice("normalization", normalization, NORMALIZATIONS)
    trainable_vectors, fixed_vectors = _AUTHORS_VECTORS[normalization]
    kernels = channels = 0
    for inputs, outputs, size in AUTHORS_LAYERS:
        outputs = num_classes if size is None else outputs
        kernels += inputs * outputs * (size or 1) ** 2
        channels += outputs
    return kernels + trainable_vectors * channels, fixed_vectors * channels


def parameter_counts(input_shape: tuple[int, ...] = (32, 32, 3)):
    """Our parameter counts beside the authors', one row per normalization (a DataFrame).

    `extra` counts the variables this model has and the authors' has not: the
    `initialized` flag `labkit.WeightNormalization` keeps per wrapped layer.

    Example:

    >>> parameter_counts()["trainable"].tolist()
    [1406794, 1408244, 1408244, 1408244]
    """
    import pandas as pd

    rows = []
    for normalization in NORMALIZATIONS:
        model = build_paper_convnet(normalization, input_shape=input_shape)
        trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
        fixed = sum(int(np.prod(v.shape)) for v in model.non_trainable_weights)
        authors_trainable, authors_fixed = authors_parameter_counts(normalization)
        rows.append(
            {
                "normalization": normalization,
                "trainable": trainable,
                "authors_trainable": authors_trainable,
                "not_trainable": fixed,
                "authors_not_trainable": authors_fixed,
                "extra": fixed - authors_fixed,
            }
        )
    return pd.DataFrame(rows).set_index("normalization")
