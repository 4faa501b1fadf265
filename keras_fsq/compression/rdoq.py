"""Rate-distortion optimized quantization: the encoder picks symbols by ``D + lambda R`` under the real coder.

The FSQ encoder rounds each latent's continuous symbol position ``p`` to the nearest level
``s = round(p)``: the least distortion, whatever it costs to code. A level one step nearer the
zero level, ``t = s - sign(s - c)``, costs ``w_i ((p - t)^2 - (p - s)^2)`` more squared error
(``w_i``: the squared pixel error of one step of dimension ``i``, from the decoder's step and its
synthesis kernel) and may cost fewer bits. Coding position by position in the coder's order
(``EntropyModel.passes``), each symbol's context is read from the symbols already chosen, and
the cheaper of ``s`` and ``t`` under ``sse + lambda * bits`` is kept, ``bits = -log2 P(. | context)``
from the coding table. Greedy (a choice's effect on later contexts is not weighed) and one step
deep, as the zeroing passes of mozjpeg's trellis; the decoder is unchanged and decodes the files
as any others. Dimensions coded as residuals of a prediction (a neighbours table's DC
coefficients) keep ``round(p)``: their symbols move their neighbours' predictions.

``lambda`` is in squared error (pixels in [0, 1], summed over the image's values) per bit:
a model trained on ``MSE + rate_weight * bits_per_pixel`` (mean over the 3 channels) weighs
``lambda = 3 rate_weight``.
"""

from typing import TYPE_CHECKING

import numpy as np

from keras_fsq.compression import neighbours

if TYPE_CHECKING:
    from keras_fsq.compression.tables import EntropyModel


def rdo_symbols(positions: np.ndarray, prior: "EntropyModel", step_errors: np.ndarray, lam: float) -> np.ndarray:
    """Symbols ``(N, h, w, d)`` uint8 chosen by ``sse + lam * bits`` from continuous ``positions`` (same shape).

    ``prior``: the ``EntropyModel`` the file is coded under; ``step_errors``: ``(d,)`` squared pixel
    error of one step of each dimension (``w_i``). ``lam = 0`` gives ``round(positions)``.
    """
    positions = np.asarray(positions, dtype="float32")
    levels = np.asarray(prior.levels)
    grid = np.clip(np.round(positions), 0, levels - 1).astype("uint8")
    if lam <= 0:
        return grid
    centre = (levels - 1) // 2
    movable = ~np.isin(np.arange(len(levels)), prior.predicted)
    log_table = prior.bits
    dims = np.arange(len(levels))
    rows, columns = grid.shape[1:3]
    # Under contexts that read the earlier groups of a position, each group is chosen given the ones before.
    groups = prior.dimension_groups() if prior.reads_earlier_groups else [dims]
    for mask in prior.passes(rows, columns):
        for group in groups:
            in_group = np.isin(dims, group)
            contexts = prior.contexts(grid, mask)  # (N, P, d), from the symbols chosen so far
            nearest = grid[:, mask].astype("int64")
            toward = nearest - np.sign(nearest - centre)
            p = positions[:, mask]
            extra_error = step_errors * ((p - toward) ** 2 - (p - nearest) ** 2)
            saved_bits = log_table[dims, contexts, nearest] - log_table[dims, contexts, toward]
            if prior.kind.reads_neighbour_magnitudes:
                saved_bits = saved_bits + _neighbours_saved_bits(grid, mask, nearest, toward, prior)
            better = (extra_error < lam * saved_bits) & (nearest != centre) & movable & in_group
            if better.any():
                grid[:, mask] = np.where(better, toward, nearest).astype("uint8")
    return grid


def _neighbours_saved_bits(
    grid: np.ndarray, mask: np.ndarray, nearest: np.ndarray, toward: np.ndarray, prior: "EntropyModel"
) -> np.ndarray:
    """Bits the right and lower neighbours (not coded yet: their rounded symbols) save when a neighbours
    magnitude context reads ``toward`` instead of ``nearest`` as their left or upper neighbour."""
    levels = np.asarray(prior.levels)
    centre, log_table, dims = (levels - 1) // 2, prior.bits, np.arange(len(levels))
    ys, xs = np.nonzero(mask)
    rows, columns = grid.shape[1:3]
    saved = np.zeros(nearest.shape)
    for dy, dx in ((0, 1), (1, 0)):  # the right neighbour reads us as its left, the lower one as its upper
        y, x = ys + dy, xs + dx
        inside = (y < rows) & (x < columns)
        y, x = np.minimum(y, rows - 1), np.minimum(x, columns - 1)
        symbol = grid[:, y, x].astype("int64")
        oy, ox = y - dx, x - dy  # the neighbour's other context neighbour: its upper (right) or left (lower)
        other = np.where(((oy >= 0) & (ox >= 0))[None, :, None], grid[:, np.maximum(oy, 0), np.maximum(ox, 0)], centre)
        other = np.abs(other.astype("int64") - centre)
        before = prior.kind.magnitude_context(prior, neighbours.bucket(np.abs(nearest - centre) + other), symbol)
        after = prior.kind.magnitude_context(prior, neighbours.bucket(np.abs(toward - centre) + other), symbol)
        change = log_table[dims, before, symbol] - log_table[dims, after, symbol]
        saved += np.where(inside[None, :, None], change, 0.0)
    return saved
