"""Files from an FSQVAE: FSQ indices range-coded under a prior learned from code statistics.

    data = compress(model, images)            # bytes
    images = decompress(model, data)          # float32 (N, H, W, C) in [0, 1]
    prior = EntropyModel.fit(model, training_images, context="left")   # optional, better rate
    data = compress(model, images, prior)

Each FSQ dimension ``i`` of each latent vector (of every codebook) is one
symbol, its level index in ``[0, L_i)``, coded with constriction's range coder
under ``P_i(level | context)``. The prior, by default:

* the model's learned ``CategoricalPrior`` (``keras_fsq.priors``; rate-distortion
  trained models): ``context="none"`` (factorized) or ``"checkerboard"``
  (anchors first, then every other position given its decoded neighbours);
* else the FSQ layer's EMA level usage (factorized).

``EntropyModel.fit`` counts levels on images instead, factorized or with
``context="left"`` (the same dimension's level in the latent to the left).
Probabilities come from integer counts (``counts + 1``; a learned prior's
probabilities are floored to counts out of ``2^16`` once, in NumPy), so every
backend codes with the same numbers, mixed with a uniform floor of weight
``2^-8``: no symbol is ever more likely than ``1 - 2^-9``, so each costs at
least ``MIN_SYMBOL_BITS`` (0.0028) bits.

Per-image adaptation (format version 4): a prior learned on many photos is too
flat for a smooth one and too sharp for a busy one, so the encoder may code
each image's dimension ``i`` under ``P_i^t / Z`` (``t = k / 4``, ``k = 1 .. 32``,
then the same floor), choosing per dimension the ``t`` that codes it in the
fewest bits. The choices cost ``5`` bits each (plus one bit per image saying
whether the image uses them) and are written before the image's symbols; an
image gains nothing is coded under ``P`` as it is. On BSD68 this takes 5-10% off
the shipped codecs' files and up to half off a smooth photo's (see
docs/compress.md). Version 3 files (without it) still decode.

Container (little-endian)::

    b"KFSQ" | version u8 (4; 3 still read) | model fingerprint 8 B | prior fingerprint 8 B
    | images u16 | height u16 | width u16 | channels u8 | dims u8 | levels u8 x dims
    | model name length u8 | model name (UTF-8; a shipped preset's name, or empty)
    | CRC-32 of the symbols u32 | payload length u32 | payload (u32 words) | CRC-32 of all before u32

Memory bound: a file holds at most ``MAX_PIXELS`` (2^25) pixels in all and
``MAX_SYMBOLS`` (2^26) symbols, and its header may only claim as many symbols
as its payload can carry (``8 * payload bytes + 64`` bits at
``MIN_SYMBOL_BITS`` each, i.e. at most ~355 symbols per payload bit); a header
claiming more is refused before any decoding. Every symbol is then decoded
(in chunks of at most ``CHUNK_SYMBOLS`` symbols, 64 MiB of symbols at most)
and checked before the decoder network sees any of them, so a forged or
garbled file costs at most the decoding of its symbols and no image is
produced from it. A payload that decodes to other symbols than were coded
(garbled, too short, too long) fails the symbols' CRC or the check that it
is exactly the coding of the symbols it decodes to (they are coded again
while decoding): ``CodecError``.
"""

import hashlib
import json
import math
import struct
import zlib
from collections import namedtuple

import constriction
import keras
import numpy as np

from keras_fsq import priors, tiling
from keras_fsq.data import to_uint8
from keras_fsq.validation import validate_images

MAGIC = b"KFSQ"
VERSION = 4  # 4: per-image prior adaptation (``EntropyModel.power_tables``); version 3 files (without it) still decode
READABLE_VERSIONS = (3, 4)
_FIXED = struct.Struct("<4sB8s8sHHHBB")
_LENGTH = struct.Struct("<I")
MAX_SIDE = 16384
MAX_PIXELS = 2**25  # per file, as keras_fsq.data.MAX_IMAGE_PIXELS per image
MAX_SYMBOLS = 2**26  # per file: the decoded symbols are held (one byte each) and checked before any image
CONTEXTS = ("none", "left", *priors.TWO_PASS)  # a learned prior's contexts (keras_fsq.priors), and "left"
PRIOR_TOTAL = 2**16  # a learned prior's probabilities, as counts out of this
UNIFORM_FLOOR = 2.0**-8
MIN_SYMBOL_BITS = -math.log2(1 - UNIFORM_FLOOR / 2)  # the cheapest symbol: L = 2, p = 1 - floor / 2
SLACK_BITS = 64  # the range coder's final flush
CHUNK_SYMBOLS = 2**20
CHUNK_PIXELS = 2**22
CODER_SLICE = 2**14  # symbols given to the range coder per call: their probability rows stay small
ADAPTIVE_POWERS = 32  # per image and dimension, a file (version 4) may code under P ** (k / 4), k = 1 .. 32
ADAPTIVE_CHOICE_BITS = math.log2(ADAPTIVE_POWERS)

