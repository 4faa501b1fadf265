"""The VQ-VAE baseline: a nearest-neighbour codebook updated by EMA."""

import math
from typing import Any

import keras
from keras import ops

from keras_fsq.quantizers.base import Quantizer, checked_indices, finite_rows, histogram
from keras_fsq.types import Config, Shape, Tensor
from keras_fsq.validation import positive_int


@keras.saving.register_keras_serializable(package="keras_fsq")
class VectorQuantizer(Quantizer):
    """Vector quantization with an exponential-moving-average codebook.

    For latents ``z`` (flattened to rows) and codebook ``e_1..e_K``::

        k(z)  = argmin_i ||z - e_i||^2,     codes = z + sg(e_k - z)   (straight through)
        N_i  <- gamma N_i + (1 - gamma) n_i          n_i: rows assigned to i in the batch
        m_i  <- gamma m_i + (1 - gamma) sum_{k(z)=i} z
        e_i   = m_i / N~_i,   N~_i = (N_i + eps) / (sum N + K eps) * sum N   (Laplace smoothing)

    Each call adds ``commitment_weight * MSE(z, sg(e_k))`` (reported by
    ``evaluate`` too); only training updates the codebook. A code whose EMA
    count ``N_i`` falls below ``dead_code_threshold`` is restarted on a random
    latent of the batch. The codebook is not trained by gradients. Rows
    holding NaN or inf are left out of the EMA update.

    Args:
        codebook_size: number of codes K.
        code_dim: dimension d of each code.
        decay: EMA decay gamma in [0, 1).
        eps: Laplace smoothing epsilon.
        commitment_weight: beta of the commitment loss.
        dead_code_threshold: EMA count under which a code is restarted; 0 disables.
        seed: seed of the restarts' random choices.
    """

    def __init__(
        self,
        codebook_size: int,
        code_dim: int,
        decay: float = 0.99,
        eps: float = 1e-6,
        commitment_weight: float = 0.25,
        dead_code_threshold: float = 0.03,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        for name, value in (("codebook_size", codebook_size), ("code_dim", code_dim)):
            positive_int(value, name)
        if not 0 <= decay < 1:
            raise ValueError(f"`decay` must be in [0, 1); received {decay}.")
        if not 0 <= eps < math.inf:
            raise ValueError(f"`eps` must be finite and >= 0 (Laplace smoothing); received {eps}.")
        for option, number in (
            ("commitment_weight", commitment_weight),
            ("dead_code_threshold", dead_code_threshold),
        ):
            if not 0 <= number < math.inf:
                raise ValueError(f"`{option}` must be finite and >= 0; received {number}.")
        self._codebook_size = codebook_size
        self._code_dim = code_dim
        self.decay = float(decay)
        self.eps = float(eps)
        self.commitment_weight = float(commitment_weight)
        self.dead_code_threshold = float(dead_code_threshold)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    @property
    def code_dim(self) -> int:
        return self._code_dim

    @property
    def codebook_size(self) -> int:
        return self._codebook_size

    def build(self, input_shape: Shape) -> None:
        super().build(input_shape)
        shape = (self.codebook_size, self.code_dim)
        self.codebook = self.add_weight(shape=shape, initializer="random_normal", trainable=False, name="codebook")
        self.ema_counts = self.add_weight(shape=shape[:1], initializer="ones", trainable=False, name="ema_counts")
        self.ema_sums = self.add_weight(shape=shape, initializer="zeros", trainable=False, name="ema_sums")
        self.ema_sums.assign(ops.copy(self.codebook))  # own buffer: JAX donates each variable separately

    def nearest_indices(self, flat: Tensor) -> Tensor:
        """argmin_i ||z - e_i||^2 for rows ``flat`` of shape (n, d)."""
        codebook = ops.cast(self.codebook, "float32")
        distances = (
            ops.sum(ops.square(flat), axis=1, keepdims=True)
            - 2.0 * ops.matmul(flat, ops.transpose(codebook))
            + ops.sum(ops.square(codebook), axis=1)
        )
        return ops.cast(ops.argmin(distances, axis=1), "int32")

    def quantize_latents(self, z: Tensor, training: bool = False) -> tuple[Tensor, Tensor]:
        flat = ops.reshape(z, (-1, self.code_dim))
        flat_indices = self.nearest_indices(flat)
        # float32 reads: under mixed precision a layer's call sees its variables cast to the compute dtype.
        codebook = ops.cast(self.codebook, "float32")
        quantized = ops.reshape(ops.take(codebook, flat_indices, axis=0), ops.shape(z))
        if training:
            self._update_codebook(flat, flat_indices)
        if self.commitment_weight:  # also outside training, so evaluate() reports it
            self.add_loss(self.commitment_weight * ops.mean(ops.square(z - ops.stop_gradient(quantized))))
        codes = z + ops.stop_gradient(quantized - z)
        # A row holding NaN is nearest to no code: index -1 (never a valid one), as FSQ's; its codes are NaN.
        flat_indices = ops.where(ops.any(ops.isnan(flat), axis=-1), -1, flat_indices)
        indices = ops.reshape(flat_indices, ops.shape(z)[:-1])
        return codes, indices

    def _update_codebook(self, flat: Tensor, flat_indices: Tensor) -> None:
        finite = finite_rows(flat)
        flat = ops.where(finite[:, None] > 0, ops.stop_gradient(flat), 0.0)
        flat_indices = ops.where(finite > 0, flat_indices, 0)
        k = self.codebook_size
        counts = histogram(flat_indices, k, finite)
        sums = ops.segment_sum(flat, flat_indices, num_segments=k)
        ema_counts = self.decay * ops.cast(self.ema_counts, "float32") + (1 - self.decay) * counts
        ema_sums = self.decay * ops.cast(self.ema_sums, "float32") + (1 - self.decay) * sums
        total = ops.sum(ema_counts)
        smoothed = (ema_counts + self.eps) / (total + k * self.eps) * total
        codebook = ema_sums / smoothed[:, None]
        if self.dead_code_threshold > 0:
            dead = (ema_counts < self.dead_code_threshold)[:, None]
            rows = ops.shape(flat)[0]
            uniform = keras.random.uniform((k,), seed=self.seed_generator)
            picks = ops.cast(uniform * ops.cast(rows, "float32"), "int32")
            restart = ops.take(flat, ops.minimum(picks, rows - 1), axis=0)
            codebook = ops.where(dead, restart, codebook)
            ema_sums = ops.where(dead, restart, ema_sums)
            ema_counts = ops.where(dead[:, 0], 1.0, ema_counts)
        self.ema_counts.assign(ema_counts)
        self.ema_sums.assign(ema_sums)
        self.codebook.assign(codebook)

    def codes_to_indices(self, codes: Tensor) -> Tensor:
        flat = ops.reshape(ops.cast(codes, "float32"), (-1, self.code_dim))
        return ops.reshape(self.nearest_indices(flat), ops.shape(codes)[:-1])

    def indices_to_codes(self, indices: Tensor) -> Tensor:
        return ops.take(ops.cast(self.codebook, "float32"), checked_indices(indices, self.codebook_size), axis=0)

    def get_config(self) -> Config:
        config = super().get_config()
        config.update(
            {
                "codebook_size": self.codebook_size,
                "code_dim": self.code_dim,
                "decay": self.decay,
                "eps": self.eps,
                "commitment_weight": self.commitment_weight,
                "dead_code_threshold": self.dead_code_threshold,
                "seed": self.seed,
            }
        )
        return config
