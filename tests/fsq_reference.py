"""An independent numpy implementation of FSQ as written in DESIGN.md."""

import numpy as np


def reference_fsq(z, levels, temperature=1.0, eps=1e-3):
    """Return (codes, indices, d codes / d z) for latents ``z`` of shape (..., d)."""
    levels = np.asarray(levels, dtype=np.float64)
    z = np.asarray(z, dtype=np.float64)
    half_l = (levels - 1) * (1 - eps) / 2
    offset = np.where(levels % 2 == 0, 0.5, 0.0)
    # DESIGN.md's atanh(offset / half_l) is undefined for L = 2 (offset > half_l);
    # shift 0 splits the two levels at z = 0.
    shift = np.arctanh(np.where(offset < half_l, offset / half_l, 0.0))
    pre = z / temperature + shift
    bounded = np.tanh(pre) * half_l - offset
    z_hat = np.round(bounded)
    half_width = levels // 2
    codes = z_hat / half_width
    basis = np.concatenate([[1], np.cumprod(levels[:-1])])
    indices = ((z_hat + half_width) * basis).sum(-1).astype(np.int64)
    # Straight-through: d round / d x = 1, so d codes / dz = d bound / dz / half_width.
    dcodes_dz = (1 - np.tanh(pre) ** 2) * half_l / temperature / half_width
    return codes, indices, dcodes_dz


def reference_symmetric_fsq(z, levels, temperature=1.0):
    """``preserve_symmetry=True``: (codes, indices, d codes / d z) on the grid -1 + 2k / (L - 1), k in [0, L)."""
    levels = np.asarray(levels, dtype=np.float64)
    z = np.asarray(z, dtype=np.float64)
    position = (levels - 1) * (np.tanh(z / temperature) + 1) / 2
    symbols = np.round(position)
    codes = 2 * symbols / (levels - 1) - 1
    basis = np.concatenate([[1], np.cumprod(levels[:-1])])
    indices = (symbols * basis).sum(-1).astype(np.int64)
    dcodes_dz = (1 - np.tanh(z / temperature) ** 2) / temperature
    return codes, indices, dcodes_dz
