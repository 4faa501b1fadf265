"""The codecs' post-filter: the Keras layer that trains it and the NumPy filter that runs it compute the same."""

import keras
import numpy as np
import pytest

from keras_fsq.compression import dct_engine, post_filter
from keras_fsq.compression.dct_engine import conv3x3
from keras_fsq.post_filter import PostFilter, numpy_weights


def random_layer(seed=0):
    layer = PostFilter(qualities=3, width=8)
    layer([np.zeros((1, 16, 16, 3), "float32"), np.zeros((1,), "int32")])
    rng = np.random.default_rng(seed)
    for weight in layer.weights:  # conv_4 and the embedding start at 0: give every weight a value
        weight.assign(rng.normal(0, 0.2, weight.shape).astype("float32"))
    return layer


def test_the_numpy_filter_computes_what_the_keras_layer_computes():
    layer = random_layer()
    images = np.random.default_rng(1).uniform(size=(2, 24, 40, 3)).astype("float32")
    qualities = np.array([0, 2], "int32")
    expected = np.clip(keras.ops.convert_to_numpy(layer([images, qualities])), 0, 1)
    assert np.abs(expected - images).max() > 0.05  # the filter moves pixels: the comparison can fail
    for image, quality, want in zip(images, qualities, expected):
        got = post_filter.PostFilter(numpy_weights(layer), int(quality))(image)
        np.testing.assert_allclose(got, want, atol=2e-5)


def test_strips_compute_what_the_whole_image_computes(monkeypatch):
    filter_ = post_filter.PostFilter(numpy_weights(random_layer(3)), 1)
    image = np.random.default_rng(4).uniform(size=(70, 18, 3)).astype("float32")
    whole = filter_(image)
    monkeypatch.setattr(post_filter, "STRIP_ROWS", 8)  # 9 strips with their halos
    monkeypatch.setattr(dct_engine, "CHUNK_ROWS", 3)
    np.testing.assert_allclose(filter_(image), whole, atol=1e-6)
    np.testing.assert_array_equal(filter_(image[None])[0], filter_(image))


def conv2d_reference(x, kernel, bias):
    """Keras' Conv2D with ``padding="same"``, as nine shifted products."""
    padded = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    out = np.broadcast_to(bias, (*x.shape[:2], kernel.shape[-1])).astype("float64")
    for row in range(3):
        for column in range(3):
            out = out + padded[row : row + x.shape[0], column : column + x.shape[1]] @ kernel[row, column]
    return out


@pytest.mark.parametrize("shape", [(1, 1, 3), (2, 9, 12), (7, 5, 4), (33, 17, 32)])
def test_the_single_product_convolution_is_keras_convolution(shape):
    rng = np.random.default_rng(5)
    x = rng.normal(size=shape).astype("float32")
    kernel, bias = rng.normal(size=(3, 3, shape[2], 6)).astype("float32"), rng.normal(size=6).astype("float32")
    np.testing.assert_allclose(conv3x3(x, kernel, bias), conv2d_reference(x, kernel, bias), atol=1e-4)


def test_bad_arguments_are_refused_by_name():
    weights = numpy_weights(random_layer())
    with pytest.raises(ValueError, match="quality"):
        post_filter.PostFilter(weights, 3)
    with pytest.raises(ValueError, match="weights"):
        post_filter.PostFilter({"quality_embedding": weights["quality_embedding"]}, 0)
    with pytest.raises(ValueError, match="even sides"):
        post_filter.PostFilter(weights, 0)(np.zeros((5, 8, 3), "float32"))
    for name, value in (("qualities", 0), ("width", True)):
        with pytest.raises(ValueError, match=name):
            PostFilter(**{name: value})


def test_the_layer_round_trips_through_its_config():
    layer = PostFilter(qualities=4, width=6, name="pf")
    restored = PostFilter.from_config(layer.get_config())
    assert (restored.qualities, restored.width, restored.name) == (4, 6, "pf")
