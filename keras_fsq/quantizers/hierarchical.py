"""HierarchicalFSQ: coarse-to-fine residual FSQ stages for progressive decoding."""

import math
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_fsq.quantizers.base import Quantizer
from keras_fsq.quantizers.fsq import FSQ, mixed_radix_basis, validate_ladder
from keras_fsq.types import Config, Shape, Tensor
from keras_fsq.validation import positive_int


@keras.saving.register_keras_serializable(package="keras_fsq")
class HierarchicalFSQ(Quantizer):
    """Residual FSQ: each stage refines the cell the previous stages chose.

    Stage 1 is ``FSQ(L^(1))``. With ``r_0 = bound(z) / (L^(1) // 2)`` (the
    unrounded normalized latent), ``c_1`` its FSQ code and cell width
    ``w_1 = 1 / (L^(1) // 2)``, stage ``k >= 2`` splits the previous cell into
    ``L^(k)`` equal cells and codes the residual's cell centre::

        r_{k-1} = r_0 - sum_{j<k} c_j               |r_{k-1}| <= w_{k-1} / 2
        w_k     = w_{k-1} / L^(k)
        j_k     = clip(floor(r_{k-1} / w_k + L^(k) / 2), 0, L^(k) - 1)   (the stage's level index)
        c_k     = (j_k - (L^(k) - 1) / 2) w_k       (straight-through: value c_k, gradient of r_{k-1})

    so the error after ``k`` stages is at most ``w_k / 2``. The output is
    ``sum_{k <= K} a_k m_k c_k`` with learnable importance weights ``a_k``
    (initially 1) and masks ``m_k``: in training, ``stage_dropout`` of the
    examples keep only a uniformly drawn first ``1..K-1`` stages, so the
    decoder learns to decode every prefix. ``call(z, num_stages=k)`` uses the
    first ``k`` stages; indices have a trailing stage axis (one mixed-radix
    index per stage) and each stage costs ``log2 prod L^(k)`` bits per vector.

    Args:
        stages: list of level lists, coarse first, all of one dimension,
            e.g. ``[[8, 5, 5, 5], [5, 5, 5, 5], [5, 5, 5, 5]]``.
        stage_dropout: fraction of training examples decoded from a random prefix.
        temperature: initial temperature of stage 1's FSQ.
        eps: stage 1's bound margin.
        seed: seed of the stage dropout draws.
    """

    def __init__(
        self,
        stages: Sequence[Sequence[int]],
        stage_dropout: float = 0.5,
        temperature: float = 1.0,
        eps: float = 1e-3,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.stages = validate_ladder(stages, name="stages")
        if not 0 <= stage_dropout <= 1:
            raise ValueError(f"`stage_dropout` must be in [0, 1]; received {stage_dropout}.")
        self.stage_dropout = float(stage_dropout)
        self.eps = float(eps)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        # Stage 1 keeps the seed's quantization loss and level usage (FSQ's own defaults have neither).
        self.first_stage = FSQ(
            self.stages[0], temperature=temperature, eps=eps, loss_weight=1.0, track_usage=True, name="stage_1"
        )
        levels = np.asarray(self.stages, dtype="float32")  # (K, d)
        self._levels = levels
        self._first_half_width = np.floor(levels[0] / 2)
        # w_1 = 1 / (L^(1) // 2);  w_k = w_{k-1} / L^(k)
        refinement = np.concatenate([np.ones((1, levels.shape[1])), np.cumprod(levels[1:], axis=0)])
        self._widths = (1.0 / self._first_half_width / refinement).astype("float32")
        self._bases = [mixed_radix_basis(s) for s in self.stages]
        self._stage_bits = [math.log2(math.prod(s)) for s in self.stages]

    @property
    def num_stages(self) -> int:
        return len(self.stages)

    @property
    def code_dim(self) -> int:
        return len(self.stages[0])

    def schedule_variables(self) -> dict:
        return self.first_stage.schedule_variables()

    @property
    def codebook_size(self) -> int:
        return math.prod(math.prod(s) for s in self.stages)

    def stage_bits(self, num_stages: int | None = None) -> list[float]:
        """Bits per latent vector of each of the first ``num_stages`` stages."""
        return self._stage_bits[: self._check_num_stages(num_stages)]

    def _check_num_stages(self, num_stages: int | None) -> int:
        if num_stages is None:
            return self.num_stages
        return positive_int(num_stages, "num_stages", maximum=self.num_stages)

    def build(self, input_shape: Shape) -> None:
        super().build(input_shape)
        self.first_stage.build(input_shape)
        self.importance = self.add_weight(
            shape=(self.num_stages,), initializer="ones", trainable=True, name="importance"
        )

    def indices_shape(self, input_shape: Shape, num_stages: int | None = None) -> Shape:
        return tuple(input_shape[:-1]) + (self._check_num_stages(num_stages),)

    def quantize_latents(
        self, z: Tensor, training: bool = False, num_stages: int | None = None
    ) -> tuple[Tensor, Tensor]:
        num_stages = self._check_num_stages(num_stages)
        first_codes, first_indices = self.first_stage.quantize_latents(z, training=training)
        residual = ops.divide(self.first_stage.bound(z), self._first_half_width)  # r_0
        stage_codes, stage_indices = [first_codes], [first_indices]
        for k in range(1, num_stages):
            residual = ops.subtract(residual, ops.stop_gradient(stage_codes[-1]))
            codes, indices = self._refine(residual, k)
            stage_codes.append(codes)
            stage_indices.append(indices)
        weights = ops.multiply(self.importance[:num_stages], self._stage_mask(z, num_stages, training))
        output = ops.sum(ops.multiply(ops.stack(stage_codes, axis=-1), ops.expand_dims(weights, -2)), axis=-1)
        return output, ops.stack(stage_indices, axis=-1)

    def _refine(self, residual: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """Stage ``k`` (0-based, >= 1): the centre of the residual's cell and its index."""
        levels, width = self._levels[k], self._widths[k]
        level_index = ops.floor(ops.add(ops.divide(residual, width), levels / 2))
        level_index = ops.minimum(ops.maximum(level_index, 0.0), ops.convert_to_tensor(levels - 1))
        centre = ops.multiply(ops.subtract(level_index, (levels - 1) / 2), width)
        codes = ops.add(residual, ops.stop_gradient(ops.subtract(centre, residual)))
        indices = ops.sum(ops.multiply(ops.cast(level_index, "int32"), self._bases[k]), axis=-1)
        return codes, indices

    def _stage_mask(self, z: Tensor, num_stages: int, training: bool) -> Tensor:
        """``(batch, 1.., num_stages)`` masks: 1 for kept stages; stage dropout in training only."""
        ones = ops.ones((ops.shape(z)[0], num_stages))
        if training and self.stage_dropout > 0 and num_stages > 1:
            batch = ops.shape(z)[0]
            dropped = keras.random.uniform((batch, 1), seed=self.seed_generator) < self.stage_dropout
            kept = 1 + ops.floor(keras.random.uniform((batch, 1), seed=self.seed_generator) * (num_stages - 1))
            prefix = ops.cast(ops.less(ops.arange(num_stages, dtype="float32")[None, :], kept), "float32")
            ones = ops.where(dropped, prefix, ones)
        return ops.reshape(ones, (-1,) + (1,) * (len(z.shape) - 2) + (num_stages,))

    def indices_to_codes(self, indices: Tensor) -> Tensor:
        """Per-stage indices ``(..., k)`` (any prefix of the stages) -> the weighted code sum."""
        indices = ops.cast(indices, "int32")
        num_stages = self._check_num_stages(indices.shape[-1])
        codes = ops.multiply(self.first_stage.indices_to_codes(indices[..., 0]), self.importance[0])
        for k in range(1, num_stages):
            levels = self._levels[k].astype("int32")
            level_index = ops.mod(ops.floor_divide(indices[..., k : k + 1], self._bases[k]), levels)
            offset = ops.subtract(ops.cast(level_index, "float32"), (self._levels[k] - 1) / 2)
            codes = ops.add(codes, ops.multiply(ops.multiply(offset, self._widths[k]), self.importance[k]))
        return codes

    @property
    def alphabet_sizes(self) -> list[int]:
        """The first stage's levels: one index per stage splits into ``d`` symbols (``position_alphabet``
        lists every stage's, the alphabets the codec codes)."""
        return list(self.stages[0])

    @property
    def indices_per_position(self) -> int:
        return self.num_stages

    @property
    def position_alphabet(self) -> list[int]:
        return [levels for stage in self.stages for levels in stage]

    def indices_to_symbols(self, indices: Tensor) -> Tensor:
        """Per-stage indices ``(..., K)`` -> each stage's level indices, ``(..., K, d)``."""
        indices = ops.cast(indices, "int32")
        return ops.stack(
            [
                ops.mod(ops.floor_divide(indices[..., k, None], self._bases[k]), self._levels[k].astype("int32"))
                for k in range(indices.shape[-1])
            ],
            axis=-2,
        )

    def symbols_to_indices(self, symbols: Tensor) -> Tensor:
        """Inverse of ``indices_to_symbols``."""
        symbols = ops.cast(symbols, "int32")
        return ops.stack(
            [ops.sum(ops.multiply(symbols[..., k, :], self._bases[k]), axis=-1) for k in range(symbols.shape[-2])],
            axis=-1,
        )

    def flat_indices(self, indices: Tensor) -> Tensor:
        """Mixed-radix combination of the stage indices (for codebooks < 2^31)."""
        radix = np.cumprod([1] + [math.prod(s) for s in self.stages[:-1]])[: indices.shape[-1]]
        return ops.sum(ops.multiply(ops.cast(indices, "int32"), radix.astype("int32")), axis=-1)

    def bits_per_example(self, indices: Tensor) -> Tensor:
        """``sum_k log2 prod L^(k)`` per latent vector, over the stages present in ``indices``."""
        vectors = math.prod(indices.shape[1:-1])
        bits = vectors * sum(self._stage_bits[: indices.shape[-1]])
        return ops.full((ops.shape(indices)[0],), bits)

    def get_config(self) -> Config:
        config = super().get_config()
        config.update(
            {
                "stages": [list(levels) for levels in self.stages],
                "stage_dropout": self.stage_dropout,
                "temperature": float(ops.convert_to_numpy(self.first_stage.temperature)),
                "eps": self.eps,
                "seed": self.seed,
            }
        )
        return config
