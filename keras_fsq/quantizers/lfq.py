"""Lookup-free quantization (LFQ, MAGVIT-v2) and binary spherical quantization (BSQ)."""

import math
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_fsq.quantizers.base import Quantizer, backend_constant, checked_indices
from keras_fsq.types import Config, Tensor
from keras_fsq.validation import positive_int

# Up to this many bits the codebook entropy is computed over all 2^d codes; above, per bit.
MAX_EXACT_ENTROPY_BITS = 10


def _bits_to_index(positive: Tensor, basis: Tensor, z: Tensor) -> Tensor:
    """Index ``sum_i [z_i > 0] 2^i`` of boolean ``positive`` ``(..., d)``, int32; -1 (never a valid index,
    as FSQ's) for a vector of ``z`` holding NaN, which has no sign."""
    index = ops.sum(ops.multiply(ops.cast(positive, "int32"), basis), axis=-1)
    return ops.where(ops.any(ops.isnan(z), axis=-1), -1, index)


def _entropy(probabilities: Tensor, axis: int = -1) -> Tensor:
    return -ops.sum(probabilities * ops.log(ops.maximum(probabilities, 1e-10)), axis=axis)


def binary_entropy_terms(z: Tensor, inv_temperature: float, codebook: Tensor) -> tuple[Tensor, Tensor]:
    """(mean per-sample entropy, codebook entropy) of the soft assignment ``p(c | z) ∝ exp(2 inv_T <z, c>)``.

    Over codes ``c`` in ``{-1, 1}^d`` the distribution factorizes per bit:
    ``p(c_i = 1 | z) = sigmoid(4 inv_T z_i)``, so the per-sample entropy is the
    sum of the bits' binary entropies. The codebook entropy ``H(mean_batch p)``
    is computed over all ``2^d`` codes (``codebook``, rows in index order) for
    ``d <= MAX_EXACT_ENTROPY_BITS``, else as the sum of the bits' entropies of
    the batch-mean bit probabilities (an upper bound).
    """
    bits = z.shape[-1]
    flat = ops.reshape(z, (-1, bits))
    p_one = ops.sigmoid(4.0 * inv_temperature * flat)
    per_bit = _entropy(ops.stack([p_one, 1.0 - p_one], axis=-1))
    per_sample = ops.mean(ops.sum(per_bit, axis=-1))
    if codebook is not None:
        probabilities = ops.softmax(2.0 * inv_temperature * ops.matmul(flat, ops.transpose(codebook)), axis=-1)
        codebook_entropy = _entropy(ops.mean(probabilities, axis=0))
    else:
        mean_one = ops.mean(p_one, axis=0)
        codebook_entropy = ops.sum(_entropy(ops.stack([mean_one, 1.0 - mean_one], axis=-1)))
    return per_sample, codebook_entropy


