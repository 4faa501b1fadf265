"""Image-quality functions and codebook metrics, in ``keras.ops`` (FID and KID: ``keras_fsq.fid``)."""

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_fsq.quantizers.base import histogram
from keras_fsq.types import Config, Tensor


def psnr(y_true: Tensor, y_pred: Tensor, max_val: float = 1.0) -> Tensor:
    """Peak signal-to-noise ratio per image: ``10 log10(max_val^2 / MSE)`` dB."""
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    axes = tuple(range(1, len(y_true.shape)))
    mse = ops.mean(ops.square(y_true - y_pred), axis=axes)
    return 10.0 * ops.log10(max_val**2 / ops.maximum(mse, 1e-10))


def _gaussian_window(size: int, sigma: float, channels: int) -> np.ndarray:
    coords = np.arange(size, dtype="float64") - (size - 1) / 2
    g = np.exp(-(coords**2) / (2 * sigma**2))
    g /= g.sum()
    window = np.outer(g, g).astype("float32")
    return np.tile(window[:, :, None, None], (1, 1, channels, 1))


def _ssim_maps(
    y_true: Tensor, y_pred: Tensor, max_val: float, filter_size: int, filter_sigma: float, k1: float, k2: float
) -> tuple[Tensor, Tensor]:
    """SSIM's luminance term ``l`` and contrast-structure term ``cs`` per window position."""
    height, width, channels = y_true.shape[1:]
    size = min(filter_size, height, width)
    window = _gaussian_window(size, filter_sigma, channels)

    def blur(x: Tensor) -> Tensor:
        return ops.depthwise_conv(x, window, strides=1, padding="valid")

    mu_x, mu_y = blur(y_true), blur(y_pred)
    var_x = blur(y_true * y_true) - mu_x * mu_x
    var_y = blur(y_pred * y_pred) - mu_y * mu_y
    cov = blur(y_true * y_pred) - mu_x * mu_y
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    luminance = (2 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    contrast_structure = (2 * cov + c2) / (var_x + var_y + c2)
    return luminance, contrast_structure


def _as_image_batch(y_true: Tensor, y_pred: Tensor, name: str) -> tuple[Tensor, Tensor]:
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    if len(y_true.shape) != 4:
        raise ValueError(f"`{name}` expects (batch, H, W, C) images; received shape {y_true.shape}.")
    return y_true, y_pred


def ssim(
    y_true: Tensor,
    y_pred: Tensor,
    max_val: float = 1.0,
    filter_size: int = 11,
    filter_sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> Tensor:
    """Structural similarity per image (Wang et al. 2004), Gaussian window.

    ``SSIM = (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2))``
    averaged over the valid window positions and channels, with
    ``C1 = (k1 max_val)^2`` and ``C2 = (k2 max_val)^2``. Images are
    ``(batch, H, W, C)``; the window shrinks to ``min(H, W)`` for small images.
    """
    y_true, y_pred = _as_image_batch(y_true, y_pred, "ssim")
    luminance, contrast_structure = _ssim_maps(y_true, y_pred, max_val, filter_size, filter_sigma, k1, k2)
    return ops.mean(luminance * contrast_structure, axis=(1, 2, 3))


MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def ms_ssim(
    y_true: Tensor,
    y_pred: Tensor,
    max_val: float = 1.0,
    weights: Sequence[float] = MS_SSIM_WEIGHTS,
    filter_size: int = 11,
    filter_sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    floor: float = 0.0,
) -> Tensor:
    """Multi-scale SSIM per image (Wang, Simoncelli & Bovik 2003).

    ``MS-SSIM = prod_{j<M} mean(cs_j)^{w_j} * mean(l_M cs_M)^{w_M}``, scale ``j+1``
    being scale ``j`` average-pooled 2x2; means below ``floor`` are raised to it (0:
    negative means clipped to 0 as in TensorFlow's ``ssim_multiscale``; a loss uses a
    small positive floor so the power's gradient stays finite). Images must keep >= 1
    pixel at the coarsest scale.
    """
    y_true, y_pred = _as_image_batch(y_true, y_pred, "ms_ssim")
    if min(y_true.shape[1:3]) < 2 ** (len(weights) - 1):
        raise ValueError(
            f"`ms_ssim` with {len(weights)} scales needs images of at least {2 ** (len(weights) - 1)} pixels a side."
        )
    result = 1.0
    for scale, weight in enumerate(weights):
        luminance, contrast_structure = _ssim_maps(y_true, y_pred, max_val, filter_size, filter_sigma, k1, k2)
        last = scale == len(weights) - 1
        value = ops.mean(luminance * contrast_structure if last else contrast_structure, axis=(1, 2, 3))
        result = result * ops.power(ops.maximum(value, floor), weight)
        if not last:
            y_true = ops.average_pool(y_true, 2, strides=2, padding="valid")
            y_pred = ops.average_pool(y_pred, 2, strides=2, padding="valid")
    return result


class CodeHistogram(keras.metrics.Metric):
    """Counts how often each of ``codebook_size`` indices occurs since reset."""

    def __init__(self, codebook_size: int, name: str | None = None, **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        if not isinstance(codebook_size, int) or codebook_size < 1:
            raise ValueError(f"`codebook_size` must be a positive int; received {codebook_size!r}.")
        self.codebook_size = codebook_size
        self.counts = self.add_variable(shape=(codebook_size,), initializer="zeros", dtype="float32", name="counts")

    def update_state(self, indices: Tensor, sample_weight: Tensor | None = None) -> None:
        self.counts.assign(self.counts + histogram(ops.cast(indices, "int32"), self.codebook_size))

    def reset_state(self) -> None:
        self.counts.assign(ops.zeros((self.codebook_size,), dtype="float32"))

    def get_config(self) -> Config:
        return {**super().get_config(), "codebook_size": self.codebook_size}


@keras.saving.register_keras_serializable(package="keras_fsq")
class CodebookUsage(CodeHistogram):
    """Fraction of the codebook's codes seen at least once since reset."""

    def __init__(self, codebook_size: int, name: str = "codebook_usage", **kwargs: Any) -> None:
        super().__init__(codebook_size, name=name, **kwargs)

    def result(self) -> Tensor:
        return ops.mean(ops.cast(self.counts > 0, "float32"))


@keras.saving.register_keras_serializable(package="keras_fsq")
class CodebookPerplexity(CodeHistogram):
    """``exp(H(p))`` of the code distribution since reset (1 … codebook_size)."""

    def __init__(self, codebook_size: int, name: str = "perplexity", **kwargs: Any) -> None:
        super().__init__(codebook_size, name=name, **kwargs)

    def result(self) -> Tensor:
        p = self.counts / ops.maximum(ops.sum(self.counts), 1.0)
        return ops.exp(-ops.sum(ops.where(p > 0, p * ops.log(p + 1e-12), 0.0)))
