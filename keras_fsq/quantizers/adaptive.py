"""AdaptiveFSQ: a learned gate picks the quantization levels per image.

Two gates, one class each: ``LogitGate`` (trained straight-through with the
model) and ``RateDistortionGate`` (least-squares predictions of each rung's
distortion, fitted from measured distortions).
"""

import math
from collections.abc import Callable, Sequence
from typing import Any, Optional

import keras
import numpy as np
from keras import ops

from keras_fsq.levels import MAX_INDEX
from keras_fsq.quantizers.base import Quantizer, checked_indices
from keras_fsq.quantizers.fsq import FSQ, validate_ladder
from keras_fsq.types import Config, Shape, Tensor

GATE_TRAINING = ("rate_distortion", "straight_through")


def _with_bias(features: Tensor) -> Tensor:
    return ops.concatenate([features, ops.ones_like(features[..., :1])], axis=-1)


@keras.saving.register_keras_serializable(package="keras_fsq")
class LogitGate(keras.layers.Layer):
    """A gate trained straight-through: rung logits ``Dense_R(standardize(features))``, in float32.

    ``standardize`` is a BatchNormalization without scale or offset (momentum 0.9).
    """

    def __init__(self, num_rungs: int, **kwargs: Any) -> None:
        kwargs["dtype"] = "float32"  # it steers quantization, which computes in float32 (also under mixed precision)
        super().__init__(**kwargs)
        self.num_rungs = int(num_rungs)
        self.norm = keras.layers.BatchNormalization(
            momentum=0.9, center=False, scale=False, dtype="float32", name="norm"
        )
        self.dense = keras.layers.Dense(self.num_rungs, dtype="float32", name="dense")

    def build(self, feature_shape: Shape) -> None:
        self.norm.build(feature_shape)
        self.dense.build(feature_shape)

    def call(self, features: Tensor, training: Optional[bool] = None) -> Tensor:
        return self.dense(self.norm(features, training=training))

    def compute_output_shape(self, feature_shape: Shape) -> Shape:
        return tuple(feature_shape[:-1]) + (self.num_rungs,)

    def get_config(self) -> Config:
        config = super().get_config()
        config.pop("dtype", None)
        return {**config, "num_rungs": self.num_rungs}


@keras.saving.register_keras_serializable(package="keras_fsq")
class RateDistortionGate(keras.layers.Layer):
    """A gate that predicts each rung's distortion by least squares and prefers the cheapest rung in ``D + rate``.

    With ``x = [features, 1]`` it keeps EMA sufficient statistics ``G`` (of ``x x^T``)
    and ``C`` (of ``x log(D)^T``); ``log D_r(x) = x W``, ``W = (G + 1e-4 I)^-1 C``.
    """

    def __init__(self, num_rungs: int, decay: float = 0.9, **kwargs: Any) -> None:
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        if not 0 <= decay < 1:
            raise ValueError(f"`decay` must be in [0, 1); received {decay}.")
        self.num_rungs, self.decay = int(num_rungs), float(decay)

    def build(self, feature_shape: Shape) -> None:
        size = feature_shape[-1] + 1
        self.gram = self.add_weight(shape=(size, size), initializer="zeros", trainable=False, name="gram")
        self.cross = self.add_weight(shape=(size, self.num_rungs), initializer="zeros", trainable=False, name="cross")

    def predicted_log_distortion(self, features: Tensor) -> Tensor:
        """``[features, 1] W``, shape ``(batch, R)``."""
        weights = ops.solve(ops.add(self.gram, 1e-4 * ops.eye(self.gram.shape[0])), self.cross)
        return ops.matmul(_with_bias(features), weights)

    def call(self, features: Tensor, rate_penalty: Tensor) -> Tensor:
        """``-(predicted D_r + rate_penalty_r)``: what the gate maximizes."""
        return ops.negative(ops.add(ops.exp(self.predicted_log_distortion(features)), rate_penalty))

    def update(self, features: Tensor, log_distortions: Tensor) -> None:
        """``G <- decay G + (1 - decay) mean_i x_i x_i^T``; ``C <- decay C + (1 - decay) mean_i x_i log(D_i)^T``."""
        x = _with_bias(features)
        batch = ops.cast(ops.shape(x)[0], "float32")
        gram = ops.divide(ops.matmul(ops.transpose(x), x), batch)
        cross = ops.divide(ops.matmul(ops.transpose(x), log_distortions), batch)
        self.gram.assign(self.decay * self.gram + (1 - self.decay) * gram)
        self.cross.assign(self.decay * self.cross + (1 - self.decay) * cross)

    def compute_output_shape(self, feature_shape: Shape) -> Shape:
        return tuple(feature_shape[:-1]) + (self.num_rungs,)

    def get_config(self) -> Config:
        config = super().get_config()
        config.pop("dtype", None)
        return {**config, "num_rungs": self.num_rungs, "decay": self.decay}


