"""MaskGIT's network: a bidirectional transformer over a token grid and a class token (Chang et al., 2022).

Training (``fit`` on token grids, with ``labels`` when class-conditional): per
example a mask ratio ``r = cos(pi u / 2)``, ``u ~ U(0, 1)`` (the cosine
schedule), ``ceil(r T)`` random positions masked, and the loss is the
cross-entropy of the true tokens at the masked positions only. With
probability ``class_dropout`` the label is replaced by the null class, so one
network is both conditional and unconditional.

Factorized heads (``factorized_levels``, FSQ's per-dimension symbols): a token
``k = sum_i s_i b_i`` (``b = cumprod([1, L_1, ..., L_{d-1}])``) is predicted as ``d``
symbols, one softmax over ``L_i`` values each, ``p(k) = prod_i p_i(s_i)``: ``sum L_i``
outputs instead of ``prod L_i``, at the price of independent symbols given the context.
The loss ``-sum_i log p_i(s_i)`` is the token's negative log-likelihood, in the same
nats as the one-index head's cross-entropy.
"""

import math
from collections.abc import Sequence
from typing import Any, Optional

import keras
import numpy as np
from keras import ops
from numpy.typing import ArrayLike

from keras_fsq.maskgit.sampler import generate_tokens as sample_token_grids
from keras_fsq.maskgit.settings import SamplingSettings
from keras_fsq.quantizers.fsq import mixed_radix_basis
from keras_fsq.types import Config, Shape, Tensor
from keras_fsq.validation import positive_int

MAX_PARAMETERS = 2**28  # about 1 GB of float32 weights
# What running costs, not only what the weights take: attention holds heads x T^2 scores per image.
MAX_IMAGE_ACTIVATION_BYTES = 2**28  # one image's activations (``activation_bytes``); a larger model is refused


def block_seed(seed: int | None, index: int) -> int | None:
    """The dropout seed of transformer block ``index`` of a MaskGIT of ``seed`` (each block its own stream)."""
    return None if seed is None else seed + 1000 * (index + 1)


@keras.saving.register_keras_serializable(package="keras_fsq")
class TransformerBlock(keras.layers.Layer):
    """Pre-norm transformer block: ``x + MHA(LN(x))``, then ``x + MLP(LN(x))`` (GELU, ``mlp_ratio`` x wider).

    ``seed``: of its dropout (the attention's and the residuals'). Given, every backend draws the masks
    from seed generators, whose states a checkpoint keeps, so a resumed run drops what an uninterrupted one
    does; ``None`` lets PyTorch use its global generator (no checkpoint keeps that).
    """

    def __init__(
        self,
        width: int,
        heads: int,
        mlp_ratio: int = 4,
        dropout: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.seed = seed
        self.width, self.heads = positive_int(width, "width"), positive_int(heads, "heads")
        self.mlp_ratio, self.dropout = positive_int(mlp_ratio, "mlp_ratio"), float(dropout)
        if self.width % self.heads:
            raise ValueError(f"`width` ({width}) must be a multiple of `heads` ({heads}).")
        self.attention_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="attention_norm")
        self.attention = keras.layers.MultiHeadAttention(
            self.heads, self.width // self.heads, dropout=self.dropout, seed=seed, name="attention"
        )
        self.mlp_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="mlp_norm")
        self.mlp_in = keras.layers.Dense(self.width * self.mlp_ratio, activation="gelu", name="mlp_in")
        self.mlp_out = keras.layers.Dense(self.width, name="mlp_out")
        self.drop = keras.layers.Dropout(self.dropout, seed=None if seed is None else seed + 1)

    def build(self, input_shape: Shape) -> None:
        self.attention_norm.build(input_shape)
        self.attention.build(input_shape, input_shape)
        self.mlp_norm.build(input_shape)
        self.mlp_in.build(input_shape)
        self.mlp_out.build(tuple(input_shape[:-1]) + (self.width * self.mlp_ratio,))

    def call(self, x: Tensor, training: Optional[bool] = None) -> Tensor:
        normed = self.attention_norm(x)
        x = x + self.drop(self.attention(normed, normed, training=training), training=training)
        return x + self.drop(self.mlp_out(self.mlp_in(self.mlp_norm(x))), training=training)

    def compute_output_shape(self, input_shape: Shape) -> Any:
        return input_shape

    def get_config(self) -> Config:
        return {
            **super().get_config(),
            "width": self.width,
            "heads": self.heads,
            "mlp_ratio": self.mlp_ratio,
            "dropout": self.dropout,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="keras_fsq")
