"""Coding tables: ``P_i(level | context)`` from integer counts, the same numbers on every backend.

Probabilities come from integer counts (``counts + 1``; a learned prior's
probabilities are floored to counts out of ``2^16`` once, in NumPy), mixed with a
uniform floor of weight ``2^-8``: no symbol is ever more likely than ``1 - 2^-9``,
so each costs at least ``MIN_SYMBOL_BITS`` (0.0028) bits (what bounds the symbols a
payload can claim).

Per-image adaptation (format version 4): a prior learned on many photos is too
flat for a smooth one and too sharp for a busy one, so the encoder may code
each image's dimension ``i`` under ``P_i^t / Z`` (``t = k / 4``, ``k = 1 .. 32``,
then the same floor), choosing per dimension the ``t`` that codes it in the
fewest bits (``EntropyModel.choose_powers``; the coder writes the choices).

Context ``"neighbours"`` (``keras_fsq.compression.neighbours``): each symbol given
its left and upper neighbours, coded along anti-diagonals; some dimensions
coded as the residual of a median prediction. Context ``"neighbours_bands"``
(``keras_fsq.compression.bands``): the same, each group of dimensions also given the
magnitude of the group coded before it at the same position. The shipped block-DCT
codecs code under a ``"neighbours_bands"`` table, counted on their training photos
(``EntropyModel.shipped``); files coded under their earlier ``"neighbours"`` tables
still decode (``EntropyModel.for_model(model, fingerprint)`` picks the table a file names).
"""

import functools
import gzip
import hashlib
import importlib.resources
import json
import math
import os
import pathlib
from collections.abc import Hashable, Iterable, Iterator, Sequence
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike

from keras_fsq import presets
from keras_fsq.compression.contexts import COUNTED_CONTEXTS, KINDS, TWO_PASS
from keras_fsq.compression.contexts import TABLE_CONTEXTS as CONTEXTS
from keras_fsq.compression.symbols import coded_quantizer, symbol_grid, symbol_levels
from keras_fsq.types import Config

PRIOR_TOTAL = 2**16  # a learned prior's probabilities, as counts out of this
UNIFORM_FLOOR = 2.0**-8
MIN_SYMBOL_BITS = -math.log2(1 - UNIFORM_FLOOR / 2)  # the cheapest symbol: L = 2, p = 1 - floor / 2
ADAPTIVE_POWERS = 32  # per image and dimension, a file (version 4) may code under P ** (k / 4), k = 1 .. 32
ADAPTIVE_CHOICE_BITS = math.log2(ADAPTIVE_POWERS)
COUNT_ENTRIES = 2**22  # the encoder's choice counts (context, level) pairs of this many entries at a time
MAX_TABLE_ENTRIES = 2**24  # a table read from JSON holds at most this many counts (128 MiB), checked first
BLOCK_POSITIONS = 2**12  # the encoder computes the contexts of consecutive passes holding this many positions at once


