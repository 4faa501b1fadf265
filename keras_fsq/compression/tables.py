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
"""

import hashlib
import json
import math

import keras
import numpy as np

from keras_fsq.compression import priors
from keras_fsq.compression.symbols import coded_quantizer, symbol_grid, symbol_levels

CONTEXTS = ("none", "left", *priors.TWO_PASS)  # a learned prior's contexts (keras_fsq.compression.priors), and "left"
PRIOR_TOTAL = 2**16  # a learned prior's probabilities, as counts out of this
UNIFORM_FLOOR = 2.0**-8
MIN_SYMBOL_BITS = -math.log2(1 - UNIFORM_FLOOR / 2)  # the cheapest symbol: L = 2, p = 1 - floor / 2
ADAPTIVE_POWERS = 32  # per image and dimension, a file (version 4) may code under P ** (k / 4), k = 1 .. 32
ADAPTIVE_CHOICE_BITS = math.log2(ADAPTIVE_POWERS)
COUNT_ENTRIES = 2**22  # the encoder's choice counts (context, level) pairs of this many entries at a time


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

    def power_rows(self, dim, contexts, power):
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

    def power_sweep(self, dim, contexts):
        """``(k, power_rows(dim, contexts, k))`` for ``k = 1 .. ADAPTIVE_POWERS`` in turn: one table in memory."""
        levels = self.levels[dim]
        quarter = np.sqrt(np.sqrt(self._smoothed[dim, contexts, :levels]))
        powered = quarter
        for k in range(1, 1 + ADAPTIVE_POWERS):
            yield k, (1 - UNIFORM_FLOOR) * powered / powered.sum(axis=-1, keepdims=True) + UNIFORM_FLOOR / levels
            powered = powered * quarter

    def choose_powers(self, chunk):
        """The encoder's choice, per image of ``chunk`` ``(n, h, w, d)`` and dimension: the power ``k``
        (``power_rows``) that codes it in the fewest bits, shape ``(n, d)``; all 0 for an image where
        coding the choices (``ADAPTIVE_CHOICE_BITS`` each) costs more than they save."""
        count, dims = len(chunk), chunk.shape[3]
        bits = np.zeros((count, dims, 1 + ADAPTIVE_POWERS))
        for mask in self.passes(*chunk.shape[1:3]):
            contexts = self.contexts(chunk, mask)
            for i in range(dims):
                used, inverse = np.unique(contexts[..., i], return_inverse=True)
                levels = self.levels[i]
                pairs = inverse.reshape(count, -1) * levels + chunk[:, mask, i]
                base = np.log2(self._probabilities[i, used, :levels])
                # Images in groups whose (context, level) counts hold at most COUNT_ENTRIES entries: memory
                # of a few tables, not of the symbols or of every power's table at once.
                group = max(1, COUNT_ENTRIES // base.size)
                for first in range(0, count, group):
                    rows = pairs[first : first + group]
                    counts = np.stack([np.bincount(row, minlength=base.size) for row in rows]).reshape(-1, *base.shape)
                    bits[first : first + group, i, 0] -= (counts * base).sum(axis=(1, 2))
                    for k, table in self.power_sweep(i, used):
                        bits[first : first + group, i, k] -= (counts * np.log2(table)).sum(axis=(1, 2))
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
