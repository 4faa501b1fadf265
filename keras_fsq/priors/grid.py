"""Per-dimension symbols as the ``(N, h, w, D)`` grid that priors and coding tables read."""

from keras import ops

from keras_fsq.types import Tensor


def symbol_grid(symbols: Tensor, spatial_rank: int) -> Tensor:
    """Per-dimension symbols ``(N, *grid, [k,] d)`` as ``(N, h, w, D)``.

    ``grid`` is ``(h, w)``, or ``(n,)`` for a global latent (then ``h = 1``).
    """
    shape = ops.shape(symbols)
    if spatial_rank == 1:
        return ops.reshape(symbols, (shape[0], 1, shape[1], -1))
    return ops.reshape(symbols, (shape[0], shape[1], shape[2], -1))
