"""Learned priors over FSQ symbols: the rate term of rate-distortion training.

``CategoricalPrior(levels, context)`` holds one table of logits per FSQ
dimension ``c`` and context ``k``: ``P_c(s | k) = softmax(logits[c, k, :L_c])``
over the ``L_c`` levels of that dimension. Rate in bits of a grid of symbols
``s`` (``(N, h, w, d)`` ints) is ``-sum log2 P_c(s | k)``.

Contexts (``context``):

* ``"none"``: one context; a factorized per-dimension categorical prior.
* ``"checkerboard"``: two passes over the latent grid. Anchors (``(y + x)``
  even) are coded first under context 0. Every other position is coded after
  them, under ``1 + m K + b``: ``m = (sum of the 4 neighbours' levels + 2) // 4``
  in the same dimension (their mean level; a missing neighbour counts as the
  dimension's centre level ``(L_c - 1) // 2``) and ``b = min(K - 1,
  floor(log2(1 + a)))`` an activity bucket of ``a = sum over the neighbours and
  dimensions of |2 s - (L - 1)|`` (how far from the centre the neighbourhood is:
  the local scale a hyperprior would send). Contexts are integer functions of
  already-decoded symbols, so coder and decoder compute them identically.
* ``"activity"``: the same two passes, non-anchors under ``1 + b`` (the activity
  bucket alone): ``1 + K`` contexts whatever the levels, for alphabets too large
  for ``max L`` mean-level contexts (the block-DCT codecs' 255 levels).

The contexts are defined here once (``context_count``, ``contexts_of``,
``anchor_mask``); the coding tables' ``Learned`` kind (``keras_fsq.compression.contexts``)
reads them from here.

The table is stored as ``logits / LOGIT_SCALE``: Adam moves every variable by
about its learning rate per step, and a table of log-probabilities needs
moves of several nats to become peaked; scaled by 10 it gets there in hundreds
of steps instead of thousands, at the transforms' learning rate.

The rate is made differentiable for the encoder by interpolating the
probabilities between grid points at the continuous symbol position ``p``
(``P(p) = sum_k max(0, 1 - |p - k|) P_k``, exact at integers), optionally at
``p + U(-1/2, 1/2)`` (``relaxation="noise"``). The table itself is fitted by
maximum likelihood of the hard symbols (``bits``).
"""

from collections.abc import Sequence
from typing import Any, Optional

import keras
import numpy as np
from keras import ops

from keras_fsq.levels import validate_levels
from keras_fsq.priors.contexts import PRIOR_CONTEXTS as CONTEXTS
from keras_fsq.types import Config, Shape, Tensor
from keras_fsq.validation import positive_int

RELAXATIONS = ("interpolate", "noise")
LOG2 = float(np.log(2.0))
LOGIT_SCALE = 10.0
MAX_TABLE_ENTRIES = 2**24  # 64 MiB of float32 logits


def anchor_mask(height: int, width: int) -> np.ndarray:
    """``(height, width)`` bool array, True at the checkerboard's anchors (``(y + x)`` even), coded first."""
    return (np.add.outer(np.arange(height), np.arange(width)) % 2) == 0


def context_count(context: str, max_level: int, activity_buckets: int) -> int:
    """How many contexts a learned ``context`` has: its prior's table holds one row per context."""
    return {"none": 1, "checkerboard": 1 + max_level * activity_buckets, "activity": 1 + activity_buckets}[context]


def contexts_of(symbols: Tensor, levels: Sequence[int], context: str, activity_buckets: int) -> Tensor:
    """Context index of every symbol of ``symbols`` ``(N, h, w, d)`` under a learned ``context`` (int32)."""
    if context == "none":
        return ops.zeros(ops.shape(symbols), dtype="int32")
    return checkerboard_contexts(symbols, levels, activity_buckets, mean_level=context == "checkerboard")


