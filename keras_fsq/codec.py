"""Files from an FSQVAE: FSQ indices range-coded under a prior learned from code statistics.

    data = compress(model, images)            # bytes
    images = decompress(model, data)          # float32 (N, H, W, C) in [0, 1]
    prior = EntropyModel.fit(model, training_images, context="left")   # optional, better rate
    data = compress(model, images, prior)

Each FSQ dimension ``i`` of each latent vector is one symbol, its level index in
``[0, L_i)``, coded with constriction's range coder under ``P_i(level | context)``:
``context="none"`` is a factorized prior (by default the model's own EMA level
usage, learned in training); ``context="left"`` conditions on the same
dimension's level in the latent to the left. Probabilities come from integer
counts (``counts + 1``), so every backend codes with the same numbers, mixed
with a uniform floor of weight ``2^-8``: no symbol is ever more likely than
``1 - 2^-9``, so each costs at least ``MIN_SYMBOL_BITS`` (0.0028) bits.

Container (little-endian)::

    b"KFSQ" | version u8 | model fingerprint 8 B | prior fingerprint 8 B
    | images u16 | height u16 | width u16 | channels u8 | dims u8 | levels u8 x dims
    | CRC-32 of the symbols u32 | payload length u32 | payload (u32 words) | CRC-32 of all before u32

Memory bound: a file's header may only claim as many symbols as its payload
can carry (``8 * payload bytes + 64`` bits at ``MIN_SYMBOL_BITS`` each, i.e.
at most ~355 symbols per payload bit); decoding then runs in chunks of at most
``CHUNK_SYMBOLS`` symbols and ``CHUNK_PIXELS`` pixels, so working memory is
bounded whatever the header says. A payload that decodes to other symbols
than were coded (garbled, too short, too long) fails the symbols' CRC or the
check that it is exactly the coding of the symbols it decodes to (they are
coded again while decoding): ``CodecError``.
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

from keras_fsq.quantizers.fsq import mixed_radix_basis

MAGIC = b"KFSQ"
VERSION = 2
_FIXED = struct.Struct("<4sB8s8sHHHBB")
_LENGTH = struct.Struct("<I")
MAX_SIDE = 16384
MAX_PIXELS = 2**28
CONTEXTS = ("none", "left")
UNIFORM_FLOOR = 2.0**-8
MIN_SYMBOL_BITS = -math.log2(1 - UNIFORM_FLOOR / 2)  # the cheapest symbol: L = 2, p = 1 - floor / 2
SLACK_BITS = 64  # the range coder's final flush
CHUNK_SYMBOLS = 2**20
CHUNK_PIXELS = 2**22

Header = namedtuple("Header", "model_fingerprint prior_fingerprint count height width channels levels symbols_crc payload")


class CodecError(ValueError):
    """A file that is not a valid keras_fsq file for this model and prior."""


def fsq_layer(model):
    """The model's FSQ quantizer, or a ValueError naming what it has instead."""
    from keras_fsq.quantizers import FSQ

    if type(model.quantizer) is not FSQ:
        raise ValueError(f"The codec needs a model with an FSQ quantizer; this one has {type(model.quantizer).__name__}.")
    if model.quantizer.num_codebooks != 1:
        raise ValueError(f"The codec codes one codebook per latent vector; this FSQ has num_codebooks={model.quantizer.num_codebooks}.")
    return model.quantizer


def model_fingerprint(model):
    """First 8 bytes of SHA-256 over every weight's shape and float32 bytes (the same on every backend)."""
    digest = hashlib.sha256()
    for weight in model.get_weights():
        weight = np.ascontiguousarray(weight, dtype="float32")
        digest.update(str(weight.shape).encode())
        digest.update(weight.tobytes())
    return digest.digest()[:8]


