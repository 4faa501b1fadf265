"""Finite scalar quantization (Mentzer et al. 2023)."""

import math
import numbers

import keras
import numpy as np
from keras import ops

from keras_fsq.quantizers.base import Quantizer, backend_constant, finite_rows, histogram, straight_through_round

MAX_INDEX = 2**31 - 1  # indices are int32 on every backend


def validate_levels(levels, name="levels"):
    """Return ``levels`` as a list of ints >= 2, or raise ``ValueError``."""
    if isinstance(levels, (str, bytes)) or not hasattr(levels, "__iter__"):
        raise ValueError(f"`{name}` must be a list of integers >= 2; received {levels!r}.")
    levels = list(levels)
    if not levels:
        raise ValueError(f"`{name}` must not be empty.")
    for level in levels:
        if isinstance(level, bool) or not isinstance(level, numbers.Integral):
            raise ValueError(f"`{name}` must hold integers; received {levels!r}.")
        if level < 2:
            raise ValueError(f"Every entry of `{name}` must be >= 2; received {levels!r}.")
    if math.prod(levels) > MAX_INDEX:
        raise ValueError(
            f"`{name}`={levels!r} gives a codebook of {math.prod(levels)} codes, "
            f"more than int32 indices can address ({MAX_INDEX})."
        )
    return [int(level) for level in levels]


def validate_ladder(ladder, name="ladder"):
    """Return ``ladder`` as a list of >= 1 level lists of one dimension, or raise ``ValueError``."""
    if isinstance(ladder, (str, bytes)) or not hasattr(ladder, "__iter__"):
        raise ValueError(f"`{name}` must be a list of level lists, e.g. [[3, 3], [8, 8]]; received {ladder!r}.")
    rungs = [validate_levels(levels, name=f"{name}[{r}]") for r, levels in enumerate(ladder)]
    if not rungs:
        raise ValueError(f"`{name}` must not be empty.")
    dims = {len(levels) for levels in rungs}
    if len(dims) > 1:
        raise ValueError(f"Every rung of `{name}` must have the same number of dimensions; received {rungs!r}.")
    return rungs


def mixed_radix_basis(levels):
    """``cumprod([1, L_1, ..., L_{d-1}])``: index = sum_i level_index_i * basis_i."""
    return np.concatenate([[1], np.cumprod(levels[:-1])]).astype("int32")