Header = namedtuple(
    "Header",
    "version model_fingerprint prior_fingerprint count height width channels levels model_name symbols_crc payload",
)


class CodecError(ValueError):
    """A file that is not a valid keras_fsq file for this model and prior."""


def coded_quantizer(model):
    """The model's quantizer when its indices split into symbols (the quantizer contract's
    ``alphabet_sizes``: FSQ, LFQ, BSQ), or a ValueError naming what it has instead."""
    if model.quantizer.alphabet_sizes is None:
        raise ValueError(
            f"The codec codes symbols (a quantizer's `alphabet_sizes`); {type(model.quantizer).__name__} has none."
        )
    return model.quantizer


def symbol_levels(model):
    """The alphabet size of each symbol of one latent position (``Quantizer.position_alphabet``)."""
    return coded_quantizer(model).position_alphabet


def model_fingerprint(model):
    """First 8 bytes of SHA-256 over every weight's shape and float32 bytes (the same on every backend)."""
    digest = hashlib.sha256()
    for weight in model.get_weights():
        weight = np.ascontiguousarray(weight, dtype="float32")
        digest.update(str(weight.shape).encode())
        digest.update(weight.tobytes())
    return digest.digest()[:8]


def _spatial_rank(model):
    return 1 if model.downsampling_factor is None else 2


def symbol_grid(model, indices):
    """``model.encode`` indices -> symbols ``(N, h, w, D)`` uint8 (a global latent is one row).

    A spatial grid is converted 64 rows at a time: the int32 symbols of a large
    image would otherwise take four times the memory of the result.
    """
    from keras_fsq.models import symbol_grid as grid_of

    quantizer, rank = coded_quantizer(model), _spatial_rank(model)
    strips = [indices] if rank == 1 else [indices[:, top : top + 64] for top in range(0, indices.shape[1], 64)]
    grids = []
    for strip in strips:
        symbols = quantizer.indices_to_symbols(keras.ops.convert_to_tensor(strip, dtype="int32"))
        grids.append(keras.ops.convert_to_numpy(grid_of(symbols, rank)).astype("uint8"))
    return np.concatenate(grids, axis=1)


def indices_of(model, grid, index_shape):
    """Inverse of ``symbol_grid``: symbols ``(N, h, w, D)`` -> indices of shape ``(N,) + index_shape[1:]``."""
    quantizer = coded_quantizer(model)
    symbols = np.asarray(grid).reshape((len(grid), *index_shape[1:], len(quantizer.alphabet_sizes)))
    strips = (
        [symbols]
        if _spatial_rank(model) == 1
        else [symbols[:, top : top + 64] for top in range(0, symbols.shape[1], 64)]
    )
    return np.concatenate(
        [keras.ops.convert_to_numpy(quantizer.symbols_to_indices(strip.astype("int32"))) for strip in strips], axis=1
    ).astype("int32")