def level_indices(indices, levels):
    """Flat mixed-radix indices ``(...)`` -> per-dimension level indices ``(..., d)``."""
    return (np.asarray(indices, dtype="int64")[..., None] // mixed_radix_basis(levels)) % np.asarray(levels)


def flat_indices(level_index, levels):
    """Inverse of ``level_indices``."""
    return (level_index * mixed_radix_basis(levels)).sum(axis=-1).astype("int32")


def as_grid(indices):
    """Indices ``(N, h, w)`` or ``(N, k)`` (global encoder: one row) as ``(N, h, w)``."""
    return indices if indices.ndim == 3 else indices.reshape(len(indices), 1, -1)


class EntropyModel:
    """``P_i(level | context)`` per FSQ dimension ``i`` from integer counts, shape ``(d, contexts, max L)``.

    With ``context="left"`` context ``c < max L`` is the left neighbour's level
    and ``c = max L`` means "first column".
    """

    def __init__(self, levels, counts, context="none"):
        if context not in CONTEXTS:
            raise ValueError(f"`context` must be one of {CONTEXTS}; received {context!r}.")
        self.levels, self.context = [int(v) for v in levels], context
        max_level = max(self.levels)
        contexts = 1 if context == "none" else max_level + 1
        counts = np.asarray(counts, dtype="int64")
        if counts.shape != (len(self.levels), contexts, max_level) or (counts < 0).any():
            raise ValueError(
                f"`counts` must be non-negative with shape {(len(self.levels), contexts, max_level)}; received {counts.shape}."
            )
        self.counts = counts
        levels = np.asarray(self.levels)[:, None, None]
        valid = np.arange(max_level)[None, None, :] < levels
        # Laplace smoothing keeps every valid level codable; the uniform floor
        # bounds how many symbols a payload bit can carry (see the module doc).
        smoothed = np.where(valid, counts + 1, 0).astype("float64")
        smoothed /= smoothed.sum(axis=-1, keepdims=True)
        self._probabilities = np.where(valid, (1 - UNIFORM_FLOOR) * smoothed + UNIFORM_FLOOR / levels, 0.0)

    @classmethod
    def from_level_usage(cls, model, total=2**16):
        """The factorized prior of the FSQ layer's EMA level usage (no extra data needed)."""
        quantizer = fsq_layer(model)
        if not quantizer.track_usage:
            raise ValueError(
                "The model's FSQ keeps no level usage (track_usage=False): pass a prior from EntropyModel.fit "
                "(keras-fsq fit-prior)."
            )
        usage = keras.ops.convert_to_numpy(quantizer.level_usage).astype("float64")
        return cls(quantizer.levels, np.floor(usage * total)[:, None, :].astype("int64"))

    @classmethod
    def fit(cls, model, images, context="left", batch_size=64):
        """Count each dimension's levels (given ``context``) over ``model.encode(images)``."""
        if context not in CONTEXTS:
            raise ValueError(f"`context` must be one of {CONTEXTS}; received {context!r}.")
        quantizer = fsq_layer(model)
        grid = level_indices(as_grid(model.encode(images, batch_size=batch_size)), quantizer.levels)
        max_level = max(quantizer.levels)
        contexts = _contexts(grid, max_level) if context == "left" else np.zeros_like(grid)
        counts = np.zeros((len(quantizer.levels), 1 if context == "none" else max_level + 1, max_level), "int64")
        for i in range(len(quantizer.levels)):
            np.add.at(counts[i], (contexts[..., i].ravel(), grid[..., i].ravel()), 1)
        return cls(quantizer.levels, counts, context)

    @property
    def fingerprint(self):
        digest = hashlib.sha256(json.dumps([self.levels, self.context]).encode() + self.counts.tobytes())
        return digest.digest()[:8]

    def probabilities(self, dim, contexts):
        """Rows of ``P_dim(. | contexts)``, shape ``contexts.shape + (L_dim,)``, float64."""
        rows = self._probabilities[dim, contexts if self.context == "left" else np.zeros_like(contexts)]
        return np.ascontiguousarray(rows[..., : self.levels[dim]])  # constriction needs contiguous rows

    def to_json(self):
        return json.dumps({"levels": self.levels, "context": self.context, "counts": self.counts.tolist()})

    @classmethod
    def from_json(cls, text):
        try:
            config = json.loads(text)
            return cls(config["levels"], config["counts"], config["context"])
        except (KeyError, TypeError, json.JSONDecodeError) as error:
            raise ValueError(f"Not an EntropyModel JSON: {error}") from error


def _contexts(grid, max_level):
    """Left neighbour's level per position; ``max_level`` in the first column."""
    contexts = np.full_like(grid, max_level)
    contexts[:, :, 1:, :] = grid[:, :, :-1, :]
    return contexts


def _encode_chunk(encoder, chunk, prior):
    """Append one chunk of level indices ``(n, h, w, d)``: column by column (so a decoder knows
    each left context), one dimension at a time, all images and rows of a column in one call."""
    family = constriction.stream.model.Categorical(perfect=False)
    contexts = _contexts(chunk, max(prior.levels))
    for x, i in np.ndindex(chunk.shape[2], chunk.shape[3]):
        encoder.encode(chunk[:, :, x, i].ravel().astype("int32"), family, prior.probabilities(i, contexts[:, :, x, i].ravel()))


def encode_symbols(grid, prior, step):
    """Level indices ``(N, h, w, d)`` -> range-coded uint32 words, in chunks of ``step`` images."""
    encoder = constriction.stream.queue.RangeEncoder()
    for first in range(0, len(grid), step):
        _encode_chunk(encoder, grid[first : first + step], prior)
    return encoder.get_compressed()


def images_per_chunk(symbol_shape, pixels_per_image):
    """How many images one decoding chunk holds: at most ``CHUNK_SYMBOLS`` symbols and ``CHUNK_PIXELS`` pixels."""
    return max(1, min(CHUNK_SYMBOLS // math.prod(symbol_shape), CHUNK_PIXELS // pixels_per_image))


def decode_symbol_chunks(words, shape, prior, step):
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
        first_column = np.full(chunk.shape[:2], max(prior.levels))
        for x, i in np.ndindex(columns, dims):
            contexts = first_column if x == 0 else chunk[:, :, x - 1, i]
            try:
                symbols = decoder.decode(family, prior.probabilities(i, contexts.ravel()))
            except AssertionError:  # constriction's word for a payload no coding could produce
                raise CodecError("The payload is not the coding of the header's images (garbled).") from None
            chunk[:, :, x, i] = symbols.reshape(chunk.shape[:2])
        _encode_chunk(encoder, chunk, prior)
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
    return tuple(latent_shape[:-1])


def compress(model, images, prior=None):
    """Images ``(N, H, W, C)`` or ``(H, W, C)`` in [0, 1] -> the bytes of one file.

    ``prior``: an ``EntropyModel``; by default the FSQ layer's level usage.
    """
    from keras_fsq.models import validate_images

    quantizer = fsq_layer(model)
    images = np.asarray(images)
    images = images[None] if images.ndim == 3 else images
    images = validate_images(images)
    count, height, width, channels = images.shape
    if not (0 < count < 2**16 and 0 < height <= MAX_SIDE and 0 < width <= MAX_SIDE and channels < 256):
        raise ValueError(f"`images`: cannot store {count} images of {height}x{width}x{channels} in one file.")
    if max(quantizer.levels) > 255 or len(quantizer.levels) > 255:
        raise ValueError(f"The file format stores up to 255 levels in up to 255 dimensions; the model has {quantizer.levels}.")
    prior = prior or EntropyModel.from_level_usage(model)
    if prior.levels != quantizer.levels:
        raise ValueError(f"`prior` is for levels {prior.levels}; the model has {quantizer.levels}.")
    padded_height, padded_width = padded_size(model, height, width)
    padded = np.pad(images, ((0, 0), (0, padded_height - height), (0, padded_width - width), (0, 0)), mode="edge")
    grid = level_indices(as_grid(model.encode(padded)), quantizer.levels).astype("uint8")
    payload = encode_symbols(grid, prior, images_per_chunk(grid.shape[1:], height * width)).astype("<u4").tobytes()
    header = _FIXED.pack(
        MAGIC, VERSION, model_fingerprint(model), prior.fingerprint, count, height, width, channels, len(quantizer.levels)
    ) + bytes(quantizer.levels) + _LENGTH.pack(zlib.crc32(grid.tobytes())) + _LENGTH.pack(len(payload))
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
    if version != VERSION:
        raise CodecError(f"File format version {version}; this keras_fsq reads version {VERSION}.")
    levels_end = _FIXED.size + dims
    if len(data) < levels_end + 3 * _LENGTH.size:
        raise CodecError("The file is truncated.")
    levels = list(data[_FIXED.size : levels_end])
    if not (count and height and width and channels and dims) or min(levels) < 2 or count * height * width > MAX_PIXELS:
        raise CodecError(f"Invalid header: {count} images of {height}x{width}x{channels}, levels {levels}.")
    symbols_crc, length = struct.unpack_from("<II", data, levels_end)
    payload = data[levels_end + 2 * _LENGTH.size : -4]
    if length != len(payload) or length % 4:
        raise CodecError("The payload length does not match the file size.")
    return Header(model_print, prior_print, count, height, width, channels, levels, symbols_crc, payload)


def _symbol_shape(model, header):
    """``(N, h, w, d)`` of the header's images under ``model``, refused when the payload cannot carry that many."""
    try:
        index_shape = _index_shape(model, header.count, header.height, header.width, header.channels)
    except ValueError as error:
        raise CodecError(str(error)) from error
    shape = as_grid(np.zeros((1,) + index_shape[1:], dtype="int8")).shape[1:]
    shape = (header.count, *shape, len(header.levels))
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
    prior; the error can come after some chunks, so discard what came before it.
    """
    header = read_header(data)
    quantizer = fsq_layer(model)
    prior = prior or EntropyModel.from_level_usage(model)
    if header.levels != quantizer.levels:
        raise CodecError(f"The file was written by a model with levels {header.levels}; this model has {quantizer.levels}.")
    if header.model_fingerprint != model_fingerprint(model):
        raise CodecError(
            f"The file was written by a different model with the same levels {quantizer.levels} "
            f"(weights fingerprint {header.model_fingerprint.hex()}, this model's {model_fingerprint(model).hex()})."
        )
    if header.prior_fingerprint != prior.fingerprint:
        raise CodecError("The file was written with a different prior (EntropyModel) than the one given.")
    shape, index_shape = _symbol_shape(model, header)
    step = images_per_chunk(shape[1:], header.height * header.width)
    words = np.frombuffer(header.payload, dtype="<u4").astype("uint32")
    crc = 0
    try:
        for chunk in decode_symbol_chunks(words, shape, prior, step):
            crc = zlib.crc32(chunk.tobytes(), crc)
            yield flat_indices(chunk, header.levels).reshape((len(chunk),) + index_shape[1:]), header
    except CodecError:
        raise
    except BaseException as error:  # constriction reports bad data as a Rust panic (a BaseException)
        if isinstance(error, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise
        raise CodecError(f"The payload could not be decoded: {error}") from None
    if crc != header.symbols_crc:
        raise CodecError("The payload decodes to other symbols than were coded (garbled, too short or too long).")


def read_indices(model, data, prior=None):
    """The bytes of a file -> (indices as ``model.encode`` returned them, (H, W)); see ``iter_indices``."""
    chunks = list(iter_indices(model, data, prior))
    header = chunks[0][1]
    return np.concatenate([indices for indices, _ in chunks]), (header.height, header.width)


def iter_decompress(model, data, prior=None):
    """The bytes of a file -> its images one at a time, float32 ``(H, W, C)`` in [0, 1].

    Memory stays bounded by one chunk however many images the file holds. The
    symbols' CRC is checked after the last image: on ``CodecError`` discard
    the images already yielded.
    """
    for indices, header in iter_indices(model, data, prior):
        yield from model.decode(indices)[:, : header.height, : header.width, :]


def decompress(model, data, prior=None):
    """The bytes of a file -> images float32 ``(N, H, W, C)`` in [0, 1]."""
    return np.stack(list(iter_decompress(model, data, prior)))
