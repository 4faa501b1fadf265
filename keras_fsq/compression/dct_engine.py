"""The shipped block-DCT codecs run in NumPy: ``keras-fsq compress`` and ``decompress`` without a backend.

Starting Keras and a backend costs a codec command 3-9 s before it codes a pixel; the shipped
codecs (``fsq_dct_q1`` ... ``q6``) are a handful of convolutions, so the commands run them here
when no backend is asked for (``--backend``, ``KERAS_BACKEND``) and the codec is a shipped one.
``DCTEngine`` reads the preset's weight file and computes, as ``BlockDCTEncoder``/``BlockDCTDecoder``
and the ``FSQ`` layer do:

* encoder: ``c = A x + a`` per 8x8 block (the analysis kernel, YCbCr 4:2:0 DCT), ``c += W2 gelu(W1 * c)``
  (3x3 then 1x1 convolutions over blocks), ``v = (c exp(log_gain))[order]``,
  ``z = atanh(clip(v / h, +-0.9999))``; the FSQ symbol ``round(tanh(z / T) h') + L // 2``;
* decoder: ``c = ((s - L // 2)[unorder]) exp(log_step)``, ``c += W2 gelu(W1 * c)``, pixels ``S c + b`` per
  block (the transposed synthesis kernel), then ``x += F3 gelu(F2 gelu(F1 * x))`` (3x3 pixel
  filter) and ``clip(x, 0, 1)``.

Large images run in strips of block rows with a halo of two block rows, wide enough for every
convolution's reach (one block in the coefficient domain, three pixels in the filter), so each strip
computes what the whole image would and memory follows the strip, not the image.

The symbols are those the Keras model computes but at exact ties between two levels, where float
rounding decides (none in 10^6 symbols on PyTorch, one on JAX, on BSD68 photos); files from either
decode with either, to pixels within 1e-5 (tested).
"""

from collections.abc import Callable
from typing import Any

import numpy as np

from keras_fsq import presets
from keras_fsq.compression.container import weights_fingerprint
from keras_fsq.dct import BLOCK, COEFFICIENTS, coefficient_order
from keras_fsq.preset_weights import blend_arrays, weight_keys

STRIP_BLOCKS = 32  # block rows computed at once (256 pixel rows)
CHUNK_ROWS = 32  # a 3x3 convolution's rows per product: its temporaries stay in cache
HALO_BLOCKS = 2  # block rows of context above and below a strip


def gelu(x: np.ndarray) -> np.ndarray:
    """Keras' exact ``gelu``: ``x Phi(x) = x (1 + erf(x / sqrt 2)) / 2``."""
    import scipy.special  # here, not at import: every codec import would pay for it, only the engine runs it

    return 0.5 * x * (1.0 + scipy.special.erf(x / np.float32(np.sqrt(2.0))))