class EntropyModel:
    """``P_i(level | context)`` per symbol dimension ``i`` from integer counts, shape ``(d, contexts, max L)``.

    ``context="none"``: one context. ``"left"``: context ``c < max L`` is the
    left neighbour's level and ``c = max L`` means "first column".
    ``"checkerboard"``, ``"activity"``: a learned prior's contexts
    (``keras_fsq.priors.contexts_of``) with ``activity_buckets`` buckets.
    """

    def __init__(self, levels, counts, context="none", activity_buckets=None):
        if context not in CONTEXTS:
            raise ValueError(f"`context` must be one of {CONTEXTS}; received {context!r}.")
        if (context in priors.TWO_PASS) != (activity_buckets is not None):
            raise ValueError(f"`activity_buckets` is given exactly when `context` is one of {priors.TWO_PASS}.")
        self.levels, self.context, self.activity_buckets = [int(v) for v in levels], context, activity_buckets
        max_level = max(self.levels)
        if context == "left":
            contexts = max_level + 1
        else:
            contexts = priors.context_count(context, max_level, activity_buckets or 0)
        counts = np.asarray(counts, dtype="int64")
        if counts.shape != (len(self.levels), contexts, max_level) or (counts < 0).any():
            raise ValueError(
                f"`counts` must be non-negative with shape {(len(self.levels), contexts, max_level)}; received "
                f"{counts.shape}."
            )
        self.counts = counts
        levels = np.asarray(self.levels)[:, None, None]
        valid = np.arange(max_level)[None, None, :] < levels
        # Laplace smoothing keeps every valid level codable; the uniform floor
        # bounds how many symbols a payload bit can carry (see the module doc).
        smoothed = np.where(valid, counts + 1, 0).astype("float64")
        smoothed /= smoothed.sum(axis=-1, keepdims=True)
        self._smoothed = smoothed
        self._probabilities = np.where(valid, (1 - UNIFORM_FLOOR) * smoothed + UNIFORM_FLOOR / levels, 0.0)

    @classmethod
    def for_model(cls, model):
        """The prior a model codes with by default: its learned ``prior`` if it has one, else its FSQ's
        level usage; a quantizer that keeps none (LFQ, BSQ) codes under a uniform prior (fit one for less)."""
        if model.prior is not None:
            return cls.from_prior(model)
        if hasattr(model.quantizer, "track_usage"):
            return cls.from_level_usage(model)
        levels = symbol_levels(model)
        return cls(levels, np.zeros((len(levels), 1, max(levels)), "int64"))

    @classmethod
    def from_prior(cls, model):
        """The model's learned ``CategoricalPrior``, its probabilities floored to counts out of ``PRIOR_TOTAL``."""
        prior = model.prior
        if prior.levels != symbol_levels(model):
            raise ValueError(f"The model's prior has levels {prior.levels}; its FSQ symbols {symbol_levels(model)}.")
        logits = keras.ops.convert_to_numpy(prior.logits).astype("float64")
        valid = np.arange(prior.max_level)[None, None, :] < np.asarray(prior.levels)[:, None, None]
        logits = np.where(valid, logits - np.where(valid, logits, -np.inf).max(axis=-1, keepdims=True), -np.inf)
        probabilities = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
        counts = np.floor(probabilities * PRIOR_TOTAL).astype("int64")
        buckets = prior.activity_buckets if prior.context in priors.TWO_PASS else None
        return cls(prior.levels, counts, prior.context, buckets)

    @classmethod
    def from_level_usage(cls, model, total=2**16):
        """The factorized prior of the FSQ layer's EMA level usage (no extra data needed)."""
        quantizer = coded_quantizer(model)
        if not getattr(quantizer, "track_usage", False):
            raise ValueError(
                "The model's FSQ keeps no level usage (track_usage=False): pass a prior from EntropyModel.fit "
                "(keras-fsq fit-prior)."
            )
        usage = keras.ops.convert_to_numpy(quantizer.level_usage).astype("float64")
        counts = np.floor(np.tile(usage, (quantizer.num_codebooks, 1)) * total)[:, None, :].astype("int64")
        return cls(symbol_levels(model), counts)

    @classmethod
    def fit(cls, model, images, context="left", batch_size=64):
        """Count each dimension's levels (given ``context``: ``"none"`` or ``"left"``) over ``model.encode(images)``."""
        if context not in ("none", "left"):
            raise ValueError(
                "`context` must be 'none' or 'left' (a checkerboard prior is learned in training); received "
                f"{context!r}."
            )
        levels = symbol_levels(model)
        grid = symbol_grid(model, model.encode(images, batch_size=batch_size))
        prior = cls(
            levels, np.zeros((len(levels), 1 if context == "none" else max(levels) + 1, max(levels)), "int64"), context
        )
        everywhere = np.ones(grid.shape[1:3], dtype=bool)
        contexts = prior.contexts(grid, everywhere)
        for i in range(len(levels)):
            np.add.at(prior.counts[i], (contexts[..., i].ravel(), grid[:, everywhere, i].ravel()), 1)
        return cls(levels, prior.counts, context)

    @property
    def fingerprint(self):
        digest = hashlib.sha256(
            json.dumps([self.levels, self.context, self.activity_buckets]).encode() + self.counts.tobytes()
        )
        return digest.digest()[:8]

    def contexts(self, grid, mask):
        """Contexts of the symbols of ``grid`` ``(N, h, w, d)`` at the True positions of the ``(h, w)``
        ``mask`` (row-major, as ``grid[:, mask]``), shape ``(N, positions, d)``, read from the symbols coded
        before them."""
        grid = np.asarray(grid)
        if self.context == "left":  # only the masked positions' left neighbours: a column pass costs one column
            rows, columns = np.nonzero(mask)
            contexts = grid[:, rows, np.maximum(columns - 1, 0)].astype("int64")
            contexts[:, columns == 0] = max(self.levels)
            return contexts
        if self.context in priors.TWO_PASS:
            contexts = priors.contexts_of(grid, self.levels, self.context, self.activity_buckets)
            return keras.ops.convert_to_numpy(contexts).astype("int64")[:, mask]
        return np.broadcast_to(np.zeros((), dtype="int64"), (len(grid), int(mask.sum()), grid.shape[3]))

    def passes(self, rows, columns):
        """Boolean ``(rows, columns)`` masks of the positions coded together, in coding order."""
        if self.context == "left":
            return [np.arange(columns)[None, :].repeat(rows, 0) == x for x in range(columns)]
        if self.context in priors.TWO_PASS:
            anchors = priors.anchor_mask(rows, columns)
            return [anchors, ~anchors] if (~anchors).any() else [anchors]
        return [np.ones((rows, columns), dtype=bool)]

    def probabilities(self, dim, contexts, powers=None):
        """Rows of ``P_dim(. | contexts)``, shape ``contexts.shape + (L_dim,)``, float64.

        ``powers`` (same shape as ``contexts``, optional): each symbol's row
        ``power_tables`` ``[k]`` (``k = 0``: the prior as it is).
        """
        if powers is None or not powers.any():
            rows = self._probabilities[dim, contexts, : self.levels[dim]]
        else:
            used, inverse = np.unique(contexts, return_inverse=True)
            rows = self.power_tables(dim, used)[powers, inverse.reshape(contexts.shape)]
        return np.ascontiguousarray(rows)  # constriction needs contiguous rows

    def power_tables(self, dim, contexts):
        """``P_dim(. | c)^t`` renormalised, for the ``contexts`` ``c`` (1-D) and ``t = k / 4``,
        ``k = 1 .. ADAPTIVE_POWERS``, each mixed with the uniform floor; shape ``(1 + ADAPTIVE_POWERS,
        len(contexts), L_dim)``, row ``k = 0`` the prior as it is.

        ``t > 1`` sharpens the prior (a smooth image: more zeros than average),
        ``t < 1`` flattens it (a busy one). Computed from the smoothed counts by
        square roots and products only (correctly rounded in IEEE arithmetic), so
        encoder and decoder build the same tables on any machine.
        """
        levels = self.levels[dim]
        quarter = np.sqrt(np.sqrt(self._smoothed[dim, contexts, :levels]))
        tables = np.empty((1 + ADAPTIVE_POWERS, len(contexts), levels))
        tables[0] = self._probabilities[dim, contexts, :levels]
        powered = quarter
        for k in range(1, 1 + ADAPTIVE_POWERS):
            tables[k] = (1 - UNIFORM_FLOOR) * powered / powered.sum(axis=-1, keepdims=True) + UNIFORM_FLOOR / levels
            powered = powered * quarter
        return tables

    def choose_powers(self, chunk):
        """The encoder's choice, per image of ``chunk`` ``(n, h, w, d)`` and dimension: the ``power_tables``
        row that codes it in the fewest bits, shape ``(n, d)``; all 0 for an image where coding the choices
        (``ADAPTIVE_CHOICE_BITS`` each) costs more than they save."""
        count, dims = len(chunk), chunk.shape[3]
        bits = np.zeros((count, dims, 1 + ADAPTIVE_POWERS))
        for mask in self.passes(*chunk.shape[1:3]):
            contexts = self.contexts(chunk, mask)
            for i in range(dims):
                used, inverse = np.unique(contexts[..., i], return_inverse=True)
                log_tables = np.log2(self.power_tables(i, used))  # (K, used, L)
                # Each image's (context, level) counts: memory of the tables, not of the symbols.
                pairs = inverse.reshape(count, -1) * log_tables.shape[2] + chunk[:, mask, i]
                for n in range(count):
                    counts = np.bincount(pairs[n], minlength=log_tables[0].size).reshape(log_tables.shape[1:])
                    bits[n, i] -= (log_tables * counts).sum(axis=(1, 2))
        best = 1 + bits[..., 1:].argmin(axis=-1)
        adapted = np.take_along_axis(bits, best[..., None], -1)[..., 0].sum(-1) + dims * ADAPTIVE_CHOICE_BITS
        return np.where((adapted < bits[..., 0].sum(-1))[:, None], best, 0)

    def to_json(self):
        return json.dumps(
            {
                "levels": self.levels,
                "context": self.context,
                "activity_buckets": self.activity_buckets,
                "counts": self.counts.tolist(),
            }
        )

    @classmethod
    def from_json(cls, text):
        try:
            config = json.loads(text)
            return cls(config["levels"], config["counts"], config["context"], config.get("activity_buckets"))
        except (KeyError, TypeError, json.JSONDecodeError) as error:
            raise ValueError(f"Not an EntropyModel JSON: {error}") from error


