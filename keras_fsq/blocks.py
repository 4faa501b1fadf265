"""Encoder and decoder blocks.

Three families:

* ``Encoder`` / ``Decoder``: the paper's global-vector autoencoder for fixed
  image sizes (32x32 on CIFAR-10). ``n`` x [Conv2D k4 s2 -> BatchNorm -> ReLU],
  Flatten, Dense to ``num_latents * code_dim``, reshaped to
  ``(num_latents, code_dim)``; the decoder mirrors it with Dense to
  ``[H/2^n, W/2^n, width]`` and ``n`` Conv2DTranspose k4 s2, sigmoid output.
* ``ConvEncoder`` / ``ConvDecoder``: fully convolutional, the latent is a
  spatial grid ``(H/s, W/s, code_dim)`` with stride ``s = 2^n``, so any image
  whose sides are multiples of ``s`` can be coded (the compression path).
* ``ResidualEncoder`` / ``ResidualDecoder``: the same spatial grid, with
  pre-activation residual blocks at every resolution and an optional
  self-attention block at the lowest one (the blocks the presets use).

Every encoder is an ``ImageEncoder`` and declares ``downsampling_factor``: the
side in pixels of one latent grid cell, or ``None`` for a global latent.

The sigmoid image head computes in float32 even under mixed precision.
``norm_momentum`` is the BatchNorm moving-average momentum: lower it (e.g.
0.9) for runs of a few hundred steps, whose inference statistics would
otherwise still be close to their initial values.
"""

from collections.abc import Sequence
from typing import Any, Optional

import keras
import numpy as np

from keras_fsq.types import Config, Shape, Tensor
from keras_fsq.validation import positive_int


def _validate_widths(widths: Any, name: str = "widths") -> list[int]:
    widths = list(widths) if not isinstance(widths, (str, bytes)) and hasattr(widths, "__iter__") else None
    if not widths or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths):
        raise ValueError(f"`{name}` must be a non-empty list of positive ints; received {widths!r}.")
    return widths


def _validate_momentum(momentum: float) -> float:
    if not 0 <= momentum < 1:
        raise ValueError(f"`norm_momentum` must be in [0, 1); received {momentum!r}.")
    return float(momentum)


def _downsample(width: int, name: str, momentum: float) -> list[keras.layers.Layer]:
    return [
        keras.layers.Conv2D(width, 4, strides=2, padding="same", name=f"{name}_conv"),
        keras.layers.BatchNormalization(momentum=momentum, name=f"{name}_bn"),
        keras.layers.ReLU(name=f"{name}_relu"),
    ]


def _upsample(width: int, name: str, momentum: float) -> list[keras.layers.Layer]:
    return [
        keras.layers.Conv2DTranspose(width, 4, strides=2, padding="same", name=f"{name}_deconv"),
        keras.layers.BatchNormalization(momentum=momentum, name=f"{name}_bn"),
        keras.layers.ReLU(name=f"{name}_relu"),
    ]


class LayerStack(keras.layers.Layer):
    """Runs ``self.stack`` (a list of layers) in order; builds each in turn."""

    def build(self, input_shape: Shape) -> None:
        shape = tuple(input_shape)
        for layer in self.stack:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)

    def call(self, inputs: Tensor, training: Optional[bool] = None) -> Tensor:
        x = inputs
        for layer in self.stack:
            x = layer(x, training=training)
        return x

    def compute_output_shape(self, input_shape: Shape) -> Any:
        shape = tuple(input_shape)
        for layer in self.stack:
            shape = layer.compute_output_shape(shape)
        return shape


class ImageEncoder(LayerStack):
    """An encoder of images; ``downsampling_factor`` is the side in pixels of one latent cell (``None``: global)."""

    @property
    def downsampling_factor(self) -> int | None:
        return None