class EntropyModel:
    """``P_i(level | context)`` per symbol dimension ``i`` from integer counts, shape ``(d, contexts, max L)``.

    ``context``: a name of ``keras_fsq.compression.contexts.KINDS`` (``"none"``, ``"left"``,
    ``"neighbours"``, ``"neighbours_bands"``, and a learned prior's ``"checkerboard"`` and
    ``"activity"`` with ``activity_buckets`` buckets); its kind (``self.kind``) computes the
    contexts, passes and groups. ``predicted``: the dimensions a neighbours table codes as the
    residual of a median prediction (``keras_fsq.compression.neighbours``).
    """

    def __init__(
        self,
        levels: Sequence[int],
        counts: ArrayLike,
        context: str = "none",
        activity_buckets: int | None = None,
        predicted: Iterable[int] = (),
    ) -> None:
        if context not in CONTEXTS:
            raise ValueError(f"`context` must be one of {CONTEXTS}; received {context!r}.")
        self.kind = KINDS[context]
        if self.kind.two_pass != (activity_buckets is not None):
            raise ValueError(f"`activity_buckets` is given exactly when `context` is one of {TWO_PASS}.")
        self.levels, self.context, self.activity_buckets = [int(v) for v in levels], context, activity_buckets
        self.predicted = sorted({int(i) for i in predicted})
        inside = all(0 <= i < len(self.levels) for i in self.predicted)
        if self.predicted and (not self.kind.predicts or not inside):
            raise ValueError(
                f"`predicted` lists dimensions in [0, {len(levels)}) of a 'neighbours' context; received {predicted!r}."
            )
        self.predicted_mask = np.isin(np.arange(len(self.levels)), self.predicted)
        max_level = max(self.levels)
        contexts = self.kind.count(max_level, activity_buckets)
        counts = np.asarray(counts, dtype="int64")
        if counts.shape != (len(self.levels), contexts, max_level) or (counts < 0).any():
            raise ValueError(
                f"`counts` must be non-negative with shape {(len(self.levels), contexts, max_level)}; received "
                f"{counts.shape}."
            )
        self.counts = counts
        level_column = np.asarray(self.levels)[:, None, None]
        valid = np.arange(max_level)[None, None, :] < level_column
        # Laplace smoothing keeps every valid level codable; the uniform floor
        # bounds how many symbols a payload bit can carry (see the module doc).
        smoothed = np.where(valid, counts + 1, 0).astype("float64")
        smoothed /= smoothed.sum(axis=-1, keepdims=True)
        self._smoothed = smoothed
        self._probabilities = np.where(valid, (1 - UNIFORM_FLOOR) * smoothed + UNIFORM_FLOOR / level_column, 0.0)
        self._level_rows: dict[int, np.ndarray] = {}

    @classmethod
    def for_model(cls, model: Any, fingerprint: bytes | None = None) -> "EntropyModel":
        """The prior a model codes with by default: a shipped codec's coding table (a codec folder's own,
        ``keras_fsq.codec_folders``), else its learned ``prior``
        if it has one, else its FSQ's level usage; a quantizer that keeps none (LFQ, BSQ) codes under a
        uniform prior (fit one for less).

        ``fingerprint``: a file's prior fingerprint; a shipped codec whose earlier table has it decodes with
        that one (files coded before the current table still decode)."""
        preset = presets.record_of(model)
        if preset and preset.blend is not None:  # a quality between two shipped ones: both tables' counts blended
            upper, fraction = preset.blend
            return blended_table(str(preset.coding_prior), str(upper.coding_prior), fraction)
        if preset and preset.coding_prior:
            table, earlier = shipped_table(preset.coding_prior, preset.folder), preset.earlier_coding_prior
            if earlier and fingerprint not in (None, table.fingerprint):
                return shipped_table(earlier) if shipped_table(earlier).fingerprint == fingerprint else table
            return table
        if model.prior is not None:
            return cls.from_prior(model)
        if hasattr(model.quantizer, "track_usage"):
            return cls.from_level_usage(model)
        levels = symbol_levels(model)
        return cls(levels, np.zeros((len(levels), 1, max(levels)), "int64"))

    @classmethod
    def from_prior(cls, model: Any) -> "EntropyModel":
        """The model's learned ``CategoricalPrior``, its probabilities floored to counts out of ``PRIOR_TOTAL``."""
        prior = model.prior
        if prior.levels != symbol_levels(model):
            raise ValueError(f"The model's prior has levels {prior.levels}; its FSQ symbols {symbol_levels(model)}.")
        import keras

        logits = keras.ops.convert_to_numpy(prior.logits).astype("float64")
        valid = np.arange(prior.max_level)[None, None, :] < np.asarray(prior.levels)[:, None, None]
        logits = np.where(valid, logits - np.where(valid, logits, -np.inf).max(axis=-1, keepdims=True), -np.inf)
        probabilities = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
        counts = np.floor(probabilities * PRIOR_TOTAL).astype("int64")
        buckets = prior.activity_buckets if KINDS[prior.context].two_pass else None
        return cls(prior.levels, counts, prior.context, buckets)

    @classmethod
    def shipped(cls, preset: str) -> "EntropyModel":
        """The coding table that ships with ``preset`` (its ``coding_prior`` file in ``weights/``), counted on its
        training images by ``experiments/fit_codec_priors.py``. Read and built once per process: a
        folder of files codes with one table (an ``EntropyModel`` is not changed after it is built)."""
        return shipped_table(str(presets.resolve(preset).coding_prior))

    @classmethod
    def from_level_usage(cls, model: Any, total: int = 2**16) -> "EntropyModel":
        """The factorized prior of the FSQ layer's EMA level usage (no extra data needed)."""
        quantizer = coded_quantizer(model)
        if not getattr(quantizer, "track_usage", False):
            raise ValueError(
                "The model's FSQ keeps no level usage (track_usage=False): pass a prior from EntropyModel.fit "
                "(keras-fsq fit-prior)."
            )
        import keras

        usage = keras.ops.convert_to_numpy(quantizer.level_usage).astype("float64")
        counts = np.floor(np.tile(usage, (quantizer.num_codebooks, 1)) * total)[:, None, :].astype("int64")
        return cls(symbol_levels(model), counts)

    @classmethod
    def fit(cls, model: Any, images: np.ndarray, context: str = "left", batch_size: int = 64) -> "EntropyModel":
        """Count each dimension's levels (given ``context``: one of ``COUNTED_CONTEXTS``) over
        ``model.encode(images)``; see ``count``."""
        cls._check_counted(context)
        grid = symbol_grid(model, model.encode(images, batch_size=batch_size))
        return cls.count(symbol_levels(model), [grid], context)

    @staticmethod
    def _check_counted(context: str) -> None:
        if context not in COUNTED_CONTEXTS:
            raise ValueError(
                f"`context` must be one of {COUNTED_CONTEXTS} (a checkerboard prior is learned in training); "
                f"received {context!r}."
            )

    @classmethod
    def count(
        cls,
        levels: Sequence[int],
        grids: Iterable[np.ndarray],
        context: str = "left",
        predicted: Iterable[int] | None = None,
    ) -> "EntropyModel":
        """The table of the symbol ``grids`` (an iterable of ``(N, h, w, d)`` arrays: images of any sizes).

        ``"neighbours"``: each dimension is counted both ways (levels, and
        residuals of the median prediction) and coded the way that takes the
        fewest bits on these grids (its ``predicted`` dimensions). ``"neighbours_bands"``:
        the ``"neighbours"`` table's ``predicted`` dimensions (the band contexts leave them
        out), then counted under its own contexts. ``predicted`` given: these dimensions
        (another table's, so that the two count the same things), not chosen.
        """
        cls._check_counted(context)
        levels, grids = [int(v) for v in levels], list(grids)
        if predicted is None:
            predicted = KINDS[context].predicted_dimensions(
                levels, lambda name, way: cls._counted(levels, grids, name, way)
            )
        return cls._counted(levels, grids, context, predicted)

    @classmethod
    def _counted(
        cls, levels: Sequence[int], grids: list[np.ndarray], context: str, predicted: Iterable[int]
    ) -> "EntropyModel":
        """The table of ``grids`` under ``context`` with these ``predicted`` dimensions: counts of what it codes."""
        contexts = KINDS[context].count(max(levels), None)
        table = cls(levels, np.zeros((len(levels), contexts, max(levels)), "int64"), context, None, predicted)
        for grid in grids:
            coded, table_contexts = table.coded_symbols(grid, np.ones(grid.shape[1:3], dtype=bool))
            for i in range(len(levels)):
                pairs = table_contexts[..., i].ravel() * max(levels) + coded[..., i].ravel()
                table.counts[i] += np.bincount(pairs, minlength=table.counts[i].size).reshape(contexts, -1)
        return cls(levels, table.counts, context, None, predicted)

    @functools.cached_property
    def bits(self) -> np.ndarray:
        """``-log2 P_i(level | context)``, shape ``(d, contexts, max L)``: what each symbol costs under the table
        (the per-image powers aside); 0 past ``L_i``, where nothing is ever coded. Computed once (a table is
        not changed after it is built)."""
        return -np.log2(np.where(self._probabilities > 0, self._probabilities, 1.0))

    def code_length(self) -> np.ndarray:
        """Bits per dimension ``(d,)`` of the symbols this table was counted from, coded under it."""
        return (self.counts * self.bits).sum(axis=(1, 2))

    @functools.cached_property
    def fingerprint(self) -> bytes:
        described = [self.levels, self.context, self.activity_buckets] + ([self.predicted] if self.predicted else [])
        digest = hashlib.sha256(json.dumps(described).encode() + self.counts.tobytes())
        return digest.digest()[:8]

    def coded_symbols(self, grid: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What the coder codes at the True positions of the ``(h, w)`` ``mask`` of ``grid`` ``(N, h, w, d)``:
        ``(symbols, contexts)``, both ``(N, positions, d)`` int64 (positions row-major, as ``grid[:, mask]``).
        The symbols are the levels, except a neighbours table's predicted dimensions: residuals
        ``(s - shift) mod L`` (``contexts_and_shifts``; the decoder adds the shift back)."""
        grid = np.asarray(grid)
        symbols = grid[:, mask].astype("int64")
        contexts, shifts = self.contexts_and_shifts(grid, mask)
        return (symbols if shifts is None else np.mod(symbols - shifts, self.levels)), contexts

    def contexts_and_shifts(self, grid: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, Any]:
        """``(contexts, shifts)`` at ``mask``'s positions, both ``(N, positions, d)``: a symbol ``s`` is coded
        as ``(s - shift) mod L`` under its context; ``shifts`` is None when every symbol is coded as it is
        (all but a neighbours table with predicted dimensions). Reads only earlier passes, and under
        ``"neighbours_bands"`` the earlier groups of the same pass (``reads_earlier_groups``)."""
        return self.kind.contexts_and_shifts(self, grid, mask)

    def contexts(self, grid: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Context index ``(N, positions, d)`` int64 of each dimension at ``mask``'s positions."""
        return self.contexts_and_shifts(grid, mask)[0]

    def passes(self, rows: int, columns: int) -> Iterable[np.ndarray]:
        """Boolean ``(rows, columns)`` masks of the positions coded together, in coding order (an iterable,
        made as it is read: a column or a diagonal at a time)."""
        return self.kind.passes(rows, columns)

    def pass_blocks(self, rows: int, columns: int) -> Iterator[tuple[np.ndarray, list[np.ndarray]]]:
        """``(block, passes)``: the ``passes`` in consecutive runs of at least ``BLOCK_POSITIONS`` positions
        (the last may hold fewer), ``block`` the mask of a run's positions. Contexts read only earlier
        passes, so an encoder, which knows every symbol, computes a block's at once in bounded memory."""
        block, run = np.zeros((rows, columns), dtype=bool), []
        for mask in self.passes(rows, columns):
            block |= mask
            run.append(mask)
            if block.sum() >= BLOCK_POSITIONS:
                yield block, run
                block, run = np.zeros((rows, columns), dtype=bool), []
        if run:
            yield block, run

    @property
    def reads_earlier_groups(self) -> bool:
        """Whether a symbol's context reads the groups (``dimension_groups``) coded before its own at the same
        position: the decoder then reads the contexts of a pass again before each group."""
        return self.kind.reads_earlier_groups

    def dimension_groups(self) -> list[np.ndarray]:
        """The dimensions coded in one call of the range coder per pass, in coding order: each alone, except
        under a neighbours table, whose many short passes code all dimensions of one ``L`` together."""
        return self.kind.dimension_groups(self.levels)

    def _rows_of_level(self, level: int) -> np.ndarray:
        """``P_i(. | c)`` cut to ``level`` values, ``(d * contexts, level)`` contiguous: rows ``i * contexts + c``
        gathered in one ``np.take`` (kept per level: a table is not changed after it is built)."""
        if level not in self._level_rows:
            self._level_rows[level] = np.ascontiguousarray(self._probabilities[:, :, :level]).reshape(-1, level)
        return self._level_rows[level]

    def smoothed_rows(self, level: int) -> np.ndarray:
        """The smoothed probabilities before the floor, laid out as ``_rows_of_level``: what online adaptation
        (``keras_fsq.compression.online``) starts from."""
        if -level not in self._level_rows:
            self._level_rows[-level] = np.ascontiguousarray(self._smoothed[:, :, :level]).reshape(-1, level)
        return self._level_rows[-level]

    def rows(
        self, dims: np.ndarray, contexts: np.ndarray, powers: np.ndarray | None = None, cache: dict | None = None
    ) -> np.ndarray:
        """Rows of ``P_dims(. | contexts)`` for symbols of the dimensions ``dims`` (1-D, one ``L`` for all),
        under ``contexts`` and ``powers`` (1-D, ``powers`` optional as in ``probabilities``), ``(M, L)``.

        ``cache``: a dict that keeps each ``(dim, power)``'s rows of every context between calls.
        """
        if (dims == dims[0]).all():
            return self.probabilities(int(dims[0]), contexts, powers)
        rows = np.take(self._rows_of_level(self.levels[dims[0]]), dims * self.counts.shape[1] + contexts, axis=0)
        if powers is not None and powers.any():
            cache = {} if cache is None else cache
            keys = dims * (1 + ADAPTIVE_POWERS) + powers
            for key in np.unique(keys[powers > 0]):
                if key not in cache:
                    dim, power = divmod(int(key), 1 + ADAPTIVE_POWERS)
                    cache[key] = self.power_rows(dim, np.arange(self.counts.shape[1]), power)
                chosen = keys == key
                rows[chosen] = cache[key][contexts[chosen]]
        return np.ascontiguousarray(rows)

    def probabilities(self, dim: int, contexts: np.ndarray, powers: np.ndarray | None = None) -> np.ndarray:
        """Rows of ``P_dim(. | contexts)``, shape ``contexts.shape + (L_dim,)``, float64.

        ``powers`` (same shape as ``contexts``, optional): each symbol's power ``k``
        (``power_rows``; ``k = 0``: the prior as it is).
        """
        rows = self._probabilities[dim, contexts, : self.levels[dim]]
        if powers is not None and powers.any():
            for power in np.unique(powers[powers > 0]):  # usually one per image and dimension
                chosen = powers == power
                used, inverse = np.unique(contexts[chosen], return_inverse=True)
                rows[chosen] = self.power_rows(dim, used, power)[inverse]
        return np.ascontiguousarray(rows)  # constriction needs contiguous rows

    def power_rows(self, dim: int, contexts: np.ndarray, power: int) -> np.ndarray:
        """``P_dim(. | c)^t`` renormalised and mixed with the uniform floor, for the ``contexts`` ``c``
        (1-D) and ``t = power / 4``, ``power`` in ``1 .. ADAPTIVE_POWERS``; shape ``(len(contexts), L_dim)``.

        ``t > 1`` sharpens the prior (a smooth image: more zeros than average),
        ``t < 1`` flattens it (a busy one). Computed from the smoothed counts by
        square roots and products only, in one fixed order (``power_sweep``), which
        IEEE arithmetic rounds the same way everywhere: encoder and decoder build
        the same rows on any machine.
        """
        for k, rows in self.power_sweep(dim, contexts):
            if k == power:
                return rows
        raise ValueError(f"`power` must be in [1, {ADAPTIVE_POWERS}]; received {power!r}.")

    def power_sweep(self, dim: int, contexts: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """``(k, power_rows(dim, contexts, k))`` for ``k = 1 .. ADAPTIVE_POWERS`` in turn: one table in memory."""
        levels = self.levels[dim]
        quarter = np.sqrt(np.sqrt(self._smoothed[dim, contexts, :levels]))
        powered = quarter
        for k in range(1, 1 + ADAPTIVE_POWERS):
            yield k, (1 - UNIFORM_FLOOR) * powered / powered.sum(axis=-1, keepdims=True) + UNIFORM_FLOOR / levels
            powered = powered * quarter

    def choose_powers(self, chunk: np.ndarray) -> np.ndarray:
        """The encoder's choice, per image of ``chunk`` ``(n, h, w, d)`` and dimension: the power ``k``
        (``power_rows``) that codes it in the fewest bits, shape ``(n, d)``; all 0 for an image where
        coding the choices (``ADAPTIVE_CHOICE_BITS`` each) costs more than they save."""
        count, dims = len(chunk), chunk.shape[3]
        bits = np.zeros((count, dims, 1 + ADAPTIVE_POWERS))
        for block, _ in self.pass_blocks(*chunk.shape[1:3]):
            symbols, contexts = self.coded_symbols(chunk, block)
            for i in range(dims):
                used, inverse = np.unique(contexts[..., i], return_inverse=True)
                levels = self.levels[i]
                pairs = inverse.reshape(count, -1) * levels + symbols[..., i]
                base = np.log2(self._probabilities[i, used, :levels])
                # Images in groups whose (context, level) counts hold at most COUNT_ENTRIES entries: memory
                # of a few tables, not of the symbols or of every power's table at once.
                group = max(1, COUNT_ENTRIES // base.size)
                for first in range(0, count, group):
                    rows = pairs[first : first + group]
                    counts = np.stack([np.bincount(row, minlength=base.size) for row in rows])
                    counts = counts.reshape(-1, *base.shape)
                    bits[first : first + group, i, 0] -= (counts * base).sum(axis=(1, 2))
                    for k, table in self.power_sweep(i, used):
                        bits[first : first + group, i, k] -= (counts * np.log2(table)).sum(axis=(1, 2))
        best = 1 + bits[..., 1:].argmin(axis=-1)
        adapted = np.take_along_axis(bits, best[..., None], -1)[..., 0].sum(-1) + dims * ADAPTIVE_CHOICE_BITS
        return np.where((adapted < bits[..., 0].sum(-1))[:, None], best, 0)

    def to_json(self) -> str:
        """The table as JSON; the counts sparse (``counts_shape``, and the flat positions ``counts_at`` of the
        non-zero ``counts_values``): a table of band contexts is mostly zeros, and reads back in milliseconds."""
        at = np.flatnonzero(self.counts)
        return json.dumps(
            {
                "levels": self.levels,
                "context": self.context,
                "activity_buckets": self.activity_buckets,
                **({"predicted": self.predicted} if self.predicted else {}),
                "counts_shape": list(self.counts.shape),
                "counts_at": at.tolist(),
                "counts_values": self.counts.ravel()[at].tolist(),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> "EntropyModel":
        """A table from ``to_json``'s text, or from an earlier one whose ``counts`` are nested lists."""
        try:
            config = json.loads(text)
            return cls(
                config["levels"],
                config["counts"] if "counts" in config else _dense_counts(config),
                config["context"],
                config.get("activity_buckets"),
                config.get("predicted", ()),
            )
        except (KeyError, TypeError, json.JSONDecodeError) as error:
            raise ValueError(f"Not an EntropyModel JSON: {error}") from error


def _dense_counts(config: Config) -> np.ndarray:
    """The counts array of a sparse table's JSON, its size bounded (``MAX_TABLE_ENTRIES``) before it is made."""
    shape = [int(side) for side in config["counts_shape"]]
    if len(shape) != 3 or min(shape) < 1 or math.prod(shape) > MAX_TABLE_ENTRIES:
        raise ValueError(f"Not an EntropyModel JSON: counts_shape {shape} (at most {MAX_TABLE_ENTRIES} counts).")
    at = np.asarray(config["counts_at"], dtype="int64")
    values = np.asarray(config["counts_values"], dtype="int64")
    if at.ndim != 1 or at.shape != values.shape or (at.size and (at.min() < 0 or at.max() >= math.prod(shape))):
        raise ValueError("Not an EntropyModel JSON: counts_at must be positions inside counts_shape, one per value.")
    counts = np.zeros(math.prod(shape), dtype="int64")
    counts[at] = values
    return counts.reshape(shape)


def shipped_table(name: str, folder: str | None = None) -> "EntropyModel":
    """The ``EntropyModel`` of the coding table file ``name``: shipped in ``keras_fsq/weights``, or in a
    codec ``folder`` (``keras_fsq.codec_folders``). Read once per process (a folder's again when its file
    changes)."""
    if folder is None:
        return _read_table(cast(Hashable, importlib.resources.files("keras_fsq") / "weights" / name))
    path = pathlib.Path(folder) / name
    if not path.is_file():
        raise ValueError(f"{folder} is not a codec folder: it lacks {name}.")
    stat = path.stat()
    return _read_table(path, (stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=8)
def blended_table(lower: str, upper: str, fraction: float) -> "EntropyModel":
    """The table of shipped table files ``lower`` and ``upper`` (the same contexts) with counts
    ``round((1 - fraction) c_lower + fraction c_upper)``: a blended codec's (``presets.blended_codec``)."""
    low, high = shipped_table(lower), shipped_table(upper)
    counts = np.round((1 - fraction) * low.counts + fraction * high.counts).astype("int64")
    return EntropyModel(low.levels, counts, low.context, low.activity_buckets, low.predicted)


def write_table_file(path: str | os.PathLike, table: "EntropyModel") -> None:
    """Write ``table`` as the gzipped JSON ``shipped_table`` reads (no timestamp: the same table, the same bytes)."""
    pathlib.Path(path).write_bytes(gzip.compress(table.to_json().encode("utf-8"), mtime=0))


MAX_TABLE_TEXT = 2**28  # a coding table's JSON is read up to this many bytes (the shipped ones: under 2 MB)


@functools.lru_cache(maxsize=None)
def _read_table(path: Any, version: tuple[int, int] | None = None) -> "EntropyModel":
    """The table in gzipped JSON file ``path`` (``version``: what tells a changed file from the one read);
    ``ValueError`` naming the file when it is not one."""
    try:
        with path.open("rb") as file, gzip.GzipFile(fileobj=file) as unpacked:
            text = unpacked.read(MAX_TABLE_TEXT + 1)
        if len(text) > MAX_TABLE_TEXT:
            raise ValueError(f"over {MAX_TABLE_TEXT} bytes of JSON")
        table = EntropyModel.from_json(text.decode("utf-8"))
    except (OSError, EOFError, UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"{path} is not a coding table ({error}).") from None
    table.counts.setflags(write=False)  # shared by every caller: nobody may change it
    return table