def conv2d(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """A ``padding="same"`` convolution of ``x`` ``(H, W, C)`` by ``kernel`` ``(k, k, C, O)``, as Keras' Conv2D.

    1x1 kernels (and few input channels): one product of the ``k k C`` patches; 3x3 kernels: ``conv3x3``."""
    size, channels = kernel.shape[0], kernel.shape[2]
    if size == 3 and size * size * channels > 32:
        return conv3x3(x, kernel, bias)
    pad = size // 2
    padded = np.pad(x, ((pad, pad), (pad, pad), (0, 0)))
    height, width = x.shape[:2]
    patches = np.lib.stride_tricks.sliding_window_view(padded, (size, size), axis=(0, 1))  # (H, W, C, k, k)
    patches = patches.transpose(0, 1, 3, 4, 2).reshape(height * width, size * size * channels)
    return (patches @ kernel.reshape(-1, kernel.shape[-1]) + bias).reshape(height, width, -1)


def conv3x3(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """A ``padding="same"`` 3x3 convolution of ``x`` ``(H, W, C)`` by ``kernel`` ``(3, 3, C, O)``, as Keras' Conv2D.

    One product per chunk of rows gives every kernel position's contribution, ``z[i, j, 3 r + s] = x[i, j]
    kernel[r, s]``; output ``(i, j)`` sums ``z[i + r - 1, j + s - 1, 3 r + s]`` over the positions inside
    the image (one long product is several times faster than nine short ones)."""
    height, width, channels = x.shape
    outputs = kernel.shape[-1]
    every_position = kernel.transpose(2, 0, 1, 3).reshape(channels, 9 * outputs)
    out = np.empty((height, width, outputs), dtype="float32")
    for top in range(0, height, CHUNK_ROWS):
        bottom = min(height, top + CHUNK_ROWS)
        start, stop = max(0, top - 1), min(height, bottom + 1)
        z = (x[start:stop].reshape(-1, channels) @ every_position).reshape(stop - start, width, 9, outputs)
        chunk = out[top:bottom]
        chunk[:] = bias
        for r in range(3):
            rows = np.arange(top, bottom) + r - 1
            inside = np.flatnonzero((rows >= 0) & (rows < height))
            if not len(inside):  # a one-row image: no row above or below
                continue
            first, last = inside[0], inside[-1]
            source = slice(rows[first] - start, rows[last] - start + 1)
            for s in range(3):
                left, right = max(0, 1 - s), min(width, width + 1 - s)
                chunk[first : last + 1, left:right] += z[source, left + s - 1 : right + s - 1, 3 * r + s]
    return out


def blocks_of(image: np.ndarray) -> np.ndarray:
    """``(H, W, C)`` -> ``(H/8, W/8, 64 C)``: each 8x8 block's pixels in the order of a Conv2D kernel."""
    height, width, channels = image.shape
    blocks = image.reshape(height // BLOCK, BLOCK, width // BLOCK, BLOCK, channels).transpose(0, 2, 1, 3, 4)
    return blocks.reshape(height // BLOCK, width // BLOCK, BLOCK * BLOCK * channels)


def image_of(blocks: np.ndarray, channels: int) -> np.ndarray:
    """The inverse of ``blocks_of``."""
    rows, columns = blocks.shape[:2]
    pixels = blocks.reshape(rows, columns, BLOCK, BLOCK, channels).transpose(0, 2, 1, 3, 4)
    return pixels.reshape(rows * BLOCK, columns * BLOCK, channels)


def in_strips(
    function: Callable[[int, int], np.ndarray],
    rows: int,
    scale: int,
    out: np.ndarray | None = None,
    strip: int = STRIP_BLOCKS,
    halo: int = HALO_BLOCKS,
) -> np.ndarray:
    """``function(start, stop)`` over ``rows`` rows (block rows by default), ``strip`` at a time: each strip
    computed with ``halo`` rows of context on either side (``function`` returns ``scale`` output rows per row
    of ``[start, stop)``), its interior kept; the interiors stacked, or written into ``out`` (no copy of the
    whole result: a large image's decode holds one image)."""
    parts = []
    for top in range(0, rows, strip):
        bottom = min(rows, top + strip)
        start, stop = max(0, top - halo), min(rows, bottom + halo)
        interior = function(start, stop)[(top - start) * scale : (bottom - start) * scale]
        if out is None:
            parts.append(interior)
        else:
            out[top * scale : bottom * scale] = interior
    return np.concatenate(parts) if out is None else out


def _read_weights(path: Any) -> dict[str, np.ndarray]:
    """A weight file's arrays as float32, keyed by path without Keras' name suffixes ("fsqvae_2/" -> "fsqvae/")."""
    with path.open("rb") as file:
        with np.load(file) as stored:
            return {
                plain if not index else key: stored[key].astype("float32")
                for (plain, index), key in zip(weight_keys(stored.files), stored.files)
            }


class DCTEngine:
    """A shipped block-DCT codec (preset ``name``, or its resolved ``presets.Preset``; a codec folder's record,
    ``keras_fsq.codec_folders.read_codec_folder``) in NumPy: what the codec glue needs of a model;
    ``preset_record`` keeps the record, so nothing on the coding path looks it up again.

    ``symbols(images)``: padded images ``(N, H, W, 3)`` in [0, 1] -> symbols ``(N, H/8, W/8, 96)`` uint8;
    ``decode_symbols(grid)`` -> images float32; ``fingerprint`` equals ``model_fingerprint`` of the Keras
    model of the preset (the same weights in the same order), so files name the same codec.
    """

    downsampling_factor = BLOCK
    image_shape = (None, None, 3)
    prior = None

    def __init__(self, name: str | presets.Preset) -> None:
        preset = name if isinstance(name, presets.Preset) else presets.resolve(name)
        if preset.model.get("architecture") != "block_dct" or not preset.coding_prior:
            raise ValueError(f"{preset.name!r} is not a shipped block-DCT codec.")
        self.preset, self.preset_record = preset.file_name or None, preset  # a codec folder's files name none
        self.weights = _read_weights(preset.weights_path)  # a shipped codec ships its weights
        if preset.blend is not None:  # a quality between two shipped ones (presets.blended_codec)
            upper_record, fraction = preset.blend
            upper = _read_weights(upper_record.weights_path)
            self.weights = {key: blend_arrays(value, upper[key], fraction) for key, value in self.weights.items()}
        self.fingerprint = weights_fingerprint(self.weights.values())  # stored in the Keras model's weight order
        quantizer = [key for key in self.weights if key.endswith("quantizer/level_usage")][0]
        self.levels = tuple(preset.model["levels"])
        if self.weights[quantizer].shape[0] != len(self.levels):
            raise ValueError(f"The weights of {name!r} do not match its levels {self.levels}.")
        self.codebooks = COEFFICIENTS // len(self.levels)
        self.position_alphabet = list(self.levels) * self.codebooks
        levels = np.asarray(self.position_alphabet, dtype="float32")
        self._centre = np.floor(levels / 2).astype("float32")  # L // 2: the zero level's symbol
        eps = 1e-3  # BlockDCTEncoder's and FSQ's: both bound to the same h = (L - 1)(1 - eps) / 2
        self._half = ((levels - 1) * (1 - eps) / 2).astype("float32")
        self._temperature = np.float32(self.weights["quantizer/temperature"])
        self._order = coefficient_order(self.levels)
        self._unorder = np.argsort(self._order)
        # Rate-distortion optimized quantization (compression.rdoq): lambda in squared error per bit, from
        # the rate weight the codec trained with (loss = MSE + rate_weight * bpp over 3 channels).
        self.rdo_lambda = preset.rdo_multiplier * 3 * preset.model["rate_weight"]
        self.deblock = preset.deblock  # (alpha, beta, tc), decoder side
        self.post_filter = preset.post_filter  # (weight file, quality index), decoder side, after deblocking

    def _weight(self, part: str, name: str) -> np.ndarray:
        return self.weights[f"fsqvae/{part}/{name}"]

    def _conv(self, part: str, layer: str, x: np.ndarray) -> np.ndarray:
        return conv2d(x, self._weight(part, f"{layer}/kernel"), self._weight(part, f"{layer}/bias"))

    def _refine(self, part: str, coefficients: np.ndarray) -> np.ndarray:
        return coefficients + self._conv(part, "refine_out", gelu(self._conv(part, "refine_in", coefficients)))

    def _encode_rows(self, image: np.ndarray) -> np.ndarray:
        """Continuous symbol positions of whole block rows of one padded image ``(8 r, W, 3)``: ``(r, W/8, 96)``
        float32; the symbols are their rounding."""
        kernel = self._weight("encoder", "analysis/kernel").reshape(-1, COEFFICIENTS)
        coefficients = blocks_of(image) @ kernel + self._weight("encoder", "analysis/bias")
        refined = self._refine("encoder", coefficients)
        values = (refined * np.exp(self._weight("encoder", "log_gain")))[..., self._order]
        latents = np.arctanh(np.clip(values / self._half, -0.9999, 0.9999))
        return np.tanh(latents / self._temperature) * self._half + self._centre

    def _decode_rows(self, grid: np.ndarray) -> np.ndarray:
        """Pixels of the block rows of one symbol grid ``(r, w, 96)``: ``(8 r, 8 w, 3)``, before clipping."""
        values = (grid.astype("float32") - self._centre)[..., self._unorder]
        coefficients = self._refine("decoder", values * np.exp(self._weight("decoder", "log_step")))
        kernel = self._weight("decoder", "synthesis/kernel")  # (8, 8, 3, 96): Conv2DTranspose's
        blocks = coefficients @ kernel.transpose(3, 0, 1, 2).reshape(COEFFICIENTS, -1)
        image = image_of(blocks, 3) + self._weight("decoder", "synthesis/bias")
        hidden = gelu(self._conv("decoder", "post_mid", gelu(self._conv("decoder", "post_in", image))))
        return image + self._conv("decoder", "post_out", hidden)

    def positions(self, images: np.ndarray) -> np.ndarray:
        """Padded images ``(N, H, W, 3)`` (sides multiples of 8) in [0, 1] -> continuous symbol positions
        ``(N, H/8, W/8, 96)`` float32 in ``[0, L - 1]``: the FSQ bound before rounding, in symbol units."""
        grids = []
        for image in np.asarray(images, dtype="float32"):
            rows = image.shape[0] // BLOCK
            grids.append(in_strips(lambda top, bottom: self._encode_rows(image[top * BLOCK : bottom * BLOCK]), rows, 1))
        return np.stack(grids)

    def symbols(self, images: np.ndarray) -> np.ndarray:
        """Padded images ``(N, H, W, 3)`` (sides multiples of 8) in [0, 1] -> symbols ``(N, H/8, W/8, 96)`` uint8."""
        return np.round(self.positions(images)).astype("uint8")

    def step_errors(self) -> np.ndarray:
        """``(96,)``: squared pixel error (values in [0, 1], summed over a block's 192 values) of one symbol
        step of each dimension: the decoder's step of its coefficient times that coefficient's synthesis
        basis, squared (the residual branches and the pixel filter left out)."""
        coefficient = self._order  # dimension c carries coefficient order[c]
        basis = (self._weight("decoder", "synthesis/kernel") ** 2).sum(axis=(0, 1, 2))
        return (np.exp(self._weight("decoder", "log_step")) ** 2 * basis)[coefficient].astype("float32")

    def decode_symbols(self, grids: np.ndarray) -> np.ndarray:
        """Symbols ``(N, h, w, 96)`` -> images ``(N, 8 h, 8 w, 3)`` float32 in [0, 1]."""
        grids = np.asarray(grids)
        images = np.empty((len(grids), grids.shape[1] * BLOCK, grids.shape[2] * BLOCK, 3), dtype="float32")
        for grid, image in zip(grids, images):
            in_strips(lambda top, bottom: self._decode_rows(grid[top:bottom]), len(grid), BLOCK, out=image)
        return np.clip(images, 0.0, 1.0, out=images)
