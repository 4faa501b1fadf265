"""A model's encoder and decoder over large images in tiles, so memory does not grow with the image.

A fully convolutional encoder maps pixels to a latent grid ``f`` times smaller
(``f = model.downsampling_factor``); each latent depends only on the pixels of its
receptive field, and each output pixel only on the latents of the decoder's.
``halos(model)`` measures both once, in latents (how far a one-pixel change moves the
encoder's output, and a one-latent change the decoder's, plus one for rounding), and
``encode_tiled`` / ``decode_tiled`` process tiles of ``TILE`` x ``TILE`` latents with
that halo around them, keeping only each tile's interior. Within the halo the tile sees
exactly what the whole image would, so the result is the untiled one up to float
rounding, and working memory is that of one tile whatever the image's size.
"""

import math

import numpy as np

from keras_fsq.data import to_uint8

TILE = 32  # latents per side of a tile: 256 pixels at stride 8, 512 at stride 16
PROBE = 9  # the probe's half-width in latents: receptive fields up to this are measured


def halos(model):
    """``(encoder halo, decoder halo)`` of a fully convolutional model, in latents (measured once, cached)."""
    if getattr(model, "_tiling_halos", None) is None:
        from keras import ops

        factor, side = model.downsampling_factor, 2 * PROBE + 1
        channels = model.image_shape[-1] if getattr(model, "image_shape", None) else 3
        flat = np.full((1, side * factor, side * factor, channels), 0.5, dtype="float32")
        bumped = flat.copy()
        bumped[0, PROBE * factor, PROBE * factor] += 0.25
        latents = [ops.convert_to_numpy(model.encoder(x, training=False)) for x in (flat, bumped)]
        encoder_reach = _reach(np.abs(latents[1] - latents[0]).max(axis=-1)[0], PROBE)
        codes = ops.convert_to_numpy(model.quantizer(latents[0], training=False))
        moved = codes.copy()
        moved[0, PROBE, PROBE] += 0.1
        pixels = [ops.convert_to_numpy(model.decoder(c, training=False)) for c in (codes, moved)]
        centre = PROBE * factor + factor // 2
        decoder_reach = math.ceil(_reach(np.abs(pixels[1] - pixels[0]).max(axis=-1)[0], centre) / factor)
        model._tiling_halos = (encoder_reach + 1, decoder_reach + 1)
    return model._tiling_halos


def _reach(change, centre):
    """How far from ``centre`` (in cells) the nonzero entries of a 2-D ``change`` map lie."""
    rows, columns = np.nonzero(change > 1e-6)
    if not len(rows):
        return 0
    return int(max(np.abs(rows - centre).max(), np.abs(columns - centre).max()))


def _tiles(rows, columns, tile, halo):
    """Each tile of a ``rows`` x ``columns`` latent grid: its interior ``(top, bottom, left, right)``
    and the window around it, ``halo`` wider on each side within the grid, ``(y0, y1, x0, x1)``."""
    for top in range(0, rows, tile):
        for left in range(0, columns, tile):
            bottom, right = min(top + tile, rows), min(left + tile, columns)
            window = (max(top - halo, 0), min(bottom + halo, rows), max(left - halo, 0), min(right + halo, columns))
            yield (top, bottom, left, right), window


def encode_tiled(model, image, tile=TILE):
    """``model.encode`` of one image ``(H, W, C)`` whose sides are multiples of the model's factor, tile by tile."""
    factor = model.downsampling_factor
    rows, columns = image.shape[0] // factor, image.shape[1] // factor
    if rows <= tile and columns <= tile:
        return model.encode(image[None])[0]
    out = None
    for (top, bottom, left, right), (y0, y1, x0, x1) in _tiles(rows, columns, tile, halos(model)[0]):
        indices = model.encode(image[None, y0 * factor : y1 * factor, x0 * factor : x1 * factor])[0]
        if out is None:
            out = np.zeros((rows, columns, *indices.shape[2:]), dtype=indices.dtype)
        out[top:bottom, left:right] = indices[top - y0 : bottom - y0, left - x0 : right - x0]
    return out


def decode_tiled(model, indices, tile=TILE, dtype="float32"):
    """``model.decode`` of one image's indices ``(h, w, ...)``, tile by tile: ``(h f, w f, C)`` pixels,
    float32 in [0, 1] or, with ``dtype="uint8"``, each tile rounded to 8 bits as it comes (``data.to_uint8``:
    a quarter of the memory)."""
    if dtype not in ("float32", "uint8"):
        raise ValueError(f"`dtype` must be 'float32' or 'uint8'; received {dtype!r}.")
    convert = to_uint8 if dtype == "uint8" else np.asarray
    factor = model.downsampling_factor
    rows, columns = indices.shape[:2]
    if rows <= tile and columns <= tile:
        return convert(model.decode(indices[None])[0])
    out = None
    for (top, bottom, left, right), (y0, y1, x0, x1) in _tiles(rows, columns, tile, halos(model)[1]):
        pixels = model.decode(indices[None, y0:y1, x0:x1])[0]
        if out is None:
            out = np.zeros((rows * factor, columns * factor, pixels.shape[-1]), dtype=dtype)
        out[top * factor : bottom * factor, left * factor : right * factor] = convert(
            pixels[(top - y0) * factor : (bottom - y0) * factor, (left - x0) * factor : (right - x0) * factor]
        )
    return out
