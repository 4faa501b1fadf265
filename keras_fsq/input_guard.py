"""What FSQVAE checks of its inputs: NumPy batches up front, any other input batch by batch inside the step.

A pixel outside [0, 1] or NaN would quantize to an index outside the codebook (e.g. -1) and
corrupt training silently, so ``fit``, ``evaluate`` and ``predict`` refuse them: arrays before
anything runs (``checked_array``), datasets and generators at their first bad batch
(``InputGuard``, reading the ``invalid_pixels`` count the model keeps inside its step).
"""

from typing import Any

import keras
import numpy as np
from keras import ops

from keras_fsq.types import Tensor
from keras_fsq.validation import validate_images


def valid_pixels(images: Tensor) -> Tensor:
    """Boolean mask of the values of ``images`` in [0, 1] (False for NaN)."""
    images = ops.cast(images, "float32")
    return ops.logical_and(ops.greater_equal(images, 0.0), ops.less_equal(images, 1.0))


def invalid_pixel_count(images: Tensor) -> Tensor:
    """How many values of ``images`` are NaN or outside [0, 1] (float32 scalar; cheap inside a step)."""
    return ops.sum(ops.cast(ops.logical_not(valid_pixels(images)), "float32"))


class InputGuard(keras.callbacks.Callback):
    """Stops ``fit``/``evaluate`` with a ``ValueError`` at the first batch whose pixels are not in [0, 1].

    Reads the ``invalid_pixels`` metric that ``FSQVAE.compute_loss`` counts
    inside the (compiled) step, so it works for ``tf.data`` pipelines and
    generators as well as arrays, on every backend.
    """

    def _check(self, logs: dict | None, when: str) -> None:
        if logs and logs.get("invalid_pixels", 0) > 0:
            raise ValueError(
                f"{when}: {int(logs['invalid_pixels'])} input values are NaN or outside [0, 1] "
                "(FSQVAE expects float images in [0, 1]; divide uint8 images by 255)."
            )

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._check(logs, f"fit, training batch {batch}")

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._check(logs, f"evaluation batch {batch}")


def guarded(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` with an ``InputGuard`` among the callbacks."""
    callbacks = kwargs.get("callbacks")
    if isinstance(callbacks, keras.callbacks.CallbackList):  # fit's own validation pass: guarded already
        return kwargs
    callbacks = list(callbacks or [])
    return {**kwargs, "callbacks": callbacks + [InputGuard()]}


def checked_array(x: np.ndarray, name: str = "x") -> None:
    """A NumPy batch of images checked up front: (N, H, W, C) floats in [0, 1], no NaN, N >= 1."""
    validate_images(x, name)
    if not len(x):
        raise ValueError(f"`{name}` holds no images (shape {x.shape}); there is nothing to fit or evaluate.")
