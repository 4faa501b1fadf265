"""Reconstruction losses on [0, 1] pixels, per image."""

from keras import ops


def binary_crossentropy(y_true, y_pred):
    """Mean over pixels of ``-(x log p + (1 - x) log(1 - p))``, ``p`` clipped to [1e-7, 1 - 1e-7]."""
    y_pred = ops.clip(ops.cast(y_pred, "float32"), 1e-7, 1 - 1e-7)
    y_true = ops.cast(y_true, "float32")
    bce = -(y_true * ops.log(y_pred) + (1 - y_true) * ops.log(1 - y_pred))
    return ops.mean(bce, axis=tuple(range(1, len(bce.shape))))


def mean_squared_error(y_true, y_pred):
    """Mean over pixels of ``(x - p)^2``."""
    diff = ops.cast(y_true, "float32") - ops.cast(y_pred, "float32")
    return ops.mean(ops.square(diff), axis=tuple(range(1, len(diff.shape))))


RECONSTRUCTION_LOSSES = {
    "binary_crossentropy": binary_crossentropy,
    "bce": binary_crossentropy,
    "mean_squared_error": mean_squared_error,
    "mse": mean_squared_error,
}


def get_reconstruction_loss(name):
    """Look a reconstruction loss up by name, raising ``ValueError`` for unknown names."""
    if name not in RECONSTRUCTION_LOSSES:
        raise ValueError(
            f"Unknown `reconstruction_loss` {name!r}; choose one of {sorted(RECONSTRUCTION_LOSSES)}."
        )
    return RECONSTRUCTION_LOSSES[name]
