"""Range coding of symbol grids (constriction's queue coder) under an ``EntropyModel``, chunk by chunk.

A chunk of images is coded pass by pass (``EntropyModel.passes``: anchors, then
the rest; column by column for the left context; anti-diagonal by anti-diagonal for
the neighbours contexts) so the decoder knows each
context, one group of dimensions at a time (reading the contexts again after each group
when they read the earlier groups), every image's positions of the pass in one
call of at most ``CODER_SLICE`` symbols. ``adaptation``: ``"none"`` (format 3: the table as it is),
``"powers"`` (format 4: each image's power choices first, ``EntropyModel.power_rows``) or
``"online"`` (format 5: the table and the counts of what the chunk has shown so far,
``keras_fsq.compression.online``). The decoder codes what it decodes again, slice by slice,
and requires the payload to be exactly that coding.
"""

import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import constriction
import numpy as np

from keras_fsq.compression.container import CodecError
from keras_fsq.compression.online import OnlineCounts
from keras_fsq.compression.tables import ADAPTIVE_POWERS

if TYPE_CHECKING:
    from keras_fsq.compression.tables import EntropyModel

SLACK_BITS = 64  # the range coder's final flush
CHUNK_SYMBOLS = 2**20
CHUNK_PIXELS = 2**22
CODER_SLICE = 2**14  # symbols given to the range coder per call: their probability rows stay small
ONLINE_SLICE = 2**10  # ... under online adaptation, whose counts are updated after each call
ADAPTATIONS = ("none", "powers", "online")  # by format version: 3, 4, 5


