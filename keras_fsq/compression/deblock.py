"""A deblocking filter for the block-DCT codecs' decoded images: smooth the steps at 8x8 block edges.

Coarse quantization leaves each block's mean and slope a little off, so flat regions show steps
at every block edge. As H.264's loop filter does, each edge between pixels ``p1 p0 | q0 q1``
(along rows for vertical edges, columns for horizontal ones) is filtered only where it looks
like a coding artefact and not like an edge of the picture: ``|p0 - q0| < alpha`` and the
picture is smooth on both sides (``|p1 - p0| < beta``, ``|q1 - q0| < beta``). There

    delta = clip(((q0 - p0) * 4 + (p1 - q1)) / 8, -tc, tc),   p0 += delta,   q0 -= delta,

and, with ``|p2 - p0| < beta`` (``|q2 - q0| < beta``), the second pixels move half as far
toward their neighbours' mean. ``(alpha, beta, tc)`` per codec quality are chosen on the
training photos (``experiments/codec_deblock.py``); the filter runs on decoded images in [0, 1],
in NumPy, after the decoder network, for every backend and the NumPy engine alike. It changes
no file: a file decodes with or without it.
"""

from typing import Any

import numpy as np

from keras_fsq.dct import BLOCK


def setting_of(model: Any) -> tuple[float, float, float] | None:
    """The deblocking ``(alpha, beta, tc)`` of a model: a ``DCTEngine``'s own (its preset's unless changed),
    a Keras model's shipped preset's (``"deblock"``), else ``None``."""
    from keras_fsq import presets
    from keras_fsq.compression.dct_engine import DCTEngine

    if isinstance(model, DCTEngine):
        return model.deblock
    record = presets.record_of(model)
    return record.deblock if record else None


def _filter_edges(image: np.ndarray, alpha: float, beta: float, tc: float) -> np.ndarray:
    """Filter the vertical block edges of ``image`` ``(H, W, C)`` (columns 8k-1 | 8k), in place."""
    width = image.shape[1]
    edges = np.arange(BLOCK, width - 2, BLOCK)
    if not len(edges):
        return image
    p2, p1, p0 = image[:, edges - 3], image[:, edges - 2], image[:, edges - 1]
    q0, q1, q2 = image[:, edges], image[:, edges + 1], image[:, edges + 2]
    active = (np.abs(p0 - q0) < alpha) & (np.abs(p1 - p0) < beta) & (np.abs(q1 - q0) < beta)
    delta = np.clip(((q0 - p0) * 4 + (p1 - q1)) / 8, -tc, tc) * active
    image[:, edges - 1] = p0 + delta
    image[:, edges] = q0 - delta
    second = tc / 2
    p_smooth = active & (np.abs(p2 - p0) < beta)
    q_smooth = active & (np.abs(q2 - q0) < beta)
    image[:, edges - 2] = p1 + p_smooth * np.clip((p2 + (p0 + q0) / 2) / 2 - p1, -second, second)
    image[:, edges + 1] = q1 + q_smooth * np.clip((q2 + (p0 + q0) / 2) / 2 - q1, -second, second)
    return image


def deblock(images: np.ndarray, alpha: float, beta: float, tc: float, in_place: bool = False) -> np.ndarray:
    """``images`` ``(N, H, W, C)`` or ``(H, W, C)`` float in [0, 1] with their block edges filtered: a copy,
    or (``in_place``, a float32 array) the array itself.

    Vertical edges first, then horizontal ones (on the vertically filtered image), as H.264 orders them.
    ``alpha = 0`` (or ``tc = 0``) leaves the images as they are.
    """
    if not (in_place and isinstance(images, np.ndarray) and images.dtype == np.float32):
        images = np.array(images, dtype="float32")
    if alpha <= 0 or tc <= 0:
        return images
    single = images.ndim == 3
    batch = images[None] if single else images
    for image in batch:
        _filter_edges(image, alpha, beta, tc)
        _filter_edges(image.transpose(1, 0, 2), alpha, beta, tc)  # a view: filters the horizontal edges
    np.clip(batch, 0.0, 1.0, out=batch)
    return images
