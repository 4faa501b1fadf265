"""Finite scalar quantization (Mentzer et al. 2023)."""

import math
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_fsq.levels import validate_levels
from keras_fsq.quantizers.base import (
    Quantizer,
    backend_constant,
    checked_indices,
    concrete,
    finite_rows,
    histogram,
    straight_through_round,
)
from keras_fsq.types import Config, Shape, Tensor
from keras_fsq.validation import positive_int

TEMPERATURE_MODES = ("bound", "soft", "noise")


def validate_ladder(ladder: Any, name: str = "ladder") -> list[list[int]]:
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


def mixed_radix_basis(levels: Sequence[int]) -> np.ndarray:
    """``cumprod([1, L_1, ..., L_{d-1}])``: index = sum_i level_index_i * basis_i."""
    return np.concatenate([[1], np.cumprod(levels[:-1])]).astype("int32")


@keras.saving.register_keras_serializable(package="keras_fsq")
class FSQ(Quantizer):
    """Finite scalar quantization (Mentzer et al. 2023) with a straight-through estimator.

    For levels ``L = (L_1..L_d)``, ``eps = 1e-3`` and temperature ``T``::

        half_l = (L - 1)(1 - eps) / 2,  offset = 0.5 if L is even else 0
        shift  = atanh(offset / half_l)          # 0 for L = 2, where offset > half_l
        bound(z) = tanh(z / T + shift) * half_l - offset
        z_hat  = round_ste(bound(z))             # integers in [-(L//2), L - 1 - L//2]
        codes  = z_hat / (L // 2)                # in [-1, 1]
        symbol = z_hat + L // 2                  # the level index, in [0, L)
        index  = sum_i symbol_i * basis_i,  basis = cumprod([1, L_1..L_{d-1}])

    A latent vector holding NaN gets index -1 (its codes are NaN): outside
    training and eager, ``call`` raises a ``ValueError`` instead.
    ``indices_to_codes`` refuses indices outside ``[0, codebook_size)``
    (``ValueError``, eager) or clips them (compiled); ``codes_to_indices``
    likewise for codes off the grid.

    With ``preserve_symmetry=True`` the grid is symmetric about 0 for every L
    (levels 2 give {-1, 1}): ``bound(z) = tanh(z / T) (L - 1) / 2``,
    ``symbol = round_ste(bound(z) + (L - 1) / 2)``, ``codes = 2 symbol / (L - 1) - 1``.

    By default this is the FSQ paper's quantizer and nothing else. Options:

    - ``dim``: the input channels; when ``dim != num_codebooks * d``, Dense
      projections map them in and the codes back out.
    - ``num_codebooks``: channels split into that many groups of ``d``, each
      quantized with the same levels; indices gain a trailing axis of that size.
    - ``noise_dropout``: in training, a fraction of the latents take
      ``bound(z) + u``, ``u ~ U(-1/2, 1/2)``, instead of their rounded value
      (the indices always come from rounding).
    - ``loss_weight > 0`` adds the part of the seed paper's quantization loss
      that has a gradient (in inference too, so ``evaluate`` reports it)::

          loss_weight * (-entropy_weight * H)

      with ``H`` the mean entropy (nats) of the batch's soft level assignment
      of ``z_b = bound(z)`` per dimension. The seed's commitment terms
      ``(MSE(z_b, sg(z_hat)) + MSE(sg(z_b), z_hat)) / T`` are left out: under the
      identity STE their gradients cancel exactly, so they would only make the
      reported loss grow as ``T`` falls without changing training.
    - ``track_usage=True`` keeps an EMA (``usage_decay``) of each dimension's
      level usage in ``level_usage``, shape ``(d, max(L))`` (the codec's default
      prior and ``usage_perplexity`` read it).

    Temperature ``T``, a non-trainable variable that callbacks anneal, means
    one of three things (``temperature_mode``):

    - ``"bound"`` (the seed paper's reading): ``T`` divides ``z`` inside the
      ``tanh`` as above; ``T = 1`` is the FSQ paper's quantizer at every step.
    - ``"soft"`` (soft-to-hard): ``T`` is quantization hardness. In training
      each latent takes ``sum_k softmax_k(-(p - g_k)^2 / T) g_k`` over its grid
      points ``g`` (``p`` = ``bound(z)`` with ``T = 1``): differentiable, close
      to the mean of the grid at large ``T``, rounding as ``T -> 0``. Inference rounds.
    - ``"noise"`` (noise-to-rounding): in training a fraction ``min(T, 1)``
      of latents take ``bound(z) + U(-1/2, 1/2)``, the rest are rounded
      (straight-through); annealing ``T`` to 0 ends in plain rounding.

    Inputs are
    channels-last of any rank, or ``(batch, channels, ...)`` with
    ``data_format="channels_first"``.

    Precision: under a mixed policy (``mixed_bfloat16``, ``mixed_float16``) the inputs are cast
    to float32 and the bound, rounding and indices are computed there (bfloat16's 8 significant
    bits cannot hold a 2^16 codebook's flat index); only the codes go back out in the compute
    dtype, where every grid value ``k / (L // 2)`` is exact. Indices equal float32's on the same
    inputs and every code stays reachable (``tests/test_mixed_precision.py``).

    Args:
        levels: list of ints >= 2, one per latent dimension.
        dim: input channels (default ``num_codebooks * len(levels)``: no projection).
        num_codebooks: number of channel groups sharing the levels.
        use_projection_bias: whether the projections have a bias.
        preserve_symmetry: the grid symmetric about 0 (see above).
        noise_dropout: fraction of latents, in [0, 1], given uniform noise instead of rounding in training.
        temperature: initial temperature ``T``, finite and > 0.
        temperature_mode: what ``T`` does (see "Temperature" above): ``"bound"``,
            ``"soft"`` or ``"noise"``.
        eps: the bound's margin, 1e-3 as in the FSQ paper; below ``1 / (max(L) - 1)``
            so the bound still reaches every level.
        loss_weight: weight of the seed's quantization loss; 0 (default) adds none.
        entropy_weight: lambda of its entropy bonus.
        track_usage: keep the level-usage EMA.
        usage_decay: EMA decay of level usage, in [0, 1).
        seed: seed of the noise dropout's random draws.
        **kwargs: ``data_format`` (``"channels_last"``, the default, or ``"channels_first"``) and
            the arguments of ``keras.layers.Layer`` (``name``, ``dtype``).
    """

    def __init__(
        self,
        levels: Sequence[int],
        dim: int | None = None,
        num_codebooks: int = 1,
        use_projection_bias: bool = True,
        preserve_symmetry: bool = False,
        noise_dropout: float = 0.0,
        temperature: float = 1.0,
        temperature_mode: str = "bound",
        eps: float = 1e-3,
        loss_weight: float = 0.0,
        entropy_weight: float = 0.1,
        track_usage: bool = False,
        usage_decay: float = 0.99,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.levels = validate_levels(levels)
        # A plain int, read on the hot path: Keras tracks ``self.levels`` as a wrapped list, which
        # torch.compile cannot trace through (a graph break per call).
        self._codebook_size = math.prod(self.levels)
        for name, value in (("num_codebooks", num_codebooks), ("dim", num_codebooks if dim is None else dim)):
            positive_int(value, name)
        if not 0 < temperature < math.inf:
            raise ValueError(f"`temperature` must be finite and > 0; received {temperature}.")
        # The extreme levels +-(L//2) are reached while half_l - offset > L//2 - offset - 1/2,
        # i.e. (L - 1) eps < 1: a larger eps merges them into their neighbours.
        if not 0 <= eps < 1 / (max(self.levels) - 1):
            raise ValueError(
                f"`eps` must be in [0, 1 / (max(levels) - 1)) = [0, {1 / (max(self.levels) - 1):.4g}) so every level "
                f"stays reachable; received {eps}."
            )
        for option, number in (("entropy_weight", entropy_weight), ("loss_weight", loss_weight)):
            if not math.isfinite(number):
                raise ValueError(f"`{option}` must be a finite number; received {number}.")
        if not 0 <= noise_dropout <= 1:
            raise ValueError(f"`noise_dropout` must be in [0, 1]; received {noise_dropout}.")
        if temperature_mode not in TEMPERATURE_MODES:
            raise ValueError(f"`temperature_mode` must be one of {TEMPERATURE_MODES}; received {temperature_mode!r}.")
        if temperature_mode == "noise" and noise_dropout:
            raise ValueError(
                "`noise_dropout` must be 0 with temperature_mode='noise' (the temperature sets the noise rate)."
            )
        if not 0 <= usage_decay < 1:
            raise ValueError(f"`usage_decay` must be in [0, 1); received {usage_decay}.")
        self.num_codebooks = int(num_codebooks)
        self.dim = int(dim) if dim is not None else self.num_codebooks * len(self.levels)
        self.use_projection_bias = bool(use_projection_bias)
        self.preserve_symmetry = bool(preserve_symmetry)
        self.noise_dropout = float(noise_dropout)
        self.temperature_mode = temperature_mode
        self.eps = float(eps)
        self.loss_weight = float(loss_weight)
        self.entropy_weight = float(entropy_weight)
        self.track_usage = bool(track_usage)
        self.usage_decay = float(usage_decay)
        self.seed = seed
        self.seed_generator = (
            keras.random.SeedGenerator(seed) if self.noise_dropout or temperature_mode == "noise" else None
        )

        levels_np = np.asarray(self.levels, dtype="float32")
        # Rounding happens on v = tanh(z / T + shift) * half_l + round_offset; then
        # codes = round(v) * scale + code_shift and symbols = round(v) + symbol_shift.
        if self.preserve_symmetry:
            half_l, offset, shift = (levels_np - 1) / 2, np.zeros_like(levels_np), np.zeros_like(levels_np)
            round_offset, scale, code_shift, symbol_shift = (
                (levels_np - 1) / 2,
                2 / (levels_np - 1),
                -1.0,
                0 * levels_np,
            )
        else:
            half_l = (levels_np - 1) * (1 - self.eps) / 2
            offset = np.where(levels_np % 2 == 0, 0.5, 0.0).astype("float32")
            # For L = 2, offset (0.5) exceeds half_l and atanh is undefined; shift 0
            # puts the boundary between the two levels at z = 0, symmetric as wanted.
            shift = np.arctanh(np.where(offset < half_l, offset / half_l, 0.0))
            round_offset, symbol_shift = -offset, np.floor(levels_np / 2)
            scale, code_shift = 1 / symbol_shift, 0.0
        # Grid points of each dimension in symbol units, shape (d, max L). Entries past
        # L_i are padding at 3 max L + 10, over 2 max L + 10 from every position
        # (in [-1/2, L - 1/2]): their softmax weight underflows to exactly 0.
        max_level = max(self.levels)
        valid_levels = np.arange(max_level)[None, :] < levels_np[:, None]
        grid = np.where(valid_levels, np.arange(max_level, dtype="float32")[None, :], 3 * max_level + 10)
        self._uniform_usage = (valid_levels / levels_np[:, None]).astype("float32")
        self._levels = backend_constant(levels_np.astype("int32"))
        self._half_l = backend_constant(half_l.astype("float32"))
        self._offset = backend_constant(offset.astype("float32"))
        self._shift = backend_constant(shift.astype("float32"))
        self._round_offset = backend_constant(round_offset.astype("float32"))
        self._scale = backend_constant(scale.astype("float32"))
        self._code_shift = code_shift
        self._symbol_shift = backend_constant(symbol_shift.astype("float32"))
        basis = mixed_radix_basis(self.levels)
        self._index_shift = int((symbol_shift * basis).sum())
        self._basis = backend_constant(basis)
        self._float_basis = backend_constant(basis.astype("float32"))
        self._grid = backend_constant(grid.astype("float32"))
        self._usage_offsets = backend_constant((np.arange(len(self.levels)) * max_level).astype("int32"))

        self.temperature = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(float(temperature)),
            trainable=False,
            dtype="float32",
            autocast=False,  # a layer under a mixed policy still divides by the float32 temperature
            name="temperature",
        )
        self.project_in: keras.layers.Dense | None = None
        self.project_out: keras.layers.Dense | None = None
        if self.dim != self.num_codebooks * len(self.levels):
            self.project_in = keras.layers.Dense(
                self.num_codebooks * len(self.levels),
                use_bias=self.use_projection_bias,
                dtype=self.dtype_policy,
                name="project_in",
            )
            self.project_out = keras.layers.Dense(
                self.dim, use_bias=self.use_projection_bias, dtype=self.dtype_policy, name="project_out"
            )

    @property
    def code_dim(self) -> int:
        return self.dim

    @property
    def codebook_size(self) -> int:
        return self._codebook_size

    @property
    def indices_per_position(self) -> int:
        """One index per codebook."""
        return self.num_codebooks

    @property
    def alphabet_sizes(self) -> list[int]:
        """The number of values each symbol of ``indices_to_symbols`` takes: ``levels``."""
        return list(self.levels)

    def schedule_variables(self) -> dict:
        return {"temperature": self.temperature}

    def indices_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape[:-1]) + ((self.num_codebooks,) if self.num_codebooks > 1 else ())

    def build(self, input_shape: Shape) -> None:
        super().build(input_shape)
        if self.project_in is not None and self.project_out is not None:
            shape = self.channels_last_shape(input_shape)
            self.project_in.build(shape)
            self.project_out.build(tuple(shape[:-1]) + (self.num_codebooks * len(self.levels),))
        if self.track_usage:
            self.level_usage = self.add_weight(
                shape=self._uniform_usage.shape,
                initializer=keras.initializers.Constant(self._uniform_usage),
                trainable=False,
                dtype="float32",
                name="level_usage",
            )

    # The hot path below uses the tensors' own operators on float32 tensors and constants of the backend
    # (``backend_constant``): a ``keras.ops`` call converts and checks every operand first, which eager
    # torch pays for on each op (about 10 us of a small batch's 350 us forward and backward).
    def _pre_activation(self, z: Tensor) -> Tensor:
        """``z / T + shift`` when the temperature acts in the bound, else ``z + shift``."""
        if self.temperature_mode == "bound":
            z = z / self.temperature.value  # float32 under any policy (created with autocast=False)
        return z + self._shift

    def bound(self, z: Tensor) -> Tensor:
        """``tanh(z / T + shift) * half_l - offset``: the latents in grid units, centred on 0."""
        return ops.tanh(self._pre_activation(z)) * self._half_l - self._offset

    def _value(self, z: Tensor) -> Tensor:
        """Grid values ``v`` of latents ``z`` (after any projection).

        ``round(v)`` is the level, ``v + symbol_shift`` the symbol position.
        """
        if self.project_in is not None:
            z = ops.cast(self.project_in(z), "float32")
        if self.num_codebooks > 1:
            z = ops.reshape(z, tuple(ops.shape(z)[:-1]) + (self.num_codebooks, len(self.levels)))
        return ops.tanh(self._pre_activation(z)) * self._half_l + self._round_offset

    def symbol_positions(self, z: Tensor) -> Tensor:
        """Continuous symbol positions of latents ``z``, in ``[0, L - 1]``: the symbol is their rounding."""
        return ops.add(self._value(z), self._symbol_shift)

    def quantize_latents(self, z: Tensor, training: bool = False) -> tuple[Tensor, Tensor]:
        value = self._value(z)
        rounded = straight_through_round(value)
        indices = self._flat_index(ops.stop_gradient(rounded))
        if training and self.track_usage:
            self._update_level_usage(ops.cast(ops.add(rounded, self._symbol_shift), "int32"), value)
        if training and self.temperature_mode == "soft":
            rounded = self._soft_round(value)
        elif training and self.temperature_mode == "noise":
            rounded = self._noise_dropout(value, rounded, ops.minimum(self.temperature, 1.0))
        elif training and self.noise_dropout:
            rounded = self._noise_dropout(value, rounded, self.noise_dropout)
        if self.loss_weight:  # also outside training, so evaluate() reports it
            positions = ops.add(value, self._symbol_shift)  # symbol units, as the loss's grid
            self.add_loss(self.loss_weight * self.quantization_loss(positions))
        return self._codes_out(self._rounded_to_codes(rounded)), indices

    def _rounded_to_codes(self, rounded: Tensor) -> Tensor:
        codes = rounded * self._scale
        return codes + self._code_shift if self._code_shift else codes

    def _flat_index(self, rounded: Tensor) -> Tensor:
        """``sum_i symbol_i basis_i`` as int32, from the rounded values (symbols minus ``symbol_shift``).

        Summed in float32 (exact while the codebook has at most 2^24 codes) and
        cast once: cheaper than casting every symbol first; the constant
        ``sum_i symbol_shift_i basis_i`` is added before the cast. Larger codebooks sum in int32.
        A latent vector holding NaN has no level: index -1 (never a valid one), read from the float
        sum, which is NaN exactly then (one test per vector, not per dimension).
        """
        if self.codebook_size <= 2**24:
            flat = ops.matmul(rounded, self._float_basis)  # one product and sum: exact for integers < 2^24
            if self._index_shift:
                flat = flat + float(self._index_shift)
            return ops.where(ops.isnan(flat), -1, ops.cast(flat, "int32"))
        invalid = ops.any(ops.isnan(rounded), axis=-1)
        flat = ops.sum(ops.multiply(ops.cast(rounded, "int32"), self._basis), axis=-1)
        flat = ops.add(flat, self._index_shift) if self._index_shift else flat
        return ops.where(invalid, -1, flat)

    def _noise_dropout(self, value: Tensor, rounded: Tensor, rate: float) -> Tensor:
        """``value + U(-1/2, 1/2)`` instead of ``rounded`` for a fraction ``rate`` of latents."""
        shape = ops.shape(value)
        noisy = ops.add(value, keras.random.uniform(shape, -0.5, 0.5, seed=self.seed_generator))
        chosen = ops.less(keras.random.uniform(shape, seed=self.seed_generator), rate)
        return ops.where(chosen, noisy, rounded)

    def _soft_round(self, value: Tensor) -> Tensor:
        """``sum_k softmax_k(-(p - g_k)^2 / T) g_k`` over the grid ``g`` of each dimension.

        ``p``: ``value`` in symbol units.

        Differentiable; tends to ``round(value)`` as ``T -> 0``. Padding points of
        shorter dimensions lie far off the grid: their weight is exactly 0.
        """
        position = ops.add(value, self._symbol_shift)[..., None]
        weights = ops.softmax(
            ops.divide(ops.negative(ops.square(ops.subtract(position, self._grid))), self.temperature), axis=-1
        )
        soft = ops.sum(ops.multiply(weights, self._grid), axis=-1)
        return ops.subtract(soft, self._symbol_shift)

    def _codes_out(self, codes: Tensor) -> Tensor:
        """Grid codes ``(..., [num_codebooks,] d)`` -> the layer's output ``(..., dim)``."""
        if self.num_codebooks > 1:
            codes = ops.reshape(codes, tuple(ops.shape(codes)[:-2]) + (self.num_codebooks * len(self.levels),))
        if self.project_out is not None:
            codes = ops.cast(self.project_out(codes), "float32")
        return codes

    def quantization_loss(self, position: Tensor) -> Tensor:
        """``-entropy_weight * H`` of ``position`` (symbol units; see the class doc)."""
        return -self.entropy_weight * self.soft_entropy(position)

    def soft_entropy(self, position: Tensor) -> Tensor:
        """Mean over dimensions of H(mean_batch softmax(-(position - grid)^2)), ``position`` in symbol units.

        Padding points of a dimension with fewer levels lie far off the grid
        (see ``__init__``), so their softmax weight and its gradient are 0.
        """
        flat = ops.reshape(position, (-1, len(self.levels), 1))
        probs = ops.mean(ops.softmax(ops.negative(ops.square(ops.subtract(flat, self._grid))), axis=-1), axis=0)
        return ops.mean(-ops.sum(probs * ops.log(probs + 1e-10), axis=-1))

    def _update_level_usage(self, level_index: Tensor, position: Tensor) -> None:
        """EMA of each dimension's level histogram, counted once over ``dim * max(L) + level``.

        Latent vectors holding NaN or inf are left out of the count (and a batch of
        nothing else leaves the EMA unchanged).
        """
        max_level = max(self.levels)
        finite = finite_rows(position)
        weights = ops.broadcast_to(finite[..., None], ops.shape(level_index))
        counts = histogram(ops.add(level_index, self._usage_offsets), len(self.levels) * max_level, weights)
        vectors = ops.sum(finite)
        batch_usage = ops.reshape(counts, (len(self.levels), max_level)) / ops.maximum(vectors, 1.0)
        rate = ops.where(vectors > 0, 1 - self.usage_decay, 0.0)
        self.level_usage.assign(self.level_usage + rate * (batch_usage - self.level_usage))

    def usage_perplexity(self) -> Tensor:
        """Per-dimension perplexity exp(H) of the EMA level usage, shape (d,)."""
        if not self.track_usage:
            raise ValueError("This FSQ keeps no level usage; create it with `track_usage=True`.")
        p = self.level_usage
        return ops.exp(-ops.sum(ops.where(p > 0, p * ops.log(p + 1e-10), 0.0), axis=-1))

    def indices_to_symbols(self, indices: Tensor) -> Tensor:
        """Flat indices -> per-dimension level indices (symbols) in ``[0, L_i)``, shape ``indices.shape + (d,)``."""
        return ops.mod(ops.floor_divide(ops.cast(indices, "int32")[..., None], self._basis), self._levels)

    def symbols_to_indices(self, symbols: Tensor) -> Tensor:
        """Inverse of ``indices_to_symbols``."""
        return ops.sum(ops.multiply(ops.cast(symbols, "int32"), self._basis), axis=-1)

    def codes_to_indices(self, codes: Tensor) -> Tensor:
        """Map grid codes (as ``quantize_latents`` makes them, before any projection) to int32 indices.

        Codes off the grid (more than 1e-3 of a step from a grid point, or past the
        outer levels) are a ``ValueError`` where their values are visible (eager);
        inside a compiled function they go to the nearest grid point.
        """
        value = ops.divide(ops.subtract(ops.cast(codes, "float32"), self._code_shift), self._scale)
        symbols = ops.add(ops.round(value), self._symbol_shift)
        off_grid = ops.logical_or(
            ops.greater(ops.max(ops.abs(ops.subtract(value, ops.round(value)))), 1e-3),
            ops.logical_or(ops.less(ops.min(symbols), 0), ops.any(ops.greater_equal(symbols, self._levels))),
        )
        if 0 not in tuple(value.shape) and concrete(off_grid):
            raise ValueError(f"`codes` must lie on the grid of levels {self.levels}; some do not.")
        top = ops.cast(ops.subtract(self._levels, 1), "float32")
        return self.symbols_to_indices(ops.minimum(ops.maximum(symbols, 0.0), top))

    def _symbols_to_codes(self, symbols: Tensor) -> Tensor:
        return self._rounded_to_codes(ops.subtract(ops.cast(symbols, "float32"), self._symbol_shift))

    def indices_to_codes(self, indices: Tensor) -> Tensor:
        """Exact inverse of the quantizer's indices: the layer's output for them.

        Shape ``indices_shape`` + ``(dim,)``.
        """
        indices = checked_indices(indices, self.codebook_size)
        return self._codes_out(self._symbols_to_codes(self.indices_to_symbols(indices)))

    def implicit_codebook(self) -> Tensor:
        """All ``prod(L)`` grid codes (before any projection), row ``i`` being the code of index ``i``."""
        return self._symbols_to_codes(self.indices_to_symbols(ops.arange(self.codebook_size, dtype="int32")))

    def get_config(self) -> Config:
        config = super().get_config()
        config.update(
            {
                "levels": list(self.levels),
                "dim": self.dim,
                "num_codebooks": self.num_codebooks,
                "use_projection_bias": self.use_projection_bias,
                "preserve_symmetry": self.preserve_symmetry,
                "noise_dropout": self.noise_dropout,
                "temperature": float(ops.convert_to_numpy(self.temperature)),
                "temperature_mode": self.temperature_mode,
                "eps": self.eps,
                "loss_weight": self.loss_weight,
                "entropy_weight": self.entropy_weight,
                "track_usage": self.track_usage,
                "usage_decay": self.usage_decay,
                "seed": self.seed,
            }
        )
        return config

    @classmethod
    def from_config(cls, config: Config) -> "FSQ":
        config = dict(config)
        # keras_fsq 0.1.0 always kept level usage (and saved it); its configs have no track_usage.
        config.setdefault("track_usage", "usage_decay" in config)
        return cls(**config)