def _code_powers(coder: Any, powers: np.ndarray | None, count: int, dims: int) -> np.ndarray | None:
    """Encode (``powers`` given, ``(n, d)``) or decode (``powers=None``) each image's ``power_rows``
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


def _group_arrays(
    contexts: np.ndarray, powers: np.ndarray | None, group: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """For the symbols of the dimensions ``group`` of one pass, ``(n, positions, g)`` flattened in that
    order: their dimensions, contexts and powers (None without adaptation)."""
    shape = (*contexts.shape[:2], len(group))
    dims = np.broadcast_to(group, shape).ravel()
    group_powers = None if powers is None else np.broadcast_to(powers[:, None, group], shape).ravel()
    return dims, contexts[..., group].ravel(), group_powers


def _slices(
    dims: np.ndarray, contexts: np.ndarray, powers: np.ndarray | None, size: int = CODER_SLICE
) -> Iterator[tuple[int, int, np.ndarray, np.ndarray, np.ndarray | None]]:
    """``(start, end, dims, contexts, powers)`` of at most ``size`` symbols each."""
    for start in range(0, len(dims), size):
        end = start + size
        yield start, end, dims[start:end], contexts[start:end], None if powers is None else powers[start:end]


def _check_adaptation(adaptation: str) -> None:
    if adaptation not in ADAPTATIONS:
        raise ValueError(f"`adaptation` must be one of {ADAPTATIONS}; received {adaptation!r}.")


def _encode_chunk(
    encoder: Any, chunk: np.ndarray, prior: "EntropyModel", powers: np.ndarray | None = None, online: bool = False
) -> None:
    """Append one chunk of symbols ``(n, h, w, d)``: its images' ``power_rows`` choices ``powers``
    ``(n, d)`` (None: a file without them), then pass by pass (``prior.passes``), one group of
    dimensions at a time (``prior.dimension_groups``), every image's positions of the pass in one call;
    ``online``: under the table adapted to the symbols coded before (``OnlineCounts``)."""
    family = constriction.stream.model.Categorical(perfect=False)
    if powers is not None:
        _code_powers(encoder, powers, *chunk.shape[::3])
    cache: dict = {}
    counts = OnlineCounts(prior) if online else None
    size = CODER_SLICE if counts is None else ONLINE_SLICE
    for block, passes in prior.pass_blocks(*chunk.shape[1:3]):  # a run of passes' contexts at once
        coded, contexts = prior.coded_symbols(chunk, block)
        order = np.flatnonzero(block.ravel())
        for mask in passes:
            inside = mask.ravel()[order]
            pass_coded, pass_contexts = coded[:, inside], contexts[:, inside]
            for group in prior.dimension_groups():
                symbols = pass_coded[..., group].ravel().astype("int32")
                arrays = _group_arrays(pass_contexts, powers, group)
                for start, end, dims, contexts_, powers_ in _slices(*arrays, size):
                    if counts is None:
                        rows = prior.rows(dims, contexts_, powers_, cache)
                    else:
                        rows = counts.rows(dims, contexts_)
                        counts.update(dims, contexts_, symbols[start:end])
                    encoder.encode(symbols[start:end], family, rows)  # a queue coder: one stream


def encode_symbols(grid: np.ndarray, prior: "EntropyModel", step: int, adaptation: str = "online") -> np.ndarray:
    """Symbols ``(N, h, w, d)`` -> range-coded uint32 words, in chunks of ``step`` images.

    ``adaptation``: ``"online"``, the table adapted to what each chunk has shown so far (``OnlineCounts``);
    ``"powers"``, each image may code each dimension under a sharpened or flattened table
    (``EntropyModel.choose_powers``), its choices coded first; ``"none"``, the table as it is.
    """
    _check_adaptation(adaptation)
    encoder = constriction.stream.queue.RangeEncoder()
    for first in range(0, len(grid), step):
        chunk = grid[first : first + step]
        powers = prior.choose_powers(chunk) if adaptation == "powers" else None
        _encode_chunk(encoder, chunk, prior, powers, online=adaptation == "online")
    return encoder.get_compressed()


def images_per_chunk(symbol_shape: Sequence[int], pixels_per_image: int) -> int:
    """How many images one decoding chunk holds: at most ``CHUNK_SYMBOLS`` symbols and ``CHUNK_PIXELS`` pixels."""
    return max(1, min(CHUNK_SYMBOLS // math.prod(symbol_shape), CHUNK_PIXELS // pixels_per_image))


def decode_symbol_chunks(
    words: np.ndarray,
    shape: tuple[int, int, int, int],
    prior: "EntropyModel",
    step: int,
    adaptation: str = "online",
) -> Iterator[np.ndarray]:
    """Inverse of ``encode_symbols``: a grid of ``shape`` ``(N, h, w, d)`` (uint8), yielded ``step`` images at a time.

    Each decoded slice is coded again as it comes, under the rows it was decoded with (the order
    ``encode_symbols`` codes in); after the last chunk ``words`` must equal that encoding exactly, else
    ``CodecError`` (a payload too short, too long or not fully consumed).
    """
    _check_adaptation(adaptation)
    decoder = constriction.stream.queue.RangeDecoder(words)
    encoder = constriction.stream.queue.RangeEncoder()
    family = constriction.stream.model.Categorical(perfect=False)
    count, rows, columns, dims = shape
    for first in range(0, count, step):
        chunk = np.zeros((min(step, count - first), rows, columns, dims), dtype="uint8")
        try:
            powers = _code_powers(decoder, None, len(chunk), dims) if adaptation == "powers" else None
            if powers is not None:
                _code_powers(encoder, powers, len(chunk), dims)
            flat = chunk.reshape(len(chunk), rows * columns, dims)
            cache: dict = {}
            counts = OnlineCounts(prior) if adaptation == "online" else None
            size = CODER_SLICE if counts is None else ONLINE_SLICE
            for mask in prior.passes(rows, columns):
                positions = np.flatnonzero(mask.ravel())
                contexts, shifts = prior.contexts_and_shifts(chunk, mask)
                for number, group in enumerate(prior.dimension_groups()):
                    if number and prior.reads_earlier_groups:  # given the groups just decoded
                        contexts, shifts = prior.contexts_and_shifts(chunk, mask)
                    decoded = []
                    arrays = _group_arrays(contexts, powers, group)
                    for _, _, d, c, p in _slices(*arrays, size):
                        probabilities = prior.rows(d, c, p, cache) if counts is None else counts.rows(d, c)
                        decoded.append(decoder.decode(family, probabilities))
                        encoder.encode(decoded[-1], family, probabilities)
                        if counts is not None:
                            counts.update(d, c, decoded[-1])
                    symbols = np.concatenate(decoded).reshape(len(chunk), len(positions), len(group))
                    if shifts is not None:  # residuals of the median prediction: back to levels
                        symbols = np.mod(symbols + shifts[..., group], np.asarray(prior.levels)[group])
                    flat[:, positions[:, None], group[None, :]] = symbols
        except AssertionError:  # constriction's word for a payload no coding could produce
            raise CodecError("The payload is not the coding of the header's images (garbled).") from None
        yield chunk
    if not np.array_equal(encoder.get_compressed(), words):
        raise CodecError("The payload is not the coding of the header's images (too short, too long or garbled).")