@keras.saving.register_keras_serializable(package="keras_fsq")
class FSQ(Quantizer):
    """Finite scalar quantization with a straight-through estimator.

    For levels ``L = (L_1..L_d)`` and ``eps = 1e-3``::

        half_l = (L - 1)(1 - eps) / 2
        offset = 0.5 if L is even else 0
        shift  = atanh(offset / half_l)          # 0 for L = 2, where offset > half_l
        bound(z) = tanh(z / T + shift) * half_l - offset
        z_hat  = round_ste(bound(z))            # integers in [-(L//2), L - 1 - L//2]
        codes  = z_hat / (L // 2)               # in [-1, 1]
        index  = sum_i (z_hat_i + L_i // 2) * basis_i,  basis = cumprod([1, L_1..L_{d-1}])

    The codebook is implicit, of size ``prod(L)``. ``T`` is the temperature,
    a non-trainable variable that callbacks anneal.

    Each call adds ``loss_weight`` times the quantization loss (in
    inference too, so ``evaluate`` reports it)::

        (MSE(z_b, sg(z_hat)) + MSE(sg(z_b), z_hat)) / T - entropy_weight * H

    with ``z_b = bound(z)`` and ``H`` the mean entropy (nats) of the batch's
    soft level assignment per dimension. Under the identity STE the two MSE
    terms' gradients cancel exactly; only the entropy bonus shapes training.
    The MSE part is still reported, as a measure of rounding distortion.

    An EMA (``usage_decay``) of each dimension's level usage is kept in
    ``level_usage``, shape ``(d, max(L))``.

    Args:
        levels: list of ints >= 2, one per latent dimension.
        temperature: initial temperature ``T``, finite and > 0.
        eps: the bound's margin, 1e-3 as in the FSQ paper; below ``1 / (max(L) - 1)``
            so the bound still reaches every level.
        entropy_weight: lambda of the entropy bonus.
        loss_weight: weight of the quantization loss; 0 adds none.
        usage_decay: EMA decay of level usage, in [0, 1).
    """

    def __init__(
        self,
        levels,
        temperature=1.0,
        eps=1e-3,
        entropy_weight=0.1,
        loss_weight=1.0,
        usage_decay=0.99,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.levels = validate_levels(levels)
        if not 0 < temperature < math.inf:
            raise ValueError(f"`temperature` must be finite and > 0; received {temperature}.")
        # The extreme levels +-(L//2) are reached while half_l - offset > L//2 - offset - 1/2,
        # i.e. (L - 1) eps < 1: a larger eps merges them into their neighbours.
        if not 0 <= eps < 1 / (max(self.levels) - 1):
            raise ValueError(
                f"`eps` must be in [0, 1 / (max(levels) - 1)) = [0, {1 / (max(self.levels) - 1):.4g}) so every level "
                f"stays reachable; received {eps}."
            )
        for name, value in (("entropy_weight", entropy_weight), ("loss_weight", loss_weight)):
            if not math.isfinite(value):
                raise ValueError(f"`{name}` must be a finite number; received {value}.")
        if not 0 <= usage_decay < 1:
            raise ValueError(f"`usage_decay` must be in [0, 1); received {usage_decay}.")
        self.eps = float(eps)
        self.entropy_weight = float(entropy_weight)
        self.loss_weight = float(loss_weight)
        self.usage_decay = float(usage_decay)

        levels_np = np.asarray(self.levels, dtype="float32")
        half_width = np.floor(levels_np / 2)
        half_l = (levels_np - 1) * (1 - self.eps) / 2
        offset = np.where(levels_np % 2 == 0, 0.5, 0.0).astype("float32")
        # For L = 2, offset (0.5) exceeds half_l and atanh is undefined; shift 0
        # puts the boundary between the two levels at z = 0, symmetric as wanted.
        shift = np.arctanh(np.where(offset < half_l, offset / half_l, 0.0)).astype("float32")
        # Grid points of each dimension, shape (d, max L). Entries past L_i are
        # padding at 2 max L + 10, over 1.5 max L + 10 from every bounded value
        # (|z_b| <= L / 2): their softmax weight underflows to exactly 0.
        max_level = max(self.levels)
        valid_levels = np.arange(max_level)[None, :] < levels_np[:, None]
        grid = np.arange(max_level, dtype="float32")[None, :] - half_width[:, None]
        grid = np.where(valid_levels, grid, 2 * max_level + 10).astype("float32")
        self._uniform_usage = (valid_levels / levels_np[:, None]).astype("float32")
        self._levels = backend_constant(levels_np.astype("int32"))
        self._half_width = backend_constant(half_width)
        self._half_l = backend_constant(half_l)
        self._offset = backend_constant(offset)
        self._shift = backend_constant(shift)
        self._basis = backend_constant(mixed_radix_basis(self.levels))
        self._grid = backend_constant(grid)
        self._usage_offsets = backend_constant((np.arange(len(self.levels)) * max_level).astype("int32"))

        self.temperature = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(float(temperature)),
            trainable=False,
            dtype="float32",
            name="temperature",
        )

    @property
    def code_dim(self):
        return len(self.levels)

    @property
    def codebook_size(self):
        return math.prod(self.levels)

    def build(self, input_shape):
        super().build(input_shape)
        self.level_usage = self.add_weight(
            shape=self._uniform_usage.shape,
            initializer=keras.initializers.Constant(self._uniform_usage),
            trainable=False,
            dtype="float32",
            name="level_usage",
        )

    def bound(self, z):
        """``tanh(z / T + shift) * half_l - offset``, in grid units."""
        pre_activation = ops.add(ops.divide(z, self.temperature), self._shift)
        return ops.subtract(ops.multiply(ops.tanh(pre_activation), self._half_l), self._offset)

    def quantize_latents(self, z, training=False):
        bounded = self.bound(z)
        z_hat = straight_through_round(bounded)
        codes = ops.divide(z_hat, self._half_width)
        level_index = ops.cast(ops.add(z_hat, self._half_width), "int32")
        indices = ops.sum(ops.multiply(level_index, self._basis), axis=-1)
        if training:
            self._update_level_usage(level_index, bounded)
        if self.loss_weight:  # also outside training, so evaluate() reports it
            self.add_loss(self.loss_weight * self.quantization_loss(bounded, z_hat))
        return codes, indices

    def quantization_loss(self, bounded, z_hat):
        """Commitment terms over ``T`` minus ``entropy_weight`` times the entropy."""
        sg = ops.stop_gradient
        mse = ops.mean(ops.square(bounded - sg(z_hat))) + ops.mean(ops.square(sg(bounded) - z_hat))
        return mse / self.temperature - self.entropy_weight * self.soft_entropy(bounded)

    def soft_entropy(self, bounded):
        """Mean over dimensions of H(mean_batch softmax(-(z_b - grid)^2)).

        Padding points of a dimension with fewer levels lie far off the grid
        (see ``__init__``), so their softmax weight and its gradient are 0.
        """
        flat = ops.reshape(bounded, (-1, self.code_dim, 1))
        probs = ops.mean(ops.softmax(ops.negative(ops.square(ops.subtract(flat, self._grid))), axis=-1), axis=0)
        return ops.mean(-ops.sum(probs * ops.log(probs + 1e-10), axis=-1))

    def _update_level_usage(self, level_index, bounded):
        """EMA of each dimension's level histogram, counted once over ``dim * max(L) + level``.

        Latent vectors holding NaN or inf are left out of the count (and a batch of
        nothing else leaves the EMA unchanged).
        """
        max_level = max(self.levels)
        finite = finite_rows(bounded)
        weights = ops.broadcast_to(finite[..., None], ops.shape(level_index))
        counts = histogram(ops.add(level_index, self._usage_offsets), self.code_dim * max_level, weights)
        vectors = ops.sum(finite)
        batch_usage = ops.reshape(counts, (self.code_dim, max_level)) / ops.maximum(vectors, 1.0)
        rate = ops.where(vectors > 0, 1 - self.usage_decay, 0.0)
        self.level_usage.assign(self.level_usage + rate * (batch_usage - self.level_usage))

    def usage_perplexity(self):
        """Per-dimension perplexity exp(H) of the EMA level usage, shape (d,)."""
        p = self.level_usage
        return ops.exp(-ops.sum(ops.where(p > 0, p * ops.log(p + 1e-10), 0.0), axis=-1))

    def codes_to_indices(self, codes):
        """Map codes on the grid (``z_hat / (L // 2)``) to int32 indices."""
        level_index = ops.round(ops.multiply(ops.cast(codes, "float32") + 1.0, self._half_width))
        return ops.sum(ops.multiply(ops.cast(level_index, "int32"), self._basis), axis=-1)

    def indices_to_codes(self, indices):
        """Exact inverse of ``codes_to_indices``; output shape ``indices.shape + (d,)``."""
        indices = ops.cast(indices, "int32")[..., None]
        level_index = ops.mod(ops.floor_divide(indices, self._basis), self._levels)
        return ops.divide(ops.subtract(ops.cast(level_index, "float32"), self._half_width), self._half_width)

    def implicit_codebook(self):
        """All ``prod(L)`` codes, row ``i`` being the code of index ``i``."""
        return self.indices_to_codes(ops.arange(self.codebook_size, dtype="int32"))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "levels": list(self.levels),
                "temperature": float(ops.convert_to_numpy(self.temperature)),
                "eps": self.eps,
                "entropy_weight": self.entropy_weight,
                "loss_weight": self.loss_weight,
                "usage_decay": self.usage_decay,
            }
        )
        return config