class _BinaryQuantizer(Quantizer):
    """Shared by LFQ and BSQ: ``d`` bits per latent vector, index ``sum_i [z_i > 0] 2^i``."""

    def __init__(
        self, codebook_bits: int, entropy_weight: float, diversity_gamma: float, inv_temperature: float, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        codebook_bits = positive_int(codebook_bits, "codebook_bits", maximum=30)
        for name, value in (("entropy_weight", entropy_weight), ("diversity_gamma", diversity_gamma)):
            if not 0 <= value < math.inf:
                raise ValueError(f"`{name}` must be finite and >= 0; received {value}.")
        if not 0 < inv_temperature < math.inf:
            raise ValueError(f"`inv_temperature` must be finite and > 0; received {inv_temperature}.")
        self.codebook_bits = codebook_bits
        self.entropy_weight = float(entropy_weight)
        self.diversity_gamma = float(diversity_gamma)
        self.inv_temperature = float(inv_temperature)
        self._basis = backend_constant((2 ** np.arange(codebook_bits)).astype("int32"))
        self._codebook = None
        if codebook_bits <= MAX_EXACT_ENTROPY_BITS:
            signs = (np.arange(2**codebook_bits)[:, None] >> np.arange(codebook_bits)) & 1
            self._codebook = backend_constant((2.0 * signs - 1).astype("float32"))

    @property
    def code_dim(self) -> int:
        return self.codebook_bits

    @property
    def codebook_size(self) -> int:
        return 2**self.codebook_bits

    @property
    def alphabet_sizes(self) -> list[int]:
        """One binary symbol per dimension (``indices_to_symbols``)."""
        return [2] * self.codebook_bits

    def indices_to_symbols(self, indices: Tensor) -> Tensor:
        """Indices -> their bits in {0, 1}, shape ``indices.shape + (d,)``."""
        return ops.mod(ops.floor_divide(ops.cast(indices, "int32")[..., None], self._basis), 2)

    def symbols_to_indices(self, symbols: Tensor) -> Tensor:
        """Inverse of ``indices_to_symbols``: ``sum_i bit_i 2^i``."""
        return ops.sum(ops.multiply(ops.cast(symbols, "int32"), self._basis), axis=-1)

    def entropy_loss(self, z: Tensor) -> Tensor:
        """``H_per_sample - diversity_gamma * H_codebook`` of ``z`` (see ``binary_entropy_terms``)."""
        per_sample, codebook_entropy = binary_entropy_terms(z, self.inv_temperature, self._codebook)
        return per_sample - self.diversity_gamma * codebook_entropy

    def indices_to_signs(self, indices: Tensor) -> Tensor:
        """Indices -> their bits as signs in {-1, 1}, shape ``indices.shape + (d,)``."""
        indices = checked_indices(indices, self.codebook_size)
        return ops.subtract(ops.multiply(ops.cast(self.indices_to_symbols(indices), "float32"), 2.0), 1.0)

    def get_config(self) -> Config:
        config = super().get_config()
        config.update(
            {
                "codebook_bits": self.codebook_bits,
                "entropy_weight": self.entropy_weight,
                "diversity_gamma": self.diversity_gamma,
                "inv_temperature": self.inv_temperature,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_fsq")
class LFQ(_BinaryQuantizer):
    """Lookup-free quantization (Yu et al. 2023, MAGVIT-v2): one bit per latent dimension.

    For latents ``z`` of ``d = codebook_bits`` dimensions and scale ``s``::

        codes = z + sg(s * sign(z) - z)          # s * sign(z) forward, identity backward
        index = sum_i [z_i > 0] 2^i

    Each call adds (in inference too, so ``evaluate`` reports it)
    ``entropy_weight * (H_per_sample - diversity_gamma * H_codebook)`` with the
    soft assignment ``p(c | z) ∝ exp(2 inv_T <z, c>)`` over the ``2^d`` codes
    (``binary_entropy_terms``), plus ``commitment_weight * MSE(z, sg(codes))``.
    Sign of 0 is taken as -1 (bit 0).

    Args:
        codebook_bits: ``d``, the bits (and latent dimensions) per vector.
        codebook_scale: ``s``, the magnitude of the codes.
        entropy_weight: weight of the entropy loss; 0 adds none.
        diversity_gamma: weight of the codebook-entropy term inside it.
        inv_temperature: ``inv_T`` of the soft assignment.
        commitment_weight: weight of the commitment loss; 0 adds none.
    """

    def __init__(
        self,
        codebook_bits: int,
        codebook_scale: float = 1.0,
        entropy_weight: float = 0.1,
        diversity_gamma: float = 1.0,
        inv_temperature: float = 100.0,
        commitment_weight: float = 0.25,
        **kwargs: Any,
    ) -> None:
        super().__init__(codebook_bits, entropy_weight, diversity_gamma, inv_temperature, **kwargs)
        if not 0 < codebook_scale < math.inf:
            raise ValueError(f"`codebook_scale` must be finite and > 0; received {codebook_scale}.")
        if not 0 <= commitment_weight < math.inf:
            raise ValueError(f"`commitment_weight` must be finite and >= 0; received {commitment_weight}.")
        self.codebook_scale = float(codebook_scale)
        self.commitment_weight = float(commitment_weight)

    def quantize_latents(self, z: Tensor, training: bool = False) -> tuple[Tensor, Tensor]:
        positive = ops.greater(z, 0.0)
        quantized = ops.where(positive, self.codebook_scale, -self.codebook_scale)
        codes = ops.add(z, ops.stop_gradient(ops.subtract(quantized, z)))
        loss = 0.0
        if self.entropy_weight:
            loss = loss + self.entropy_weight * self.entropy_loss(z)
        if self.commitment_weight:
            loss = loss + self.commitment_weight * ops.mean(ops.square(z - ops.stop_gradient(quantized)))
        if self.entropy_weight or self.commitment_weight:
            self.add_loss(loss)
        return codes, _bits_to_index(positive, self._basis, z)

    def indices_to_codes(self, indices: Tensor) -> Tensor:
        return ops.multiply(self.indices_to_signs(indices), self.codebook_scale)

    def get_config(self) -> Config:
        config = super().get_config()
        config.update({"codebook_scale": self.codebook_scale, "commitment_weight": self.commitment_weight})
        return config


@keras.saving.register_keras_serializable(package="keras_fsq")
class BSQ(_BinaryQuantizer):
    """Binary spherical quantization (Zhao et al. 2024): project to the unit sphere, then one bit per dimension.

    For latents ``z`` of ``d = codebook_bits`` dimensions::

        u     = z / ||z||                          (||z|| floored at 1e-12; infinite
                                                    components alone set the direction)
        codes = u + sg(sign(u) / sqrt(d) - u)      # on the sphere as well
        index = sum_i [u_i > 0] 2^i

    With ``entropy_weight > 0`` each call adds ``entropy_weight * (H_per_sample -
    diversity_gamma * H_codebook)`` of ``u`` (``binary_entropy_terms``, codes
    ``{-1, 1}^d / sqrt(d)``, so ``inv_T`` is scaled by ``1 / sqrt(d)``).
    Sign of 0 is taken as -1 (bit 0).

    Args:
        codebook_bits: ``d``, the bits (and latent dimensions) per vector.
        entropy_weight: weight of the entropy loss; 0 (default) adds none.
        diversity_gamma: weight of the codebook-entropy term inside it.
        inv_temperature: ``inv_T`` of the soft assignment.
    """

    def __init__(
        self,
        codebook_bits: int,
        entropy_weight: float = 0.0,
        diversity_gamma: float = 1.0,
        inv_temperature: float = 100.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(codebook_bits, entropy_weight, diversity_gamma, inv_temperature, **kwargs)

    def quantize_latents(self, z: Tensor, training: bool = False) -> tuple[Tensor, Tensor]:
        # Infinite components set the direction alone: u = sign(z) over them, normalised.
        infinite = ops.isinf(z)
        count = ops.sum(ops.cast(infinite, "float32"), axis=-1, keepdims=True)
        finite_z = ops.where(infinite, 0.0, z)
        norm = ops.sqrt(ops.maximum(ops.sum(ops.square(finite_z), axis=-1, keepdims=True), 1e-24))
        towards_infinity = ops.divide(ops.where(infinite, ops.sign(z), 0.0), ops.sqrt(ops.maximum(count, 1.0)))
        unit = ops.where(ops.greater(count, 0.0), towards_infinity, ops.divide(finite_z, norm))
        positive = ops.greater(unit, 0.0)
        quantized = ops.where(positive, 1.0, -1.0) / math.sqrt(self.codebook_bits)
        codes = ops.add(unit, ops.stop_gradient(ops.subtract(quantized, unit)))
        if self.entropy_weight:
            per_sample, codebook_entropy = binary_entropy_terms(
                unit, self.inv_temperature / math.sqrt(self.codebook_bits), self._codebook
            )
            self.add_loss(self.entropy_weight * (per_sample - self.diversity_gamma * codebook_entropy))
        return codes, _bits_to_index(positive, self._basis, z)

    def indices_to_codes(self, indices: Tensor) -> Tensor:
        return ops.divide(self.indices_to_signs(indices), math.sqrt(self.codebook_bits))
