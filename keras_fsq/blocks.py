"""Encoder and decoder blocks.

Two families:

* ``Encoder`` / ``Decoder``: the paper's global-vector autoencoder for fixed
  image sizes (32x32 on CIFAR-10). ``n`` x [Conv2D k4 s2 -> BatchNorm -> ReLU],
  Flatten, Dense to ``num_latents * code_dim``, reshaped to
  ``(num_latents, code_dim)``; the decoder mirrors it with Dense to
  ``[H/2^n, W/2^n, width]`` and ``n`` Conv2DTranspose k4 s2, sigmoid output.
* ``ConvEncoder`` / ``ConvDecoder``: fully convolutional, the latent is a
  spatial grid ``(H/s, W/s, code_dim)`` with stride ``s = 2^n``, so any image
  whose sides are multiples of ``s`` can be coded (the compression path).

The sigmoid image head computes in float32 even under mixed precision.
``norm_momentum`` is the BatchNorm moving-average momentum: lower it (e.g.
0.9) for runs of a few hundred steps, whose inference statistics would
otherwise still be close to their initial values.
"""

import keras


def _validate_widths(widths, name="widths"):
    widths = list(widths) if not isinstance(widths, (str, bytes)) and hasattr(widths, "__iter__") else None
    if not widths or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths):
        raise ValueError(f"`{name}` must be a non-empty list of positive ints; received {widths!r}.")
    return widths


def _validate_momentum(momentum):
    if not 0 <= momentum < 1:
        raise ValueError(f"`norm_momentum` must be in [0, 1); received {momentum!r}.")
    return float(momentum)


def _downsample(width, name, momentum):
    return [
        keras.layers.Conv2D(width, 4, strides=2, padding="same", name=f"{name}_conv"),
        keras.layers.BatchNormalization(momentum=momentum, name=f"{name}_bn"),
        keras.layers.ReLU(name=f"{name}_relu"),
    ]


def _upsample(width, name, momentum):
    return [
        keras.layers.Conv2DTranspose(width, 4, strides=2, padding="same", name=f"{name}_deconv"),
        keras.layers.BatchNormalization(momentum=momentum, name=f"{name}_bn"),
        keras.layers.ReLU(name=f"{name}_relu"),
    ]


class LayerStack(keras.layers.Layer):
    """Runs ``self.stack`` (a list of layers) in order; builds each in turn."""

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.stack:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)

    def call(self, inputs, training=None):
        x = inputs
        for layer in self.stack:
            x = layer(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.stack:
            shape = layer.compute_output_shape(shape)
        return shape


@keras.saving.register_keras_serializable(package="keras_fsq")
class Encoder(LayerStack):
    """The paper's encoder: images (H, W, C) -> latents (num_latents, code_dim)."""

    def __init__(self, num_latents=16, code_dim=4, widths=(32, 64, 128, 256), norm_momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        self.widths = _validate_widths(widths)
        self.norm_momentum = _validate_momentum(norm_momentum)
        for name, value in (("num_latents", num_latents), ("code_dim", code_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive int; received {value!r}.")
        self.num_latents, self.code_dim = num_latents, code_dim
        self.stack = [layer for i, w in enumerate(self.widths) for layer in _downsample(w, f"down{i}", self.norm_momentum)]
        self.stack += [
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(num_latents * code_dim, name="to_latent"),
            keras.layers.Reshape((num_latents, code_dim), name="latents"),
        ]

    def get_config(self):
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

    def __init__(self, image_shape=(32, 32, 3), widths=(256, 128, 64, 32), norm_momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        self.widths = _validate_widths(widths)
        self.norm_momentum = _validate_momentum(norm_momentum)
        self.image_shape = tuple(int(s) for s in image_shape)
        height, width, channels = self.image_shape
        stride = 2 ** len(self.widths)
        if height % stride or width % stride:
            raise ValueError(
                f"`image_shape` {self.image_shape} must have sides divisible by 2^len(widths) = {stride}."
            )
        start = (height // stride, width // stride, self.widths[0])
        self.stack = [
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(start[0] * start[1] * start[2], name="from_latent"),
            keras.layers.Reshape(start, name="grid"),
            keras.layers.ReLU(name="grid_relu"),
        ]
        self.stack += [layer for i, w in enumerate(self.widths[1:]) for layer in _upsample(w, f"up{i}", self.norm_momentum)]
        self.stack.append(
            keras.layers.Conv2DTranspose(channels, 4, strides=2, padding="same", activation="sigmoid", dtype="float32", name="image")
        )

    def get_config(self):
        return {
            **super().get_config(),
            "image_shape": list(self.image_shape),
            "widths": self.widths,
            "norm_momentum": self.norm_momentum,
        }


@keras.saving.register_keras_serializable(package="keras_fsq")
class ConvEncoder(LayerStack):
    """Fully convolutional encoder: (H, W, C) -> (H/2^n, W/2^n, code_dim)."""

    def __init__(self, code_dim=4, widths=(64, 128, 128), norm_momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        self.widths = _validate_widths(widths)
        self.norm_momentum = _validate_momentum(norm_momentum)
        if isinstance(code_dim, bool) or not isinstance(code_dim, int) or code_dim < 1:
            raise ValueError(f"`code_dim` must be a positive int; received {code_dim!r}.")
        self.code_dim = code_dim
        self.stack = [layer for i, w in enumerate(self.widths) for layer in _downsample(w, f"down{i}", self.norm_momentum)]
        self.stack.append(keras.layers.Conv2D(code_dim, 1, name="latents"))

    @property
    def stride(self):
        """Side length in pixels of one latent grid cell."""
        return 2 ** len(self.widths)

    def get_config(self):
        return {**super().get_config(), "code_dim": self.code_dim, "widths": self.widths, "norm_momentum": self.norm_momentum}


@keras.saving.register_keras_serializable(package="keras_fsq")
class ConvDecoder(LayerStack):
    """Fully convolutional decoder: (h, w, code_dim) -> (h 2^n, w 2^n, channels) in [0, 1]."""

    def __init__(self, channels=3, widths=(128, 128, 64), norm_momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        self.widths = _validate_widths(widths)
        self.norm_momentum = _validate_momentum(norm_momentum)
        self.channels = int(channels)
        self.stack = [keras.layers.Conv2D(self.widths[0], 1, name="from_latent"), keras.layers.ReLU(name="grid_relu")]
        self.stack += [layer for i, w in enumerate(self.widths[1:]) for layer in _upsample(w, f"up{i}", self.norm_momentum)]
        self.stack.append(
            keras.layers.Conv2DTranspose(self.channels, 4, strides=2, padding="same", activation="sigmoid", dtype="float32", name="image")
        )

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "widths": self.widths, "norm_momentum": self.norm_momentum}

