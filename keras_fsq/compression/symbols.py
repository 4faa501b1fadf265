"""A model's indices as symbols, through the quantizer contract (``alphabet_sizes``): the codec's unit.

Each dimension of each latent vector (of every codebook) is one symbol, its level
index in ``[0, L_i)``; a spatial grid of latents gives symbols ``(N, h, w, D)``.
"""

from typing import Any

import numpy as np

from keras_fsq.compression.container import weights_fingerprint
from keras_fsq.compression.dct_engine import DCTEngine


def coded_quantizer(model: Any) -> Any:
    """The model's quantizer when its indices split into symbols (the quantizer contract's
    ``alphabet_sizes``: FSQ, LFQ, BSQ), or a ValueError naming what it has instead."""
    if model.quantizer.alphabet_sizes is None:
        raise ValueError(
            f"The codec codes symbols (a quantizer's `alphabet_sizes`); {type(model.quantizer).__name__} has none."
        )
    return model.quantizer


def symbol_levels(model: Any) -> list[int]:
    """The alphabet size of each symbol of one latent position (``Quantizer.position_alphabet``)."""
    if isinstance(model, DCTEngine):
        return model.position_alphabet
    return coded_quantizer(model).position_alphabet


def model_fingerprint(model: Any) -> bytes:
    """First 8 bytes of SHA-256 over every weight's shape and float32 bytes (the same on every backend)."""
    if isinstance(model, DCTEngine):
        return model.fingerprint
    return weights_fingerprint(model.get_weights())


def spatial_rank(model: Any) -> int:
    return 1 if model.downsampling_factor is None else 2


def symbol_grid(model: Any, indices: np.ndarray) -> np.ndarray:
    """``model.encode`` indices -> symbols ``(N, h, w, D)`` uint8 (a global latent is one row).

    A spatial grid is converted 64 rows at a time: the int32 symbols of a large
    image would otherwise take four times the memory of the result.
    """
    import keras

    from keras_fsq.priors.grid import symbol_grid as grid_of

    quantizer, rank = coded_quantizer(model), spatial_rank(model)
    strips = [indices] if rank == 1 else [indices[:, top : top + 64] for top in range(0, indices.shape[1], 64)]
    grids = []
    for strip in strips:
        symbols = quantizer.indices_to_symbols(keras.ops.convert_to_tensor(strip, dtype="int32"))
        grids.append(keras.ops.convert_to_numpy(grid_of(symbols, rank)).astype("uint8"))
    return np.concatenate(grids, axis=1)


def indices_of(model: Any, grid: np.ndarray, index_shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of ``symbol_grid``: symbols ``(N, h, w, D)`` -> indices of shape ``(N,) + index_shape[1:]``."""
    import keras

    quantizer = coded_quantizer(model)
    symbols = np.asarray(grid).reshape((len(grid), *index_shape[1:], len(quantizer.alphabet_sizes)))
    strips = (
        [symbols]
        if spatial_rank(model) == 1
        else [symbols[:, top : top + 64] for top in range(0, symbols.shape[1], 64)]
    )
    return np.concatenate(
        [keras.ops.convert_to_numpy(quantizer.symbols_to_indices(strip.astype("int32"))) for strip in strips], axis=1
    ).astype("int32")