def _code_powers(coder, powers, count, dims):
    """Encode (``powers`` given, ``(n, d)``) or decode (``powers=None``) each image's ``power_tables``
    choices: a flag (one bit), then, when set, ``d`` choices of ``ADAPTIVE_CHOICE_BITS`` bits each."""
    family = constriction.stream.model.Categorical(perfect=False)
    flag, choice = np.full((count, 2), 0.5), np.full((dims, ADAPTIVE_POWERS), 1 / ADAPTIVE_POWERS)
    if powers is not None:
        flags = powers.any(axis=1)
        coder.encode(flags.astype("int32"), family, flag)
        for row in powers[flags]:
            coder.encode((row - 1).astype("int32"), family, choice)
        return None
    flags = coder.decode(family, flag).astype(bool)
    decoded = np.zeros((count, dims), dtype="int64")
    for n in np.flatnonzero(flags):
        decoded[n] = 1 + coder.decode(family, choice)
    return decoded


def _encode_chunk(encoder, chunk, prior, powers=None):
    """Append one chunk of symbols ``(n, h, w, d)``: its images' ``power_tables`` choices ``powers``
    ``(n, d)`` (None: a file without them), then pass by pass (``prior.passes``), one dimension at a time,
    every image's positions of the pass in one call."""
    family = constriction.stream.model.Categorical(perfect=False)
    if powers is not None:
        _code_powers(encoder, powers, *chunk.shape[::3])
    for mask in prior.passes(*chunk.shape[1:3]):
        contexts = prior.contexts(chunk, mask)
        for i in range(chunk.shape[3]):
            symbols, pass_contexts = chunk[:, mask, i].ravel().astype("int32"), contexts[..., i].ravel()
            pass_powers = None if powers is None else np.repeat(powers[:, i], int(mask.sum()))
            for start in range(0, len(symbols), CODER_SLICE):  # a queue coder: the same stream as one call
                end = start + CODER_SLICE
                rows = prior.probabilities(
                    i, pass_contexts[start:end], None if pass_powers is None else pass_powers[start:end]
                )
                encoder.encode(symbols[start:end], family, rows)