@keras.saving.register_keras_serializable(package="keras_fsq")
class Encoder(ImageEncoder):
    """The paper's encoder: images (H, W, C) -> latents (num_latents, code_dim); a global latent."""

    def __init__(
        self,
        num_latents: int = 16,
        code_dim: int = 4,
        widths: Sequence[int] = (32, 64, 128, 256),
        norm_momentum: float = 0.99,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.widths = _validate_widths(widths)
        self.norm_momentum = _validate_momentum(norm_momentum)
        for name, value in (("num_latents", num_latents), ("code_dim", code_dim)):
            positive_int(value, name)
        self.num_latents, self.code_dim = num_latents, code_dim
        self.stack = [
            layer for i, w in enumerate(self.widths) for layer in _downsample(w, f"down{i}", self.norm_momentum)
        ]
        self.stack += [
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(num_latents * code_dim, name="to_latent"),
            keras.layers.Reshape((num_latents, code_dim), name="latents"),
        ]

    def get_config(self) -> Config:
        return {
            **super().get_config(),
            "num_latents": self.num_latents,
            "code_dim": self.code_dim,
            "widths": self.widths,
            "norm_momentum": self.norm_momentum,
        }


@keras.saving.register_keras_serializable(package="keras_fsq")
class Decoder(LayerStack):
    """The paper's decoder: latents (num_latents, code_dim) -> images in [0, 1].

    Dense to ``[H/2^n, W/2^n, widths[0]]``, then Conv2DTranspose k4 s2 through
    ``widths[1:]`` (with BatchNorm and ReLU) and a last one to ``channels``
    with a sigmoid: ``n = len(widths)`` doublings in all.
    """

    def __init__(
        self,
        image_shape: Sequence[int] = (32, 32, 3),
        widths: Sequence[int] = (256, 128, 64, 32),
        norm_momentum: float = 0.99,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.widths = _validate_widths(widths)
        self.norm_momentum = _validate_momentum(norm_momentum)
        self.image_shape = tuple(int(s) for s in image_shape)
        height, width, channels = self.image_shape
        stride = 2 ** len(self.widths)
        if height % stride or width % stride:
            raise ValueError(f"`image_shape` {self.image_shape} must have sides divisible by 2^len(widths) = {stride}.")
        start = (height // stride, width // stride, self.widths[0])
        self.stack = [
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(start[0] * start[1] * start[2], name="from_latent"),
            keras.layers.Reshape(start, name="grid"),
            keras.layers.ReLU(name="grid_relu"),
        ]
        self.stack += [
            layer for i, w in enumerate(self.widths[1:]) for layer in _upsample(w, f"up{i}", self.norm_momentum)
        ]
        self.stack.append(
            keras.layers.Conv2DTranspose(
                channels, 4, strides=2, padding="same", activation="sigmoid", dtype="float32", name="image"
            )
        )

    def get_config(self) -> Config:
        return {
            **super().get_config(),
            "image_shape": list(self.image_shape),
            "widths": self.widths,
            "norm_momentum": self.norm_momentum,
        }


@keras.saving.register_keras_serializable(package="keras_fsq")
class ConvEncoder(ImageEncoder):
    """Fully convolutional encoder: (H, W, C) -> (H/2^n, W/2^n, code_dim)."""

    def __init__(
        self, code_dim: int = 4, widths: Sequence[int] = (64, 128, 128), norm_momentum: float = 0.99, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.widths = _validate_widths(widths)
        self.norm_momentum = _validate_momentum(norm_momentum)
        code_dim = positive_int(code_dim, "code_dim")
        self.code_dim = code_dim
        self.stack = [
            layer for i, w in enumerate(self.widths) for layer in _downsample(w, f"down{i}", self.norm_momentum)
        ]
        self.stack.append(keras.layers.Conv2D(code_dim, 1, name="latents"))

    @property
    def downsampling_factor(self) -> int:
        return 2 ** len(self.widths)

    def get_config(self) -> Config:
        return {
            **super().get_config(),
            "code_dim": self.code_dim,
            "widths": self.widths,
            "norm_momentum": self.norm_momentum,
        }


@keras.saving.register_keras_serializable(package="keras_fsq")
class ConvDecoder(LayerStack):
    """Fully convolutional decoder: (h, w, code_dim) -> (h 2^n, w 2^n, channels) in [0, 1]."""

    def __init__(
        self, channels: int = 3, widths: Sequence[int] = (128, 128, 64), norm_momentum: float = 0.99, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.widths = _validate_widths(widths)
        self.norm_momentum = _validate_momentum(norm_momentum)
        self.channels = int(channels)
        self.stack = [keras.layers.Conv2D(self.widths[0], 1, name="from_latent"), keras.layers.ReLU(name="grid_relu")]
        self.stack += [
            layer for i, w in enumerate(self.widths[1:]) for layer in _upsample(w, f"up{i}", self.norm_momentum)
        ]
        self.stack.append(
            keras.layers.Conv2DTranspose(
                self.channels, 4, strides=2, padding="same", activation="sigmoid", dtype="float32", name="image"
            )
        )

    def get_config(self) -> Config:
        return {
            **super().get_config(),
            "channels": self.channels,
            "widths": self.widths,
            "norm_momentum": self.norm_momentum,
        }


NORMALIZATIONS = ("batch", "group", "none")


def _normalization(kind: str, channels: int, name: str, momentum: float) -> keras.layers.Layer:
    """BatchNormalization, GroupNormalization (8 groups, fewer when they do not divide ``channels``) or Identity."""
    if kind == "batch":
        return keras.layers.BatchNormalization(momentum=momentum, name=name)
    if kind == "group":
        return keras.layers.GroupNormalization(groups=_groups(channels), name=name)
    return keras.layers.Identity(name=name)


def _validate_choice(value: str, choices: Sequence[str], name: str) -> str:
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {choices}; received {value!r}.")
    return value


@keras.saving.register_keras_serializable(package="keras_fsq")
class ResidualBlock(keras.layers.Layer):
    """Pre-activation residual block: ``x + conv3(act(norm(conv3(act(norm(x))))))``.

    A 1x1 convolution projects the skip path when the width changes.
    ``normalization`` is ``"batch"``, ``"group"`` (8 groups, or fewer for narrow
    layers) or ``"none"``; ``activation`` any Keras activation name.
    """

    def __init__(
        self,
        width: int,
        normalization: str = "batch",
        activation: str = "relu",
        norm_momentum: float = 0.99,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.width = _validate_widths([width], "width")[0]
        self.normalization = _validate_choice(normalization, NORMALIZATIONS, "normalization")
        self.activation = activation
        self.activation_fn = keras.activations.get(activation)
        self.norm_momentum = _validate_momentum(norm_momentum)

    def build(self, input_shape: Shape) -> None:
        channels = input_shape[-1]
        self.norm1 = _normalization(self.normalization, channels, "norm1", self.norm_momentum)
        self.conv1 = keras.layers.Conv2D(self.width, 3, padding="same", name="conv1")
        self.norm2 = _normalization(self.normalization, self.width, "norm2", self.norm_momentum)
        self.conv2 = keras.layers.Conv2D(self.width, 3, padding="same", name="conv2")
        self.skip = None if channels == self.width else keras.layers.Conv2D(self.width, 1, name="skip")
        self.norm1.build(input_shape)
        self.conv1.build(input_shape)
        inner = tuple(input_shape[:-1]) + (self.width,)
        self.norm2.build(inner)
        self.conv2.build(inner)
        if self.skip is not None:
            self.skip.build(input_shape)

    def call(self, inputs: Tensor, training: Optional[bool] = None) -> Tensor:
        x = self.conv1(self.activation_fn(self.norm1(inputs, training=training)))
        x = self.conv2(self.activation_fn(self.norm2(x, training=training)))
        return x + (inputs if self.skip is None else self.skip(inputs))

    def compute_output_shape(self, input_shape: Shape) -> Any:
        return tuple(input_shape[:-1]) + (self.width,)

    def get_config(self) -> Config:
        return {
            **super().get_config(),
            "width": self.width,
            "normalization": self.normalization,
            "activation": self.activation,
            "norm_momentum": self.norm_momentum,
        }


def _groups(channels: int) -> int:
    """The largest of 8, 4, 2, 1 that divides ``channels``."""
    return next(g for g in (8, 4, 2, 1) if channels % g == 0)


@keras.saving.register_keras_serializable(package="keras_fsq")
class SpatialSelfAttention(keras.layers.Layer):
    """``x + MultiHeadAttention(norm(x))`` over the ``h * w`` positions of a feature map (any size)."""

    def __init__(self, num_heads: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        num_heads = positive_int(num_heads, "num_heads")
        self.num_heads = num_heads

    def build(self, input_shape: Shape) -> None:
        channels = input_shape[-1]
        self.norm = keras.layers.LayerNormalization(name="norm")
        self.attention = keras.layers.MultiHeadAttention(self.num_heads, channels // self.num_heads, name="attention")
        sequence = (input_shape[0], None, channels)
        self.norm.build(sequence)
        self.attention.build(sequence, sequence)

    def call(self, inputs: Tensor) -> Tensor:
        shape = keras.ops.shape(inputs)
        sequence = keras.ops.reshape(inputs, (shape[0], -1, shape[-1]))
        normed = self.norm(sequence)
        return inputs + keras.ops.reshape(self.attention(normed, normed), shape)

    def compute_output_shape(self, input_shape: Shape) -> Any:
        return tuple(input_shape)

    def get_config(self) -> Config:
        return {**super().get_config(), "num_heads": self.num_heads}


def _residual_config(
    widths: Sequence[int], depth: int, normalization: str, activation: str, attention: bool, norm_momentum: float
) -> tuple[list[int], int, float]:
    widths = _validate_widths(widths)
    depth = positive_int(depth, "depth", minimum=0)
    _validate_choice(normalization, NORMALIZATIONS, "normalization")
    keras.activations.get(activation)  # raises ValueError for an unknown name
    if not isinstance(attention, bool):
        raise ValueError(f"`attention` must be True or False; received {attention!r}.")
    return widths, depth, _validate_momentum(norm_momentum)


@keras.saving.register_keras_serializable(package="keras_fsq")
class ResidualEncoder(ImageEncoder):
    """Residual encoder: (H, W, C) -> (H/2^n, W/2^n, code_dim), ``n = len(widths)``.

    Conv3x3 stem at ``widths[0]``; per width ``w``: Conv k4 s2 to ``w``, then
    ``depth`` ``ResidualBlock(w)``; optional ``SpatialSelfAttention`` at the
    lowest resolution; norm -> activation -> Conv1x1 to ``code_dim``.
    """

    def __init__(
        self,
        code_dim: int = 4,
        widths: Sequence[int] = (64, 128),
        depth: int = 1,
        normalization: str = "batch",
        activation: str = "relu",
        attention: bool = False,
        norm_momentum: float = 0.99,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        code_dim = positive_int(code_dim, "code_dim")
        self.widths, self.depth, self.norm_momentum = _residual_config(
            widths, depth, normalization, activation, attention, norm_momentum
        )
        self.code_dim, self.normalization, self.activation, self.attention = (
            code_dim,
            normalization,
            activation,
            attention,
        )
        block: dict[str, Any] = dict(
            normalization=normalization, activation=activation, norm_momentum=self.norm_momentum
        )
        self.stack = [keras.layers.Conv2D(self.widths[0], 3, padding="same", name="stem")]
        for i, w in enumerate(self.widths):
            self.stack.append(keras.layers.Conv2D(w, 4, strides=2, padding="same", name=f"down{i}"))
            self.stack += [ResidualBlock(w, name=f"down{i}_block{j}", **block) for j in range(self.depth)]
        if attention:
            self.stack.append(SpatialSelfAttention(name="attention"))
        self.stack += [
            _normalization(normalization, self.widths[-1], "head_norm", self.norm_momentum),
            keras.layers.Activation(activation, name="head_activation"),
            keras.layers.Conv2D(code_dim, 1, name="latents"),
        ]

    @property
    def downsampling_factor(self) -> int:
        return 2 ** len(self.widths)

    def get_config(self) -> Config:
        return {
            **super().get_config(),
            "code_dim": self.code_dim,
            "widths": self.widths,
            "depth": self.depth,
            "normalization": self.normalization,
            "activation": self.activation,
            "attention": self.attention,
            "norm_momentum": self.norm_momentum,
        }


@keras.saving.register_keras_serializable(package="keras_fsq")
class ResidualDecoder(LayerStack):
    """Residual decoder: (h, w, code_dim) -> (h 2^n, w 2^n, channels) in [0, 1], ``n = len(widths)``.

    Conv3x3 from the codes to ``widths[0]``; optional ``SpatialSelfAttention``;
    per width ``w``: ``depth`` ``ResidualBlock(w)``, then ConvTranspose k4 s2 to
    ``w``; norm -> activation -> Conv3x3 to ``channels`` with a float32 sigmoid.
    """

    def __init__(
        self,
        channels: int = 3,
        widths: Sequence[int] = (128, 64),
        depth: int = 1,
        normalization: str = "batch",
        activation: str = "relu",
        attention: bool = False,
        norm_momentum: float = 0.99,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.widths, self.depth, self.norm_momentum = _residual_config(
            widths, depth, normalization, activation, attention, norm_momentum
        )
        channels = positive_int(channels, "channels")
        self.channels, self.normalization, self.activation, self.attention = (
            channels,
            normalization,
            activation,
            attention,
        )
        block: dict[str, Any] = dict(
            normalization=normalization, activation=activation, norm_momentum=self.norm_momentum
        )
        self.stack = [keras.layers.Conv2D(self.widths[0], 3, padding="same", name="from_latent")]
        if attention:
            self.stack.append(SpatialSelfAttention(name="attention"))
        for i, w in enumerate(self.widths):
            self.stack += [ResidualBlock(w, name=f"up{i}_block{j}", **block) for j in range(self.depth)]
            self.stack.append(keras.layers.Conv2DTranspose(w, 4, strides=2, padding="same", name=f"up{i}"))
        self.stack += [
            _normalization(normalization, self.widths[-1], "head_norm", self.norm_momentum),
            keras.layers.Activation(activation, name="head_activation"),
            keras.layers.Conv2D(channels, 3, padding="same", activation="sigmoid", dtype="float32", name="image"),
        ]

    def get_config(self) -> Config:
        return {
            **super().get_config(),
            "channels": self.channels,
            "widths": self.widths,
            "depth": self.depth,
            "normalization": self.normalization,
            "activation": self.activation,
            "attention": self.attention,
            "norm_momentum": self.norm_momentum,
        }


@keras.saving.register_keras_serializable(package="keras_fsq")
class GDN(keras.layers.Layer):
    """Generalized divisive normalization (Ballé et al. 2016) over the last axis.

    ``y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2)`` (``inverse=True``: times
    instead of divided by, IGDN). ``beta = b^2 + 1e-6`` and ``gamma = g^2``
    stay positive; initialised to ``beta = 1``, ``gamma = 0.1 I + 0.001``.
    """

    def __init__(self, inverse: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.inverse = bool(inverse)

    def build(self, input_shape: Shape) -> None:
        channels = int(input_shape[-1])
        self.beta_root = self.add_weight(shape=(channels,), initializer="ones", name="beta_root")
        gamma_root = np.sqrt(0.1 * np.eye(channels) + 0.001).astype("float32")
        self.gamma_root = self.add_weight(
            shape=(channels, channels), initializer=keras.initializers.Constant(gamma_root), name="gamma_root"
        )

    def call(self, inputs: Tensor) -> Tensor:
        ops = keras.ops
        gamma = ops.square(self.gamma_root)
        norm = ops.sqrt(
            ops.add(ops.matmul(ops.square(inputs), ops.transpose(gamma)), ops.square(self.beta_root) + 1e-6)
        )
        return ops.multiply(inputs, norm) if self.inverse else ops.divide(inputs, norm)

    def compute_output_shape(self, input_shape: Shape) -> Any:
        return tuple(input_shape)

    def get_config(self) -> Config:
        return {**super().get_config(), "inverse": self.inverse}


@keras.saving.register_keras_serializable(package="keras_fsq")
class GDNEncoder(ImageEncoder):
    """Analysis transform for photos: (H, W, C) -> (H/2^n, W/2^n, code_dim), ``n = len(widths)``.

    Per width: Conv k5 s2 -> GDN (Ballé et al. 2017); then Conv k3 to ``code_dim``.
    """

    def __init__(self, code_dim: int = 4, widths: Sequence[int] = (128, 128, 128, 128), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.widths = _validate_widths(widths)
        code_dim = positive_int(code_dim, "code_dim")
        self.code_dim = code_dim
        self.stack = []
        for i, w in enumerate(self.widths):
            self.stack += [
                keras.layers.Conv2D(w, 5, strides=2, padding="same", name=f"down{i}"),
                GDN(name=f"down{i}_gdn"),
            ]
        self.stack.append(keras.layers.Conv2D(code_dim, 3, padding="same", name="latents"))

    @property
    def downsampling_factor(self) -> int:
        return 2 ** len(self.widths)

    def get_config(self) -> Config:
        return {**super().get_config(), "code_dim": self.code_dim, "widths": self.widths}


@keras.saving.register_keras_serializable(package="keras_fsq")
class GDNDecoder(LayerStack):
    """Synthesis transform: (h, w, code_dim) -> (h 2^n, w 2^n, channels) in [0, 1], ``n = len(widths)``.

    Conv k3 from the codes to ``widths[0]`` -> IGDN; per further width:
    Conv2DTranspose k5 s2 -> IGDN; a last Conv2DTranspose k5 s2 to ``channels``, sigmoid.
    """

    def __init__(self, channels: int = 3, widths: Sequence[int] = (128, 128, 128, 128), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.widths = _validate_widths(widths)
        self.channels = int(channels)
        self.stack = [
            keras.layers.Conv2D(self.widths[0], 3, padding="same", name="from_latent"),
            GDN(inverse=True, name="from_latent_igdn"),
        ]
        for i, w in enumerate(self.widths[1:]):
            self.stack += [
                keras.layers.Conv2DTranspose(w, 5, strides=2, padding="same", name=f"up{i}"),
                GDN(inverse=True, name=f"up{i}_igdn"),
            ]
        self.stack.append(
            keras.layers.Conv2DTranspose(
                self.channels, 5, strides=2, padding="same", activation="sigmoid", dtype="float32", name="image"
            )
        )

    def get_config(self) -> Config:
        return {**super().get_config(), "channels": self.channels, "widths": self.widths}
