"""The ``"neighbours_bands"`` context: the ``"neighbours"`` context, each band also given the band coded before it.

Under a ``"neighbours"`` table the dimensions of a position are coded in groups of one
``L`` (``EntropyModel.dimension_groups``); a block-DCT codec's groups are its frequency
ranks (``dct.coefficient_order``: the widest-ranging, lowest-frequency coefficients
first). A block whose lower frequencies are busy has busy higher ones, as JPEG
recompressors (packJPG, Lepton) use. So group ``g > 0`` is also given

    ``a = sum_{j in G_{g-1}, j not predicted} |s_j - c_j|``,

the magnitude of the previous group's symbols at the same position (``c_j`` the centre
level; the predicted DC residuals left out), bucketed finely near zero:
``band(a) = #{t in BAND_THRESHOLDS : a >= t}`` (``BAND_BUCKETS`` values); group 0 gets 0.
A symbol's context is ``neighbours_bucket * BAND_BUCKETS + band``.

The decoder knows group ``g - 1`` of a position once it has decoded it, so the coder
decodes a pass group by group, reading the contexts again before each
(``EntropyModel.reads_earlier_groups``). On the training photos (4/5 counted, 1/5 coded) this
takes 2.2% (quality 1) to 5.1% (quality 4) off the neighbours table's bits.
"""

from collections.abc import Sequence

import numpy as np

BAND_THRESHOLDS = np.array([1, 2, 3, 5, 8, 12, 18, 27, 40])
BAND_BUCKETS = len(BAND_THRESHOLDS) + 1


def band_buckets(
    symbols: np.ndarray, levels: Sequence[int], predicted: np.ndarray, groups: Sequence[np.ndarray]
) -> np.ndarray:
    """``band(a)`` of every dimension of ``symbols`` ``(..., d)`` (the levels of whole positions), same shape,
    int64: for the dimensions of ``groups[g]``, ``g > 0``, the bucket of the previous group's magnitude at
    the same position (see the module doc); 0 for ``groups[0]``."""
    symbols = np.asarray(symbols, dtype="int64")
    magnitude = np.abs(symbols - (np.asarray(levels, dtype="int64") - 1) // 2) * ~predicted
    buckets = np.zeros(symbols.shape, dtype="int64")
    for previous, group in zip(groups, groups[1:]):
        activity = magnitude[..., previous].sum(axis=-1)
        buckets[..., group] = np.searchsorted(BAND_THRESHOLDS, activity, side="right")[..., None]
    return buckets