def encode_symbols(grid, prior, step, adaptive=True):
    """Symbols ``(N, h, w, d)`` -> range-coded uint32 words, in chunks of ``step`` images.

    ``adaptive``: each image may code each dimension under a sharpened or
    flattened prior (``EntropyModel.choose_powers``), its choices coded first.
    """
    encoder = constriction.stream.queue.RangeEncoder()
    for first in range(0, len(grid), step):
        chunk = grid[first : first + step]
        _encode_chunk(encoder, chunk, prior, prior.choose_powers(chunk) if adaptive else None)
    return encoder.get_compressed()


def images_per_chunk(symbol_shape, pixels_per_image):
    """How many images one decoding chunk holds: at most ``CHUNK_SYMBOLS`` symbols and ``CHUNK_PIXELS`` pixels."""
    return max(1, min(CHUNK_SYMBOLS // math.prod(symbol_shape), CHUNK_PIXELS // pixels_per_image))


def decode_symbol_chunks(words, shape, prior, step, adaptive=True):
    """Inverse of ``encode_symbols``: a grid of ``shape`` ``(N, h, w, d)`` (uint8), yielded ``step`` images at a time.

    The decoded symbols are coded again as they come; after the last chunk
    ``words`` must equal that encoding exactly, else ``CodecError`` (a payload
    too short, too long or not fully consumed).
    """
    decoder = constriction.stream.queue.RangeDecoder(words)
    encoder = constriction.stream.queue.RangeEncoder()
    family = constriction.stream.model.Categorical(perfect=False)
    count, rows, columns, dims = shape
    for first in range(0, count, step):
        chunk = np.zeros((min(step, count - first), rows, columns, dims), dtype="uint8")
        try:
            powers = _code_powers(decoder, None, len(chunk), dims) if adaptive else None
            for mask in prior.passes(rows, columns):
                contexts = prior.contexts(chunk, mask)
                for i in range(dims):
                    pass_contexts = contexts[..., i].ravel()
                    pass_powers = None if powers is None else np.repeat(powers[:, i], int(mask.sum()))
                    symbols = np.concatenate(
                        [
                            decoder.decode(
                                family,
                                prior.probabilities(
                                    i,
                                    pass_contexts[start : start + CODER_SLICE],
                                    None if pass_powers is None else pass_powers[start : start + CODER_SLICE],
                                ),
                            )
                            for start in range(0, len(pass_contexts), CODER_SLICE)
                        ]
                    )
                    chunk[:, mask, i] = symbols.reshape(len(chunk), -1)
        except AssertionError:  # constriction's word for a payload no coding could produce
            raise CodecError("The payload is not the coding of the header's images (garbled).") from None
        _encode_chunk(encoder, chunk, prior, powers)
        yield chunk
    if not np.array_equal(encoder.get_compressed(), words):
        raise CodecError("The payload is not the coding of the header's images (too short, too long or garbled).")


def padded_size(model, height, width):
    """The input size the encoder needs: multiples of its downsampling factor, else the model's own size."""
    factor = model.downsampling_factor
    if factor:
        return -(-height // factor) * factor, -(-width // factor) * factor
    expected = tuple(model.image_shape[:2])
    if (height, width) != expected:
        raise ValueError(
            f"This model encodes {expected[0]}x{expected[1]} images only (its encoder is not fully "
            f"convolutional); received {height}x{width}."
        )
    return expected


def _index_shape(model, count, height, width, channels):
    padded = padded_size(model, height, width)
    latent_shape = model.encoder.compute_output_shape((count, *padded, channels))
    return tuple(coded_quantizer(model).indices_shape(latent_shape))


def encode_images(model, images):
    """``model.encode`` of padded ``images``; large ones (over ``tiling.TILE`` latents a side) tile by tile."""
    factor = model.downsampling_factor
    if factor and max(images.shape[1:3]) > tiling.TILE * factor:
        return np.stack([tiling.encode_tiled(model, image) for image in images])
    return model.encode(images)


def compress(model, images, prior=None, model_name=None):
    """Images ``(N, H, W, C)`` or ``(H, W, C)`` in [0, 1] -> the bytes of one file.

    ``prior``: an ``EntropyModel``; by default ``EntropyModel.for_model(model)``.
    ``model_name``: recorded in the file so a reader knows which model to load
    (default ``model.preset``: the preset a shipped model came from, else empty).
    """
    levels = symbol_levels(model)
    model_name = (model.preset or "") if model_name is None else model_name
    name_bytes = model_name.encode("utf-8")
    if len(name_bytes) > 255:
        raise ValueError(f"`model_name` takes at most 255 bytes in UTF-8; received {len(name_bytes)}.")
    images = np.asarray(images)
    images = images[None] if images.ndim == 3 else images
    images = validate_images(images)
    count, height, width, channels = images.shape
    if not (0 < count < 2**16 and 0 < height <= MAX_SIDE and 0 < width <= MAX_SIDE and channels < 256) or (
        count * height * width > MAX_PIXELS
    ):
        raise ValueError(
            f"`images`: cannot store {count} images of {height}x{width}x{channels} in one file "
            f"(at most {MAX_PIXELS} pixels in all)."
        )
    if max(levels) > 255 or len(levels) > 255:
        raise ValueError(
            f"The file format stores up to 255 levels in up to 255 symbols per latent; the model has {levels}."
        )
    prior = prior or EntropyModel.for_model(model)
    if prior.levels != levels:
        raise ValueError(f"`prior` is for levels {prior.levels}; the model's symbols have {levels}.")
    padded_height, padded_width = padded_size(model, height, width)
    padding = ((0, 0), (0, padded_height - height), (0, padded_width - width), (0, 0))
    padded = np.pad(images, padding, mode="edge") if (padded_height, padded_width) != (height, width) else images
    grid = symbol_grid(model, encode_images(model, padded))
    if grid.size > MAX_SYMBOLS:
        raise ValueError(f"`images` code to {grid.size} symbols; one file holds at most {MAX_SYMBOLS}: split them.")
    payload = encode_symbols(grid, prior, images_per_chunk(grid.shape[1:], height * width)).astype("<u4").tobytes()
    header = (
        _FIXED.pack(
            MAGIC, VERSION, model_fingerprint(model), prior.fingerprint, count, height, width, channels, len(levels)
        )
        + bytes(levels)
        + bytes([len(name_bytes)])
        + name_bytes
        + _LENGTH.pack(zlib.crc32(grid.tobytes()))
        + _LENGTH.pack(len(payload))
    )
    body = header + payload
    return body + _LENGTH.pack(zlib.crc32(body))


def read_header(data):
    """Check the container of a file's bytes (magic, version, checksum, lengths) -> its ``Header``.

    Needs no model: ``CodecError`` for anything that is not an intact keras_fsq file.
    """
    data = bytes(data)
    if data[:4] != MAGIC:
        raise CodecError("Not a keras_fsq file (no KFSQ magic bytes).")
    if len(data) < _FIXED.size + 3 * _LENGTH.size:
        raise CodecError("The file is truncated.")
    if zlib.crc32(data[:-4]) != _LENGTH.unpack(data[-4:])[0]:
        raise CodecError("The file is corrupted or truncated (checksum mismatch).")
    _, version, model_print, prior_print, count, height, width, channels, dims = _FIXED.unpack_from(data)
    if version not in READABLE_VERSIONS:
        raise CodecError(f"File format version {version}; this keras_fsq reads versions {READABLE_VERSIONS}.")
    levels_end = _FIXED.size + dims
    if len(data) < levels_end + 1 + 3 * _LENGTH.size:
        raise CodecError("The file is truncated.")
    levels = list(data[_FIXED.size : levels_end])
    if not (count and height and width and channels and dims) or min(levels) < 2 or count * height * width > MAX_PIXELS:
        raise CodecError(f"Invalid header: {count} images of {height}x{width}x{channels}, levels {levels}.")
    name_end = levels_end + 1 + data[levels_end]
    if len(data) < name_end + 3 * _LENGTH.size:
        raise CodecError("The file is truncated.")
    try:
        model_name = data[levels_end + 1 : name_end].decode("utf-8")
    except UnicodeDecodeError:
        raise CodecError("Invalid header: the model name is not UTF-8.") from None
    symbols_crc, length = struct.unpack_from("<II", data, name_end)
    payload = data[name_end + 2 * _LENGTH.size : -4]
    if length != len(payload) or length % 4:
        raise CodecError("The payload length does not match the file size.")
    return Header(
        version, model_print, prior_print, count, height, width, channels, levels, model_name, symbols_crc, payload
    )


def _symbol_shape(model, header):
    """``(N, h, w, d)`` of the header's images under ``model``, refused when the payload cannot carry that many."""
    try:
        index_shape = _index_shape(model, header.count, header.height, header.width, header.channels)
    except ValueError as error:
        raise CodecError(str(error)) from error
    grid = index_shape[1:3] if _spatial_rank(model) == 2 else (1, index_shape[1])
    shape = (header.count, *grid, len(header.levels))
    if math.prod(shape) > MAX_SYMBOLS:
        raise CodecError(f"The header claims {math.prod(shape)} symbols; a file holds at most {MAX_SYMBOLS}.")
    most = (8 * len(header.payload) + SLACK_BITS) / MIN_SYMBOL_BITS
    if math.prod(shape) > most:
        raise CodecError(
            f"The header claims {math.prod(shape)} symbols ({header.count} images of {header.height}x{header.width}); "
            f"a payload of {len(header.payload)} bytes carries at most {int(most)}."
        )
    return shape, index_shape


def iter_indices(model, data, prior=None):
    """The bytes of a file -> chunks of indices as ``model.encode`` returned them, and the header.

    Yields ``(indices chunk, header)``. Raises ``CodecError`` for a file that is
    truncated, corrupted, not a keras_fsq file, or written by another model or
    prior, before the first chunk: every symbol is decoded and checked first.
    """
    header = read_header(data)
    levels = symbol_levels(model)
    prior = prior or EntropyModel.for_model(model)
    if header.levels != levels:
        raise CodecError(f"The file was written by a model with levels {header.levels}; this model has {levels}.")
    if header.model_fingerprint != model_fingerprint(model):
        raise CodecError(
            f"The file was written by a different model with the same levels {levels} "
            f"(weights fingerprint {header.model_fingerprint.hex()}, this model's {model_fingerprint(model).hex()})."
        )
    if header.prior_fingerprint != prior.fingerprint:
        raise CodecError("The file was written with a different prior (EntropyModel) than the one given.")
    if header.channels != model.image_shape[-1]:
        raise CodecError(
            f"The file's header says {header.channels} channels; "
            f"this model codes {model.image_shape[-1]}-channel images."
        )
    shape, index_shape = _symbol_shape(model, header)
    step = images_per_chunk(shape[1:], header.height * header.width)
    words = np.frombuffer(header.payload, dtype="<u4").astype("uint32")
    crc, chunks = 0, []
    try:
        for chunk in decode_symbol_chunks(words, shape, prior, step, adaptive=header.version >= 4):
            crc = zlib.crc32(chunk.tobytes(), crc)
            chunks.append(chunk)
    except CodecError:
        raise
    except BaseException as error:  # constriction reports bad data as a Rust panic (a BaseException)
        if isinstance(error, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise
        raise CodecError(f"The payload could not be decoded: {error}") from None
    if crc != header.symbols_crc:
        raise CodecError("The payload decodes to other symbols than were coded (garbled, too short or too long).")
    for chunk in chunks:
        yield indices_of(model, chunk, index_shape), header


def read_indices(model, data, prior=None):
    """The bytes of a file -> (indices as ``model.encode`` returned them, (H, W)); see ``iter_indices``."""
    chunks = list(iter_indices(model, data, prior))
    header = chunks[0][1]
    return np.concatenate([indices for indices, _ in chunks]), (header.height, header.width)


def iter_decompress(model, data, prior=None, dtype="float32"):
    """The bytes of a file -> its images one at a time, ``(H, W, C)``: float32 in [0, 1], or uint8
    (``dtype="uint8"``, rounded tile by tile as ``keras_fsq.data.save_image`` rounds: a quarter of the memory).

    The symbols are decoded and checked before the first image; the decoder
    network then runs one chunk of images at a time, and a large image tile by
    tile (``keras_fsq.tiling``).
    """
    if dtype not in ("float32", "uint8"):
        raise ValueError(f"`dtype` must be 'float32' or 'uint8'; received {dtype!r}.")
    for indices, header in iter_indices(model, data, prior):
        if model.downsampling_factor and max(indices.shape[1:3]) > tiling.TILE:  # large images: tile by tile
            for one in indices:
                yield tiling.decode_tiled(model, one, dtype=dtype)[: header.height, : header.width, :]
        else:
            images = model.decode(indices)[:, : header.height, : header.width, :]
            yield from (to_uint8(images) if dtype == "uint8" else images)


def decompress(model, data, prior=None):
    """The bytes of a file -> images float32 ``(N, H, W, C)`` in [0, 1]."""
    return np.stack(list(iter_decompress(model, data, prior)))
