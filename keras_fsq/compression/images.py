"""Images to ``.fsq`` files and back with a model: encoder -> symbols -> coder -> container, and back.

Large images are encoded and decoded tile by tile (``keras_fsq.tiling``); every
symbol of a file is decoded and checked before the decoder network sees any.
"""

import math
import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from keras_fsq import tiling
from keras_fsq.compression import coder
from keras_fsq.compression.container import ADAPTATION, MAX_PIXELS, MAX_SIDE, MAX_SYMBOLS, VERSION, CodecError, Header
from keras_fsq.compression.dct_engine import DCTEngine
from keras_fsq.compression.deblock import deblock
from keras_fsq.compression.deblock import setting_of as deblock_setting
from keras_fsq.compression.online import ONLINE_MIN_SYMBOL_BITS
from keras_fsq.compression.post_filter import of_model as post_filter_of
from keras_fsq.compression.rdoq import rdo_symbols
from keras_fsq.compression.symbols import (
    coded_quantizer,
    indices_of,
    model_fingerprint,
    spatial_rank,
    symbol_grid,
    symbol_levels,
)
from keras_fsq.compression.tables import MIN_SYMBOL_BITS, EntropyModel
from keras_fsq.data import to_uint8
from keras_fsq.validation import number_at_least, validate_images


def padded_size(model: Any, height: int, width: int) -> tuple[int, int]:
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