class MaskGIT(keras.Model):
    """A masked-token transformer over a ``grid_shape`` grid of tokens from ``[0, vocabulary_size)``.

    ``call({"tokens": (N, T) int, "labels": (N,) int})`` returns logits ``(N, T, vocabulary_size)``;
    token ``vocabulary_size`` is ``[MASK]`` and label ``num_classes`` the null class. ``fit`` takes
    ``{"tokens": ..., "labels": ...}`` (labels may be left out when ``num_classes`` is 0) with clean
    tokens: the model masks them itself (see the module doc).

    Args:
        vocabulary_size: the tokenizer's codebook size.
        grid_shape: the token grid of one image, e.g. ``(8, 8)``.
        num_classes: classes of the conditioning labels (0: unconditional).
        width: the transformer's channels.
        depth: its number of blocks.
        heads: attention heads per block.
        mlp_ratio: hidden channels of each block's MLP, as a multiple of ``width``.
        dropout: dropout rate inside the blocks.
        class_dropout: probability, in training, that a label is replaced by the null class.
        factorized_levels: predict each token as per-dimension symbols with these alphabet sizes
            (an FSQ tokenizer's ``levels``; their product is ``vocabulary_size``); ``None``: one index.
        tokenizer: optional ``FSQVAE`` whose codes these are; saved with the model (frozen), it
            turns generated tokens into images (``generate``).
        seed: of the training masks.
    """

    def __init__(
        self,
        vocabulary_size: int,
        grid_shape: Sequence[int],
        num_classes: int = 0,
        width: int = 256,
        depth: int = 4,
        heads: int = 4,
        mlp_ratio: int = 4,
        dropout: float = 0.1,
        class_dropout: float = 0.1,
        factorized_levels: Sequence[int] | None = None,
        tokenizer: Any = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.vocabulary_size = positive_int(vocabulary_size, "vocabulary_size", minimum=2)
        self.grid_shape = tuple(positive_int(side, "grid_shape") for side in grid_shape)
        self.num_classes = positive_int(num_classes, "num_classes", minimum=0)
        self.width, self.depth = positive_int(width, "width"), positive_int(depth, "depth")
        self.heads, self.mlp_ratio = positive_int(heads, "heads"), positive_int(mlp_ratio, "mlp_ratio")
        self.dropout = float(dropout)
        if not 0 <= class_dropout < 1:
            raise ValueError(f"`class_dropout` must be in [0, 1); received {class_dropout!r}.")
        self.class_dropout, self.seed = float(class_dropout), seed
        self.factorized_levels = self._factorized_levels(factorized_levels)
        self.sequence_length = math.prod(self.grid_shape)
        parameters = (
            2 * self.vocabulary_size + self.num_classes + self.sequence_length + 3
        ) * self.width + self.depth * (4 + 2 * positive_int(mlp_ratio, "mlp_ratio")) * self.width**2
        if parameters > MAX_PARAMETERS:  # checked before any weight exists: a crafted config cannot allocate it
            raise ValueError(
                f"This MaskGIT (vocabulary_size {vocabulary_size}, grid {self.grid_shape}, width {width}, depth "
                f"{depth}) would have about {parameters} parameters; at most {MAX_PARAMETERS}."
            )
        if self.activation_bytes() > MAX_IMAGE_ACTIVATION_BYTES:  # attention grows with the square of the grid
            raise ValueError(
                f"This MaskGIT (grid {self.grid_shape}: {self.sequence_length} tokens, {heads} heads) would take "
                f"{self.activation_bytes() / 2**20:,.0f} MiB of activations per image; at most "
                f"{MAX_IMAGE_ACTIVATION_BYTES / 2**20:,.0f} MiB."
            )
        self.mask_token, self.null_class = self.vocabulary_size, self.num_classes
        self.token_embedding = keras.layers.Embedding(self.vocabulary_size + 1, self.width, name="token_embedding")
        self.class_embedding = keras.layers.Embedding(self.num_classes + 1, self.width, name="class_embedding")
        self.blocks = [
            TransformerBlock(self.width, heads, mlp_ratio, dropout, block_seed(seed, i), name=f"block_{i}")
            for i in range(self.depth)
        ]
        self.final_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="final_norm")
        self.head = keras.layers.Dense(self.output_size, name="head")
        self.tokenizer = tokenizer
        if tokenizer is not None:
            tokenizer.trainable = False
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.accuracy_tracker = keras.metrics.Mean(name="masked_accuracy")

    def _factorized_levels(self, levels: Sequence[int] | None) -> list[int] | None:
        if levels is None:
            return None
        levels = [positive_int(level, "factorized_levels", minimum=2) for level in levels]
        if math.prod(levels) != self.vocabulary_size:
            raise ValueError(
                f"`factorized_levels` {levels} must multiply to `vocabulary_size` ({self.vocabulary_size}); "
                f"their product is {math.prod(levels)}."
            )
        return levels

    @property
    def output_size(self) -> int:
        """Logits per position: ``vocabulary_size``, or ``sum(factorized_levels)`` with factorized heads."""
        return self.vocabulary_size if self.factorized_levels is None else sum(self.factorized_levels)

    def symbol_groups(self) -> list[tuple[int, int, int]]:
        """``(offset, size, weight)`` of each softmax in a position's logits: where its logits start, how many
        values its symbol takes and the symbol's weight in the token (``token // weight % size`` is the
        symbol); one group ``(0, vocabulary_size, 1)``, or one per factorized symbol."""
        if self.factorized_levels is None:
            return [(0, self.vocabulary_size, 1)]
        offsets = np.concatenate([[0], np.cumsum(self.factorized_levels)[:-1]])
        weights = mixed_radix_basis(self.factorized_levels)
        return list(zip(offsets.tolist(), self.factorized_levels, weights.tolist()))

    def build(self, input_shape: Shape | None = None) -> None:
        sequence = (None, self.sequence_length + 1, self.width)
        self.token_embedding.build((None, self.sequence_length))
        self.class_embedding.build((None, 1))
        self.position_embedding = self.add_weight(
            shape=(self.sequence_length + 1, self.width),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            name="position_embedding",
        )
        for block in self.blocks:
            block.build(sequence)
        self.final_norm.build(sequence)
        self.head.build(sequence)

    def _inputs(self, inputs: Tensor) -> tuple[Tensor, Tensor]:
        if isinstance(inputs, dict):
            tokens, labels = inputs["tokens"], inputs.get("labels")
        else:
            tokens, labels = inputs, None
        tokens = ops.reshape(ops.cast(tokens, "int32"), (-1, self.sequence_length))
        if labels is None:
            labels = ops.full((ops.shape(tokens)[0],), self.null_class, dtype="int32")
        return tokens, ops.reshape(ops.cast(labels, "int32"), (-1,))

    def call(self, inputs: Tensor, training: Optional[bool] = None) -> Tensor:
        """``{"logits": (N, T, V), "mask": (N, T) bool}``; in training the tokens are masked first (the
        module doc), otherwise ``mask`` marks the ``[MASK]`` tokens of the input."""
        tokens, labels = self._inputs(inputs)
        if training:
            tokens, labels, mask = self.mask(tokens, labels)
        else:
            mask = ops.equal(tokens, self.mask_token)
        x = ops.concatenate([self.class_embedding(labels[:, None]), self.token_embedding(tokens)], axis=1)
        x = x + ops.cast(self.position_embedding, x.dtype)[None]
        for block in self.blocks:
            x = block(x, training=training)
        return {"logits": self.head(self.final_norm(x)[:, 1:]), "mask": mask}

    def compute_output_spec(self, inputs: Tensor, training: Optional[bool] = None) -> Any:
        count = (inputs["tokens"] if isinstance(inputs, dict) else inputs).shape[0]
        return {
            "logits": keras.KerasTensor((count, self.sequence_length, self.output_size), dtype="float32"),
            "mask": keras.KerasTensor((count, self.sequence_length), dtype="bool"),
        }

    def mask(self, tokens: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Training inputs from clean ``tokens`` ``(N, T)``: ``(masked tokens, labels after class dropout,
        mask)``; the mask ratio is drawn from the cosine schedule per example (at least one position)."""
        count = ops.shape(tokens)[0]
        ratio = ops.cos(math.pi / 2 * keras.random.uniform((count, 1), seed=self.seed_generator))
        masked_count = ops.maximum(ops.ceil(ratio * self.sequence_length), 1.0)
        scores = keras.random.uniform((count, self.sequence_length), seed=self.seed_generator)
        ranks = ops.argsort(ops.argsort(scores, axis=-1), axis=-1)
        mask = ops.cast(ranks, "float32") < masked_count
        dropped = keras.random.uniform((count,), seed=self.seed_generator) < self.class_dropout
        labels = ops.where(dropped, self.null_class, labels)
        return ops.where(mask, self.mask_token, tokens), labels, mask

    def compute_loss(
        self,
        x: Any = None,
        y: Any = None,
        y_pred: Any = None,
        sample_weight: Tensor | None = None,
        training: bool = True,
    ) -> Tensor:
        """Negative log-likelihood of the true tokens of ``x`` at the masked positions, averaged over them
        (with factorized heads the sum of the symbols' cross-entropies)."""
        tokens, _ = self._inputs(x)
        logits, weights = y_pred["logits"], ops.cast(y_pred["mask"], "float32")
        losses, correct = 0.0, 1.0
        for offset, size, weight in self.symbol_groups():
            group, symbol = logits[..., offset : offset + size], ops.mod(ops.floor_divide(tokens, weight), size)
            losses += keras.losses.sparse_categorical_crossentropy(symbol, group, from_logits=True)
            correct *= ops.cast(ops.equal(ops.cast(ops.argmax(group, axis=-1), "int32"), symbol), "float32")
        total = ops.maximum(ops.sum(weights), 1.0)
        self.accuracy_tracker.update_state(ops.sum(correct * weights) / total)
        return ops.sum(losses * weights) / total

    def token_logits(self, tokens: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Logits ``(N, T, output_size)`` (float32 NumPy) of token grids ``(N, T)`` (``[MASK]`` where unknown)."""
        inputs = {"tokens": np.asarray(tokens, "int32"), "labels": np.asarray(labels, "int32")}
        return np.asarray(self.predict_on_batch(inputs)["logits"], dtype="float32")  # compiled, unlike a call

    def activation_bytes(self) -> int:
        """Float32 bytes of one image's largest activations in a forward pass, ``T`` tokens:
        ``4 (3 heads T^2 + 2 mlp_ratio width T + 2 vocabulary_size T)`` (attention scores and their
        softmax, the MLP's hidden layer, the logits)."""
        tokens = self.sequence_length
        return 4 * (
            3 * self.heads * tokens**2 + 2 * self.mlp_ratio * self.width * tokens + 2 * self.vocabulary_size * tokens
        )

    def generate_tokens(
        self,
        num_images: int,
        class_labels: ArrayLike | int | None = None,
        seed: int = 0,
        batch_size: int = 250,
        settings: SamplingSettings | None = None,
        **changes: Any,
    ) -> np.ndarray:
        """MaskGIT's iterative parallel decoding (``keras_fsq.maskgit.sampler``): token grids
        ``(num_images, *grid_shape)``.

        ``settings``: a ``SamplingSettings`` (default: its defaults), any of its fields changed by keyword
        (``steps``, ``temperature``, ``guidance``, ``choice_temperature``). ``class_labels``: one per image
        (or one for all) in ``[0, num_classes)``; ``None`` samples unconditionally (the null class). The
        same ``seed`` gives the same tokens on a backend.
        """
        settings = (settings or SamplingSettings()).with_changes(**changes)
        return sample_token_grids(self, num_images, settings, class_labels, seed, batch_size)

    def generate(
        self,
        num_images: int,
        class_labels: ArrayLike | int | None = None,
        seed: int = 0,
        batch_size: int = 250,
        settings: SamplingSettings | None = None,
        **changes: Any,
    ) -> np.ndarray:
        """Images ``(num_images, H, W, C)`` in [0, 1]: ``generate_tokens`` decoded by the ``tokenizer``."""
        if self.tokenizer is None:
            raise ValueError("`generate` needs the model's `tokenizer` (an FSQVAE); use `generate_tokens` for tokens.")
        tokens = self.generate_tokens(num_images, class_labels, seed, batch_size, settings, **changes)
        return self.tokenizer.decode(tokens, batch_size=batch_size)

    @property
    def prior_variables(self) -> list[Any]:
        """The variables of the transformer (not the tokenizer's): what a generator preset's file holds."""
        skip = {id(v) for v in self.tokenizer.variables} if self.tokenizer is not None else set()
        return [v for v in self.variables if id(v) not in skip]

    @classmethod
    def for_tokenizer(cls, tokenizer: Any, num_classes: int = 0, factorized: bool = False, **kwargs: Any) -> "MaskGIT":
        """A MaskGIT over the token grid of ``tokenizer`` (an FSQVAE with one index per latent position);
        ``factorized``: with a head per symbol of its quantizer (``alphabet_sizes``: FSQ's levels)."""
        if tokenizer.downsampling_factor is None:
            raise ValueError("`tokenizer` must code a spatial grid (a conv FSQVAE), not a global latent.")
        latent_shape = tokenizer.encoder.compute_output_shape((1, *tokenizer.image_shape))
        index_shape = tuple(tokenizer.quantizer.indices_shape(latent_shape))
        if len(index_shape) != 3:
            raise ValueError(f"`tokenizer` must give one index per grid position; its indices are {index_shape}.")
        if not isinstance(factorized, bool):
            raise ValueError(f"`factorized` must be True or False; received {factorized!r}.")
        levels = tokenizer.quantizer.alphabet_sizes if factorized else None
        if factorized and levels is None:
            raise ValueError(
                f"`factorized` needs a quantizer whose indices split into symbols (FSQ, LFQ); "
                f"{type(tokenizer.quantizer).__name__} has none."
            )
        model = cls(
            tokenizer.quantizer.codebook_size,
            index_shape[1:],
            num_classes,
            factorized_levels=levels,
            tokenizer=tokenizer,
            **kwargs,
        )
        model.build()
        return model

    @classmethod
    def from_preset(cls, name: str, load_weights: bool = True) -> "MaskGIT":
        """Generator preset ``name`` (``keras_fsq.presets.GENERATORS``): its tokenizer preset with shipped
        weights, and the transformer with its own (``load_weights``; offline, shipped in the package)."""
        from keras_fsq import presets
        from keras_fsq.models import FSQVAE
        from keras_fsq.preset_weights import read_weights

        if not isinstance(load_weights, bool):
            raise ValueError(f"`load_weights` must be True or False; received {load_weights!r}.")
        record = presets.resolve_generator(name)
        model = cls.for_tokenizer(FSQVAE.from_preset(record.tokenizer), **record.model)
        if load_weights:
            with record.weights_file().open("rb") as file:
                read_weights(model, file, optional=model.tokenizer.variables)
        return model

    def get_config(self) -> Config:
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "grid_shape": list(self.grid_shape),
                "num_classes": self.num_classes,
                "width": self.width,
                "depth": self.depth,
                "heads": self.heads,
                "mlp_ratio": self.mlp_ratio,
                "dropout": self.dropout,
                "class_dropout": self.class_dropout,
                "factorized_levels": self.factorized_levels,
                "tokenizer": None if self.tokenizer is None else keras.saving.serialize_keras_object(self.tokenizer),
                "seed": self.seed,
            }
        )
        return config

    @classmethod
    def from_config(cls, config: Config) -> "MaskGIT":
        config = dict(config)
        if config.get("tokenizer") is not None:
            config["tokenizer"] = keras.saving.deserialize_keras_object(config["tokenizer"])
        return cls(**config)
