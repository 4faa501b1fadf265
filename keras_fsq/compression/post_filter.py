"""A learned post-filter for the block-DCT codecs' decoded images, with a reach across block edges.

The decoder's own pixel filter sees a 7x7 window, less than a block, so it cannot tell a block
edge in a smooth region from the picture. This filter works at half resolution (each 2x2 pixel
square as 12 channels) with four 3x3 convolutions, a window of 18x18 pixels, and predicts a
residual:

    h_1 = gelu(K_1 * s2d(x) + b_1 + e_q),   h_2 = gelu(K_2 * h_1 + b_2),   h_3 = gelu(K_3 * h_2 + b_3),
    y = clip(x + d2s(K_4 * h_3 + b_4), 0, 1),

``s2d`` the 2x2 space-to-depth rearrangement (``d2s`` its inverse), ``e_q`` a learned vector of
the codec quality ``q`` (one filter serves the six qualities). It runs after the deblocking
filter on the decoded, padded images, in NumPy on every backend, and changes no file: a file
decodes the same symbols with or without it. ``keras_fsq.post_filter.PostFilter`` is the same
network in Keras, which trains it (``experiments/codec_postfilter.py``); the weights ship as
``keras_fsq/weights/<file>`` and a preset names the file and its quality (``post_filter``).

Large images run in strips of ``STRIP_ROWS`` rows with ``HALO_ROWS`` rows of context on either
side (the window's reach is 9 rows), so memory follows the strip, not the image.
"""

import importlib.resources
from typing import Any

import numpy as np

from keras_fsq.compression.dct_engine import conv3x3, in_strips
from keras_fsq.preset_weights import blend_arrays

LAYERS = ("conv_1", "conv_2", "conv_3", "conv_4")
STRIP_ROWS = 256  # output rows computed at once
HALO_ROWS = 16  # rows of context above and below a strip (even; the window reaches 9)


def gelu(x: np.ndarray) -> np.ndarray:
    """Keras' ``gelu(x, approximate=True)``: ``x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))) / 2``."""
    return 0.5 * x * (1.0 + np.tanh(np.float32(np.sqrt(2 / np.pi)) * (x + np.float32(0.044715) * (x * x * x))))


def space_to_depth(image: np.ndarray) -> np.ndarray:
    """``(H, W, C)`` -> ``(H/2, W/2, 4 C)``: channel ``(2 dy + dx) C + c`` is pixel ``(2 i + dy, 2 j + dx)``'s ``c``."""
    height, width, channels = image.shape
    squares = image.reshape(height // 2, 2, width // 2, 2, channels).transpose(0, 2, 1, 3, 4)
    return squares.reshape(height // 2, width // 2, 4 * channels)


def depth_to_space(features: np.ndarray) -> np.ndarray:
    """The inverse of ``space_to_depth``: ``(h, w, 4 C)`` -> ``(2 h, 2 w, C)``."""
    rows, columns, depth = features.shape
    squares = features.reshape(rows, columns, 2, 2, depth // 4).transpose(0, 2, 1, 3, 4)
    return squares.reshape(2 * rows, 2 * columns, depth // 4)


def of_model(model: Any) -> "PostFilter | None":
    """The post-filter of a model: a ``DCTEngine``'s own (its preset's unless changed), a Keras model's
    shipped preset's (``"post_filter"``), else ``None``."""
    from keras_fsq import presets
    from keras_fsq.compression.dct_engine import DCTEngine

    if isinstance(model, DCTEngine):
        setting = model.post_filter
    else:
        record = presets.record_of(model)
        setting = record.post_filter if record else None
    return PostFilter.shipped(*setting) if setting else None


class PostFilter:
    """The post-filter's ``weights`` (arrays under ``LAYERS``' names and ``quality_embedding``) for the
    codec quality of index ``quality``; ``PostFilter.shipped(file, quality)`` reads a shipped file.

    ``__call__(images)``: ``(N, H, W, 3)`` or ``(H, W, 3)`` float in [0, 1] (even sides) -> filtered
    float32 in [0, 1]."""

    def __init__(self, weights: dict, quality: float):
        self.weights = {key: np.asarray(value, dtype="float32") for key, value in weights.items()}
        missing = [
            n
            for n in ("quality_embedding", *(f"{c}/{w}" for c in LAYERS for w in ("kernel", "bias")))
            if n not in self.weights
        ]
        if missing:
            raise ValueError(f"`weights` lacks {missing}.")
        embeddings = self.weights["quality_embedding"]
        count = len(embeddings)
        if (
            isinstance(quality, bool)
            or not isinstance(quality, (int, float, np.number))
            or not 0 <= quality <= count - 1
        ):
            raise ValueError(f"`quality` must be a number in [0, {count - 1}]; received {quality!r}.")
        self.quality = quality
        # a quality between two (a blended codec, presets.blended_codec): their embeddings blended linearly
        low = min(int(quality), count - 2)
        self.embedding = blend_arrays(embeddings[low], embeddings[low + 1], float(quality) - low)

    @classmethod
    def shipped(cls, file: str, quality: float) -> "PostFilter":
        """The filter of ``keras_fsq/weights/<file>`` for quality index ``quality`` (between two: blended)."""
        with (importlib.resources.files("keras_fsq") / "weights" / file).open("rb") as handle:
            with np.load(handle) as stored:
                return cls({key: stored[key] for key in stored.files}, quality)

    def _conv(self, layer: str, x: np.ndarray, extra: Any = 0.0) -> np.ndarray:
        return conv3x3(x, self.weights[f"{layer}/kernel"], self.weights[f"{layer}/bias"] + extra)

    def _filter_rows(self, image: np.ndarray) -> np.ndarray:
        hidden = gelu(self._conv("conv_1", space_to_depth(image), self.embedding))
        hidden = gelu(self._conv("conv_3", gelu(self._conv("conv_2", hidden))))
        return image + depth_to_space(self._conv("conv_4", hidden))

    def _filter(self, image: np.ndarray, out: np.ndarray) -> None:
        """Filter ``image`` strip by strip into ``out`` (same shape; memory of one strip's activations)."""
        in_strips(
            lambda start, stop: self._filter_rows(image[start:stop]), image.shape[0], 1, out, STRIP_ROWS, HALO_ROWS
        )
        np.clip(out, 0.0, 1.0, out=out)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images, dtype="float32")
        if images.shape[-1] != 3 or images.ndim not in (3, 4) or images.shape[-3] % 2 or images.shape[-2] % 2:
            raise ValueError(f"`images` must be (N, H, W, 3) or (H, W, 3) with even sides; received {images.shape}.")
        out = np.empty_like(images)
        for image, filtered in zip(
            images[None] if images.ndim == 3 else images, out[None] if images.ndim == 3 else out
        ):
            self._filter(image, filtered)
        return out