def checkerboard_contexts(
    symbols: Tensor, levels: Sequence[int], activity_buckets: int, mean_level: bool = True
) -> Tensor:
    """Context index of every position of ``symbols`` ``(N, h, w, d)`` (int32), same shape; 0 at anchors.

    ``1 + m K + b`` (see the module doc), or ``1 + b`` without ``mean_level``.

    Reads only anchors' symbols, so a decoder holding the anchors computes the
    same contexts. Integer arithmetic in ``keras.ops``: identical on every backend.
    """
    level_array = np.asarray(levels, dtype="int32")
    centre = ops.convert_to_tensor((level_array - 1) // 2, dtype="int32")
    symbols = ops.cast(symbols, "int32")
    height, width = symbols.shape[1], symbols.shape[2]
    anchors = ops.convert_to_tensor(anchor_mask(height, width)[None, :, :, None])
    # Relative to the centre, non-anchors and the border zeroed: every neighbour of a
    # non-anchor is an anchor or outside the grid (which then counts as the centre).
    relative = ops.where(anchors, ops.subtract(symbols, centre), 0)
    padded = ops.pad(relative, ((0, 0), (1, 1), (1, 1), (0, 0)))
    neighbours = [padded[:, :-2, 1:-1], padded[:, 2:, 1:-1], padded[:, 1:-1, :-2], padded[:, 1:-1, 2:]]
    level_sum = ops.add(ops.sum(ops.stack(neighbours), axis=0), 4 * centre)
    mean_level_of_neighbours = ops.floor_divide(ops.add(level_sum, 2), 4)
    odd = ops.convert_to_tensor((level_array - 1) % 2, dtype="int32")  # |2 s - (L - 1)| = |2 (s - centre) - odd|
    magnitude = [ops.abs(ops.subtract(ops.multiply(n, 2), odd)) for n in neighbours]
    activity = ops.sum(ops.sum(ops.stack(magnitude), axis=0), axis=-1, keepdims=True)
    bucket = sum(ops.cast(ops.greater_equal(activity, 2**k - 1), "int32") for k in range(1, activity_buckets))
    if mean_level:
        contexts = ops.add(ops.add(ops.multiply(mean_level_of_neighbours, activity_buckets), bucket), 1)
    else:
        contexts = ops.add(ops.multiply(bucket, ops.ones_like(symbols)), 1)
    return ops.where(anchors, 0, contexts)


@keras.saving.register_keras_serializable(package="keras_fsq")
class CategoricalPrior(keras.layers.Layer):
    """Learned ``P_c(symbol | context)`` over the symbols of an FSQ with ``levels``.

    ``call(symbols, positions=None, training=None)`` returns the bits per image
    ``(N,)``: of the hard ``symbols`` ``(N, h, w, d)`` when ``positions`` is
    None, else of the continuous ``positions`` (same shape, float, in
    ``[0, L - 1]``) under the relaxation, with the table held fixed (the
    encoder's rate term).

    Args:
        levels: the FSQ levels.
        context: ``"none"`` (factorized), ``"checkerboard"`` or ``"activity"`` (see the module doc).
        activity_buckets: ``K``, the activity buckets of the checkerboard context.
        relaxation: ``"interpolate"`` or ``"noise"`` (see the module doc).
        seed: of the noise.
    """

    def __init__(
        self,
        levels: Sequence[int],
        context: str = "checkerboard",
        activity_buckets: int = 12,
        relaxation: str = "interpolate",
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.levels = validate_levels(levels, max_codebook_size=None)  # one symbol per level, no flat index
        if context not in CONTEXTS:
            raise ValueError(f"`context` must be one of {CONTEXTS}; received {context!r}.")
        if relaxation not in RELAXATIONS:
            raise ValueError(f"`relaxation` must be one of {RELAXATIONS}; received {relaxation!r}.")
        activity_buckets = positive_int(activity_buckets, "activity_buckets")
        self.context, self.activity_buckets, self.relaxation, self.seed = context, activity_buckets, relaxation, seed
        self.max_level = max(self.levels)
        self.num_contexts = context_count(context, self.max_level, activity_buckets)
        entries = len(self.levels) * self.num_contexts * self.max_level
        if entries > MAX_TABLE_ENTRIES:  # checked before any weight exists: a crafted config cannot allocate it
            raise ValueError(
                f"`levels` ({len(self.levels)} symbols of up to {self.max_level} levels) with context {context!r} "
                f"need a table of {entries} entries; at most {MAX_TABLE_ENTRIES}."
            )
        valid = np.arange(self.max_level)[None, :] < np.asarray(self.levels)[:, None]
        self._invalid = np.where(valid, 0.0, -1e9).astype("float32")[:, None, :]  # (d, 1, max L)
        self.seed_generator = keras.random.SeedGenerator(seed) if relaxation == "noise" else None

    def build(self, input_shape: Shape | None = None) -> None:
        self.scaled_logits = self.add_weight(
            shape=(len(self.levels), self.num_contexts, self.max_level),
            initializer="zeros",
            dtype="float32",
            name="scaled_logits",
        )

    @property
    def logits(self) -> Tensor:
        """``logits[c, k, s]``: ``P_c(s | k) = softmax(logits[c, k, :L_c])``."""
        return ops.multiply(self.scaled_logits, LOGIT_SCALE)

    def log2_probabilities(self) -> Tensor:
        """``log2 P_c(s | k)``, shape ``(d, contexts, max L)``; ``-inf``-like past ``L_c``."""
        return ops.divide(ops.log_softmax(ops.add(self.logits, self._invalid), axis=-1), LOG2)

    def contexts(self, symbols: Tensor) -> Tensor:
        """Context index per position and dimension of ``symbols`` ``(N, h, w, d)``."""
        return contexts_of(symbols, self.levels, self.context, self.activity_buckets)

    def call(self, symbols: Tensor, positions: Tensor | None = None, training: Optional[bool] = None) -> Tensor:
        symbols = ops.cast(symbols, "int32")
        # log2 P_c(s | k) sits at ((c K + k) max L + s) of the flat table: one gather per symbol.
        table = ops.reshape(self.log2_probabilities(), (-1,))
        dims = ops.convert_to_tensor(np.arange(len(self.levels), dtype="int32") * self.num_contexts)
        rows = ops.multiply(ops.add(dims, self.contexts(symbols)), self.max_level)
        if positions is None:
            log2_p = ops.take(table, ops.add(rows, symbols))
        else:
            table = ops.stop_gradient(table)
            positions = ops.cast(positions, "float32")
            top = ops.convert_to_tensor(np.asarray(self.levels, dtype="float32") - 1)
            if training and self.relaxation == "noise":
                noise = keras.random.uniform(ops.shape(positions), -0.5, 0.5, seed=self.seed_generator)
                positions = ops.add(positions, noise)
            positions = ops.clip(positions, 0.0, top)
            # The tent sum_k max(0, 1 - |p - k|) P_k is the linear interpolation between floor(p) and the next level.
            low = ops.floor(positions)
            fraction = ops.subtract(positions, low)
            low = ops.cast(low, "int32")
            high = ops.minimum(ops.add(low, 1), ops.cast(top, "int32"))
            p_low = ops.power(2.0, ops.take(table, ops.add(rows, low)))
            p_high = ops.power(2.0, ops.take(table, ops.add(rows, high)))
            mixed = ops.add(ops.multiply(ops.subtract(1.0, fraction), p_low), ops.multiply(fraction, p_high))
            log2_p = ops.divide(ops.log(ops.maximum(mixed, 1e-12)), LOG2)
        return ops.negative(ops.sum(ops.reshape(log2_p, (ops.shape(log2_p)[0], -1)), axis=-1))

    def compute_output_shape(self, input_shape: Shape) -> Any:
        return (input_shape[0],)

    def get_config(self) -> Config:
        return {
            **super().get_config(),
            "levels": self.levels,
            "context": self.context,
            "activity_buckets": self.activity_buckets,
            "relaxation": self.relaxation,
            "seed": self.seed,
        }


def check_prior(prior: Any, quantizer: Any) -> None:
    """A prior must be a CategoricalPrior over exactly the FSQ's symbols (levels repeated per codebook)."""
    from keras_fsq.quantizers import FSQ

    if not isinstance(prior, CategoricalPrior):
        raise ValueError(
            f"`prior` must be a keras_fsq.priors.learned.CategoricalPrior; received {type(prior).__name__}."
        )
    if type(quantizer) is not FSQ or quantizer.project_in is not None:
        raise ValueError("`prior` needs an FSQ quantizer without projection (dim == num_codebooks * len(levels)).")
    if prior.levels != quantizer.position_alphabet:
        raise ValueError(
            f"`prior` has levels {prior.levels}; the quantizer's symbols have levels {quantizer.position_alphabet}."
        )
