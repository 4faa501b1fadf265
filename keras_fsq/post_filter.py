"""The codecs' post-filter as a Keras layer, to train it; ``keras_fsq.compression.post_filter`` runs it.

``PostFilter`` computes what the NumPy filter computes (see that module for the math): images
``(N, H, W, 3)`` in [0, 1] with even sides and a quality index per image ``(N,)`` -> filtered images.
``numpy_weights(layer)`` gives the arrays the NumPy filter reads, under its names.
"""

import keras
from keras import ops


def _gelu(x):
    return keras.activations.gelu(x, approximate=True)  # the tanh form: the NumPy filter's, 15x faster there


@keras.saving.register_keras_serializable(package="keras_fsq")
class PostFilter(keras.layers.Layer):
    """A residual filter at half resolution conditioned on the codec quality.

    Args:
        qualities: how many codec qualities share the filter (one learned vector each).
        width: channels of the hidden layers.
    """

    def __init__(self, qualities=6, width=32, **kwargs):
        super().__init__(**kwargs)
        if isinstance(qualities, bool) or not isinstance(qualities, int) or qualities < 1:
            raise ValueError(f"`qualities` must be a positive int; received {qualities!r}.")
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ValueError(f"`width` must be a positive int; received {width!r}.")
        self.qualities, self.width = qualities, width
        self.convs = [
            keras.layers.Conv2D(width, 3, padding="same", name="conv_1"),
            keras.layers.Conv2D(width, 3, padding="same", name="conv_2"),
            keras.layers.Conv2D(width, 3, padding="same", name="conv_3"),
            keras.layers.Conv2D(12, 3, padding="same", kernel_initializer="zeros", name="conv_4"),
        ]

    def build(self, input_shape):
        image_shape = input_shape[0]
        half = (image_shape[0], None, None, 12)
        self.convs[0].build(half)
        self.convs[1].build((*half[:3], self.width))
        self.convs[2].build((*half[:3], self.width))
        self.convs[3].build((*half[:3], self.width))
        self.quality_embedding = self.add_weight(
            shape=(self.qualities, self.width), initializer="zeros", name="quality_embedding"
        )

    def call(self, inputs):
        images, quality = inputs
        height, width = ops.shape(images)[1], ops.shape(images)[2]
        squares = ops.reshape(images, (-1, height // 2, 2, width // 2, 2, 3))
        features = ops.reshape(ops.transpose(squares, (0, 1, 3, 2, 4, 5)), (-1, height // 2, width // 2, 12))
        embedding = ops.take(self.quality_embedding, ops.cast(quality, "int32"), axis=0)[:, None, None, :]
        hidden = _gelu(ops.add(self.convs[0](features), embedding))
        residual = self.convs[3](_gelu(self.convs[2](_gelu(self.convs[1](hidden)))))
        residual = ops.reshape(residual, (-1, height // 2, width // 2, 2, 2, 3))
        residual = ops.reshape(ops.transpose(residual, (0, 1, 3, 2, 4, 5)), (-1, height, width, 3))
        return ops.add(images, residual)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "qualities": self.qualities, "width": self.width}


def numpy_weights(layer: PostFilter) -> dict:
    """The layer's arrays under the names ``keras_fsq.compression.post_filter.PostFilter`` reads."""
    arrays = {"quality_embedding": keras.ops.convert_to_numpy(layer.quality_embedding)}
    for conv in layer.convs:
        arrays[f"{conv.name}/kernel"] = keras.ops.convert_to_numpy(conv.kernel)
        arrays[f"{conv.name}/bias"] = keras.ops.convert_to_numpy(conv.bias)
    return arrays