def _index_shape(model: Any, count: int, height: int, width: int, channels: int) -> tuple[int, ...]:
    padded = padded_size(model, height, width)
    if isinstance(model, DCTEngine):  # one latent per 8x8 block, its symbols themselves
        return (count, padded[0] // model.downsampling_factor, padded[1] // model.downsampling_factor)
    latent_shape = model.encoder.compute_output_shape((count, *padded, channels))
    return tuple(coded_quantizer(model).indices_shape(latent_shape))


def encode_images(model: Any, images: np.ndarray) -> np.ndarray:
    """``model.encode`` of padded ``images``; large ones (over ``tiling.TILE`` latents a side) tile by tile."""
    factor = model.downsampling_factor
    if factor and max(images.shape[1:3]) > tiling.TILE * factor:
        return np.stack([tiling.encode_tiled(model, image) for image in images])
    return model.encode(images)


def pad_images(model: Any, images: np.ndarray) -> np.ndarray:
    """Images ``(N, H, W, C)`` padded to ``padded_size`` by repeating their edge pixels (as they are if they fit)."""
    height, width = images.shape[1:3]
    padded_height, padded_width = padded_size(model, height, width)
    if (padded_height, padded_width) == (height, width):
        return images
    return np.pad(images, ((0, 0), (0, padded_height - height), (0, padded_width - width), (0, 0)), mode="edge")


def image_symbols(model: Any, images: np.ndarray) -> np.ndarray:
    """The symbol grid ``(N, h, w, d)`` that ``compress`` codes for images ``(N, H, W, C)`` in [0, 1]:
    ``pad_images``, ``encode_images``, as symbols."""
    if isinstance(model, DCTEngine):
        return model.symbols(pad_images(model, images))
    return symbol_grid(model, encode_images(model, pad_images(model, images)))


def compress(
    model: Any, images: np.ndarray, prior: Any = None, model_name: str | None = None, rdo_lambda: float | None = None
) -> bytes:
    """Images ``(N, H, W, C)`` or ``(H, W, C)`` in [0, 1] -> the bytes of one file.

    ``prior``: an ``EntropyModel``; by default ``EntropyModel.for_model(model)``.
    ``model_name``: recorded in the file so a reader knows which model to load
    (default ``model.preset``: the preset a shipped model came from, else empty).
    ``rdo_lambda`` > 0: symbols chosen by ``squared error + rdo_lambda * bits`` (``compression.rdoq``;
    the shipped codecs' NumPy engine, whose default is its preset's ``rdo_lambda``); 0, or a Keras
    model: rounded.
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
    if rdo_lambda is None:
        rdo_lambda = model.rdo_lambda if isinstance(model, DCTEngine) else 0.0
    rdo_lambda = number_at_least(rdo_lambda, "rdo_lambda")
    if rdo_lambda:
        if not isinstance(model, DCTEngine):
            raise ValueError("`rdo_lambda` needs a shipped block-DCT codec's DCTEngine (its step errors).")
        positions = model.positions(pad_images(model, images))
        grid = rdo_symbols(positions, prior, model.step_errors(), rdo_lambda)
    else:
        grid = image_symbols(model, images)
    if grid.size > MAX_SYMBOLS:
        raise ValueError(f"`images` code to {grid.size} symbols; one file holds at most {MAX_SYMBOLS}: split them.")
    step = coder.images_per_chunk(grid.shape[1:], height * width)
    payload = coder.encode_symbols(grid, prior, step, ADAPTATION[VERSION]).astype("<u4").tobytes()
    header = Header(
        VERSION,
        model_fingerprint(model),
        prior.fingerprint,
        count,
        height,
        width,
        channels,
        list(levels),
        model_name,
        zlib.crc32(grid.tobytes()),
        payload,
    )
    return header.pack()


def _symbol_shape(model: Any, header: Header) -> tuple[tuple[int, int, int, int], tuple[int, ...]]:
    """``(N, h, w, d)`` of the header's images under ``model``, refused when the payload cannot carry that many."""
    try:
        index_shape = _index_shape(model, header.count, header.height, header.width, header.channels)
    except ValueError as error:
        raise CodecError(str(error)) from error
    grid = index_shape[1:3] if spatial_rank(model) == 2 else (1, index_shape[1])
    shape = (header.count, *grid, len(header.levels))
    if math.prod(shape) > MAX_SYMBOLS:
        raise CodecError(f"The header claims {math.prod(shape)} symbols; a file holds at most {MAX_SYMBOLS}.")
    cheapest = ONLINE_MIN_SYMBOL_BITS if ADAPTATION[header.version] == "online" else MIN_SYMBOL_BITS
    most = (8 * len(header.payload) + coder.SLACK_BITS) / cheapest
    if math.prod(shape) > most:
        raise CodecError(
            f"The header claims {math.prod(shape)} symbols ({header.count} images of {header.height}x{header.width}); "
            f"a payload of {len(header.payload)} bytes carries at most {int(most)}."
        )
    return shape, index_shape


def iter_indices(model: Any, data: bytes, prior: Any = None) -> Iterator[tuple[np.ndarray, Header]]:
    """The bytes of a file -> chunks of indices as ``model.encode`` returned them, and the header.

    Yields ``(indices chunk, header)``. Raises ``CodecError`` for a file that is
    truncated, corrupted, not a keras_fsq file, or written by another model or
    prior, before the first chunk: every symbol is decoded and checked first.
    """
    for chunk, index_shape, header in iter_symbols(model, data, prior):
        yield indices_of(model, chunk, index_shape), header


def iter_symbols(model: Any, data: bytes, prior: Any = None) -> Iterator[tuple[np.ndarray, tuple[int, ...], Header]]:
    """The bytes of a file -> ``(symbols chunk (n, h, w, d), index shape, header)``; see ``iter_indices``."""
    header = Header.unpack(data)
    levels = symbol_levels(model)
    prior = prior or EntropyModel.for_model(model, header.prior_fingerprint)
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
    step = coder.images_per_chunk(shape[1:], header.height * header.width)
    words = np.frombuffer(header.payload, dtype="<u4").astype("uint32")
    crc, chunks = 0, []
    try:
        for chunk in coder.decode_symbol_chunks(words, shape, prior, step, ADAPTATION[header.version]):
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
        yield chunk, index_shape, header


def read_indices(model: Any, data: bytes, prior: Any = None) -> tuple[np.ndarray, tuple[int, int]]:
    """The bytes of a file -> (indices as ``model.encode`` returned them, (H, W)); see ``iter_indices``."""
    chunks = list(iter_indices(model, data, prior))
    header = chunks[0][1]
    return np.concatenate([indices for indices, _ in chunks]), (header.height, header.width)


def iter_decompress(model: Any, data: bytes, prior: Any = None, dtype: str = "float32") -> Iterator[np.ndarray]:
    """The bytes of a file -> its images one at a time, ``(H, W, C)``: float32 in [0, 1], or uint8
    (``dtype="uint8"``, rounded tile by tile as ``keras_fsq.data.save_image`` rounds: a quarter of the memory).

    The symbols are decoded and checked before the first image; the decoder
    network then runs one chunk of images at a time, and a large image tile by
    tile (``keras_fsq.tiling``).
    """
    if dtype not in ("float32", "uint8"):
        raise ValueError(f"`dtype` must be 'float32' or 'uint8'; received {dtype!r}.")
    setting, post_filter = deblock_setting(model), post_filter_of(model)

    def finished(
        images: np.ndarray,
    ) -> np.ndarray:  # the shipped codecs' deblocking filter and post-filter, on the decoded padded images
        if setting is not None:
            deblock(images, *setting, in_place=True)
        return post_filter(images) if post_filter is not None else images

    if isinstance(model, DCTEngine):  # the NumPy engine decodes symbols, in strips of its own
        for chunk, _, header in iter_symbols(model, data, prior):
            images = finished(model.decode_symbols(chunk))[:, : header.height, : header.width, :]
            yield from (to_uint8(images) if dtype == "uint8" else images)
        return
    for indices, header in iter_indices(model, data, prior):
        if model.downsampling_factor and max(indices.shape[1:3]) > tiling.TILE:  # large images: tile by tile
            for one in indices:
                if setting is None and post_filter is None:
                    yield tiling.decode_tiled(model, one, dtype=dtype)[: header.height, : header.width, :]
                    continue
                image = finished(tiling.decode_tiled(model, one, dtype="float32"))[: header.height, : header.width]
                yield to_uint8(image) if dtype == "uint8" else image
        else:
            images = finished(model.decode(indices))[:, : header.height, : header.width, :]
            yield from (to_uint8(images) if dtype == "uint8" else images)


def decompress(model: Any, data: bytes, prior: Any = None) -> np.ndarray:
    """The bytes of a file -> images float32 ``(N, H, W, C)`` in [0, 1]."""
    return np.stack(list(iter_decompress(model, data, prior)))