@keras.saving.register_keras_serializable(package="keras_fsq")
class AdaptiveFSQ(Quantizer):
    """FSQ whose level set is chosen per image (or per latent vector) by a learned gate.

    For a ladder of ``R`` level sets ``L^(1..R)`` (equal dimension ``d``) and
    latents ``z`` with positions ``p``::

        u        = tanh(z / T)
        features = [mean_p u, log std_p u]        (per image; u itself per position)
        prob     = softmax(Dense_R(standardize(features)))
        choice   = onehot(argmax prob) + prob - sg(prob)   (straight-through)
        codes    = sum_r choice_r * FSQ_{L^(r)}(z)
        index    = offset_r + FSQ_{L^(r)} index,   offset_r = sum_{s<r} |C_s|
        bits     = sum_p log2 |C_r| + log2 R per gate decision (side information)

    so the rung is part of the code and ``indices_to_codes`` inverts it. Each
    call adds ``rate_weight`` times the straight-through bits per latent
    vector, ``sum_r choice_r (log2 |C_r| + side) / positions``, whose gradient
    through ``prob`` pushes the gate to cheap rungs unless a richer one lowers
    the reconstruction loss more. The gate's gradient from the reconstruction
    is ``<dL/dcodes, FSQ_r(z)>``: the first-order change of the loss when
    switching rung.

    Args:
        ladder: list of level lists, e.g. ``[[3, 3, 3], [5, 5, 5], [8, 8, 8]]``.
        per_position: gate each latent vector instead of each image.
        rate_weight: weight of the rate penalty (bits per latent vector).
        exploration: fraction of training decisions that take a uniformly
            random rung instead of the gate's, so the decoder learns every
            rung and the gate's straight-through signal compares rungs the
            decoder knows (without it the gate locks onto its first favourite).
        seed: seed of the exploration draws.
        temperature: initial temperature of every rung's FSQ.
        eps: the FSQ bound's margin.
    """

    def __init__(
        self,
        ladder: Sequence[Sequence[int]],
        per_position: bool = False,
        rate_weight: float = 0.001,
        exploration: float = 0.25,
        gate_training: str = "rate_distortion",
        temperature: float = 1.0,
        eps: float = 1e-3,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.ladder = validate_ladder(ladder)
        if not rate_weight >= 0:
            raise ValueError(f"`rate_weight` must be >= 0; received {rate_weight}.")
        if not 0 <= exploration <= 1:
            raise ValueError(f"`exploration` must be in [0, 1]; received {exploration}.")
        self.exploration = float(exploration)
        if gate_training not in GATE_TRAINING:
            raise ValueError(f"`gate_training` must be one of {GATE_TRAINING}; received {gate_training!r}.")
        if gate_training == "rate_distortion" and per_position:
            raise ValueError(
                "`gate_training='rate_distortion'` needs a per-image gate; use 'straight_through' with "
                "`per_position=True`."
            )
        self.gate_training = gate_training
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        sizes = [math.prod(levels) for levels in self.ladder]
        if sum(sizes) > MAX_INDEX:
            raise ValueError(f"`ladder` has {sum(sizes)} codes in all, more than int32 indices address.")
        self.per_position = bool(per_position)
        self.rate_weight = float(rate_weight)
        self.eps = float(eps)
        self.rungs = [
            FSQ(levels, temperature=temperature, eps=eps, loss_weight=0.0, name=f"rung_{r}")
            for r, levels in enumerate(self.ladder)
        ]
        gate_class = LogitGate if gate_training == "straight_through" else RateDistortionGate
        self.gate = gate_class(len(self.ladder), name="gate")
        self._offsets = np.cumsum([0] + sizes[:-1]).astype("int32")
        self._side_bits = math.log2(len(self.ladder))
        self._code_bits = np.log2(sizes).astype("float32")

    @property
    def code_dim(self) -> int:
        return len(self.ladder[0])

    @property
    def codebook_size(self) -> int:
        return int(sum(math.prod(levels) for levels in self.ladder))

    @property
    def num_rungs(self) -> int:
        return len(self.ladder)

    @property
    def learns_from_distortion(self) -> bool:
        return self.gate_training == "rate_distortion"

    def schedule_variables(self) -> dict:
        return {
            f"rung_{r}/{name}": v for r, rung in enumerate(self.rungs) for name, v in rung.schedule_variables().items()
        }

    def build(self, input_shape: Shape) -> None:
        super().build(input_shape)
        for rung in self.rungs:
            rung.build(input_shape)
        per_vector = self.per_position or len(input_shape) == 2
        features = self.code_dim if per_vector else 2 * self.code_dim
        self.gate.build((None,) * (len(input_shape) - 1 if per_vector else 1) + (features,))

    def _gate_features(self, z: Tensor) -> Tensor:
        """Per image ``[mean_p u, log std_p u]``; per latent vector ``u``; ``u = tanh(z / T)``."""
        u = ops.tanh(ops.divide(z, self.rungs[0].temperature))  # bounded, as FSQ sees it
        if self.per_position or len(z.shape) == 2:
            return u
        positions = tuple(range(1, len(z.shape) - 1))
        mean = ops.mean(u, axis=positions)
        variance = ops.mean(ops.square(u - ops.expand_dims(mean, positions)), axis=positions)
        return ops.concatenate([mean, 0.5 * ops.log(variance + 1e-6)], axis=-1)

    def _rate_per_vector(self, positions: int) -> Tensor:
        """Bits per latent vector of each rung, side information included, shape (R,)."""
        return self._code_bits + self._side_bits / positions

    def predicted_log_distortion(self, z: Tensor) -> Tensor:
        """The least-squares gate's ``log D_r`` for latents ``z``, shape (batch, R)."""
        return self.gate.predicted_log_distortion(self._gate_features(z))

    def rung_preferences(self, z: Tensor, training: bool = False) -> Tensor:
        """What the gate maximizes: its logits, or ``-(predicted D_r + rate_weight * rate_r)``."""
        if isinstance(self.gate, LogitGate):
            return self.gate(self._gate_features(z), training=training)
        positions = math.prod(z.shape[1:-1])
        return self.gate(self._gate_features(z), self.rate_weight * self._rate_per_vector(positions))

    def _broadcast_choice(self, choice: Tensor, z: Tensor) -> Tensor:
        """Reshape per-image ``(batch, R)`` choices to broadcast against ``z.shape[:-1] + (R,)``."""
        if len(choice.shape) == len(z.shape):
            return choice
        return ops.reshape(choice, (-1,) + (1,) * (len(z.shape) - 2) + (self.num_rungs,))

    def quantize_latents(self, z: Tensor, training: bool = False) -> tuple[Tensor, Tensor]:
        preferences = self.rung_preferences(z, training)
        hard = ops.one_hot(self._pick_rungs(preferences, training), self.num_rungs, dtype="float32")
        straight_through = self.gate_training == "straight_through"
        if straight_through:
            prob = ops.softmax(preferences, axis=-1)
            choice = self._broadcast_choice(hard + prob - ops.stop_gradient(prob), z)
        else:
            choice = self._broadcast_choice(hard, z)
        # Rungs quantize without state updates: only the chosen one is coded.
        rung_codes, rung_indices = zip(*(rung.quantize_latents(z) for rung in self.rungs))
        codes = ops.sum(ops.multiply(ops.stack(rung_codes, axis=-1), ops.expand_dims(choice, -2)), axis=-1)
        local_indices = ops.stack(rung_indices, axis=-1)
        # a rung's index -1 (a NaN latent) stays -1 whatever rung it is in; others move past earlier rungs
        global_indices = ops.where(local_indices < 0, -1, ops.add(local_indices, self._offsets))
        hard_int = ops.cast(self._broadcast_choice(hard, z), "int32")
        indices = ops.sum(ops.multiply(global_indices, hard_int), axis=-1)
        if straight_through and self.rate_weight:
            positions = 1 if self.per_position else math.prod(z.shape[1:-1])
            bits_per_vector = ops.sum(ops.multiply(choice, self._rate_per_vector(positions)), axis=-1)
            self.add_loss(self.rate_weight * ops.mean(bits_per_vector))
        return codes, indices

    def _pick_rungs(self, preferences: Tensor, training: bool) -> Tensor:
        """argmax of the gate; in training, ``exploration`` of the decisions take a random rung."""
        greedy = ops.argmax(preferences, axis=-1)
        if not (training and self.exploration > 0):
            return greedy
        shape = ops.shape(greedy)
        explore = keras.random.uniform(shape, seed=self.seed_generator) < self.exploration
        random_rung = ops.cast(keras.random.uniform(shape, seed=self.seed_generator) * self.num_rungs, greedy.dtype)
        return ops.where(explore, ops.minimum(random_rung, self.num_rungs - 1), greedy)

    def update_gate(self, z: Tensor, distortion_fn: Callable[[Tensor], Tensor]) -> None:
        """Fit the ``RateDistortionGate`` to measured distortions by exponentially weighted least squares.

        ``distortion_fn(codes) -> (batch,)`` measures each image's distortion
        ``D_r`` when coded with rung ``r``. With ``x = [features, 1]`` and
        ``y = log D``, decay 0.9::

            G <- decay G + (1 - decay) mean_i x_i x_i^T
            C <- decay C + (1 - decay) mean_i x_i y_i^T

        so ``W = G^-1 C`` tracks the regression of ``log D_r`` on the features
        as the encoder and decoder change, within a few dozen steps. Regressing
        the distortions (rather than classifying each image's best rung)
        averages out the noise of single images' gains.
        """
        if self.gate_training != "rate_distortion" or len(z.shape) == 2:
            raise ValueError("`update_gate` needs `gate_training='rate_distortion'` and latents with positions.")
        z = ops.stop_gradient(ops.cast(z, "float32"))
        measured = ops.stack([distortion_fn(rung.quantize_latents(z)[0]) for rung in self.rungs], axis=-1)
        targets = ops.stop_gradient(ops.log(ops.maximum(ops.cast(measured, "float32"), 1e-12)))
        self.gate.update(self._gate_features(z), targets)

    def rung_of(self, indices: Tensor) -> Tensor:
        """The rung (0..R-1) each index belongs to."""
        indices = ops.cast(indices, "int32")
        return ops.sum(ops.cast(ops.greater_equal(ops.expand_dims(indices, -1), self._offsets[1:]), "int32"), axis=-1)

    def indices_to_codes(self, indices: Tensor) -> Tensor:
        indices = checked_indices(indices, self.codebook_size)
        rung = self.rung_of(indices)
        codes = 0.0
        for r, fsq in enumerate(self.rungs):
            local = ops.clip(ops.subtract(indices, int(self._offsets[r])), 0, fsq.codebook_size - 1)
            codes = codes + ops.where(ops.expand_dims(rung == r, -1), fsq.indices_to_codes(local), 0.0)
        return codes

    def bits_per_example(self, indices: Tensor) -> Tensor:
        """Bits each example costs: ``log2 |C_r|`` per latent vector plus ``log2 R`` per gate decision."""
        rung = self.rung_of(indices)
        axes = tuple(range(1, len(indices.shape)))
        code_bits = ops.take(ops.convert_to_tensor(self._code_bits), rung)
        if axes:
            code_bits = ops.sum(code_bits, axis=axes)
        decisions = math.prod(indices.shape[1:]) if self.per_position else 1
        return code_bits + self._side_bits * decisions

    @property
    def statistic_names(self) -> tuple[str, ...]:
        return tuple(f"rung_{r}_fraction" for r in range(self.num_rungs))

    def batch_statistics(self, indices: Tensor) -> dict[str, Tensor]:
        """The rung histogram: the fraction of latent vectors coded with each rung."""
        rung = ops.reshape(self.rung_of(indices), (-1,))
        shares = ops.mean(ops.one_hot(rung, self.num_rungs, dtype="float32"), axis=0)
        return {name: shares[r] for r, name in enumerate(self.statistic_names)}

    def get_config(self) -> Config:
        config = super().get_config()
        config.update(
            {
                "ladder": [list(levels) for levels in self.ladder],
                "per_position": self.per_position,
                "rate_weight": self.rate_weight,
                "exploration": self.exploration,
                "gate_training": self.gate_training,
                "seed": self.seed,
                "temperature": float(ops.convert_to_numpy(self.rungs[0].temperature)),
                "eps": self.eps,
            }
        )
        return config
