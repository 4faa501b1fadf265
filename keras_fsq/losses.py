"""Reconstruction losses on [0, 1] pixels, per image."""

import math
from collections.abc import Callable

from keras import ops

from keras_fsq.types import Tensor


def binary_crossentropy(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """Mean over pixels of ``-(x log p + (1 - x) log(1 - p))``, ``p`` clipped to [1e-7, 1 - 1e-7]."""
    y_pred = ops.clip(ops.cast(y_pred, "float32"), 1e-7, 1 - 1e-7)
    y_true = ops.cast(y_true, "float32")
    bce = -(y_true * ops.log(y_pred) + (1 - y_true) * ops.log(1 - y_pred))
    return ops.mean(bce, axis=tuple(range(1, len(bce.shape))))


def mean_squared_error(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """Mean over pixels of ``(x - p)^2``."""
    diff = ops.cast(y_true, "float32") - ops.cast(y_pred, "float32")
    return ops.mean(ops.square(diff), axis=tuple(range(1, len(diff.shape))))


MS_SSIM_LOSS_WEIGHT = 0.1


def mse_ms_ssim(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """``MSE + 0.1 (1 - MS-SSIM)`` per image.

    MS-SSIM over the first ``k`` of its five scales (weights renormalized), ``k`` the
    most that keep >= 4 pixels a side at the coarsest (4 for 32x32 images); scale
    means are floored at 1e-6 so the gradient stays finite.
    """
    from keras_fsq.metrics import MS_SSIM_WEIGHTS, ms_ssim

    side = min(y_true.shape[1:3])
    scales = max(1, min(len(MS_SSIM_WEIGHTS), int(math.log2(side / 4)) + 1))
    weights = [w / sum(MS_SSIM_WEIGHTS[:scales]) for w in MS_SSIM_WEIGHTS[:scales]]
    similarity = ms_ssim(y_true, y_pred, weights=weights, floor=1e-6)
    return mean_squared_error(y_true, y_pred) + MS_SSIM_LOSS_WEIGHT * (1.0 - similarity)


RECONSTRUCTION_LOSSES = {
    "binary_crossentropy": binary_crossentropy,
    "bce": binary_crossentropy,
    "mean_squared_error": mean_squared_error,
    "mse": mean_squared_error,
    "mse_ms_ssim": mse_ms_ssim,
}


def get_reconstruction_loss(name: str) -> Callable[[Tensor, Tensor], Tensor]:
    """Look a reconstruction loss up by name, raising ``ValueError`` for unknown names."""
    if name not in RECONSTRUCTION_LOSSES:
        raise ValueError(f"Unknown `reconstruction_loss` {name!r}; choose one of {sorted(RECONSTRUCTION_LOSSES)}.")
    return RECONSTRUCTION_LOSSES[name]
