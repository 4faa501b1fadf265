"""Quantizers never return a wrong value silently: NaN, out-of-range indices, off-grid codes, inf, empty batches."""

import numpy as np
import pytest
from keras import ops

from keras_fsq import BSQ, FSQ, LFQ, AdaptiveFSQ, VectorQuantizer
from tests.conftest import BACKEND


def compiled(function):
    """``function`` compiled by the backend (TensorFlow, JAX); PyTorch runs it eagerly."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.function(function)
    if BACKEND == "jax":
        import jax

        return jax.jit(function)
    return None


@pytest.mark.parametrize(
    "layer",
    [FSQ([8, 5, 5, 5]), LFQ(4), BSQ(4), VectorQuantizer(16, 4, seed=0), AdaptiveFSQ([[3, 3, 3, 3], [5, 5, 5, 5]])],
    ids=["fsq", "lfq", "bsq", "vq", "adaptive"],
)
def test_a_nan_latent_gets_index_minus_one_in_training_and_compiled(layer):
    z = np.zeros((3, 4), "float32")
    z[1, 2] = np.nan
    _, indices = layer(z, training=True, return_indices=True)
    assert ops.convert_to_numpy(indices).tolist()[1] == -1
    assert min(ops.convert_to_numpy(indices)[[0, 2]]) >= 0
    with pytest.raises(ValueError, match="`inputs` contains NaN"):
        layer(z, return_indices=True)
    step = compiled(lambda x: layer(x, return_indices=True)[1])
    if step is not None:
        assert ops.convert_to_numpy(step(z)).tolist()[1] == -1


def test_a_nan_latent_gets_index_minus_one_in_any_rung_of_an_adaptive_fsq():
    """The rung a NaN latent lands in is the gate's (or exploration's) choice: -1 in the second rung too,
    not -1 plus the first rung's 81 codes."""
    layer = AdaptiveFSQ([[3, 3, 3, 3], [5, 5, 5, 5]], exploration=1.0, seed=0)  # a random rung every time
    z = np.zeros((64, 4), "float32")
    z[:, 2] = np.nan
    _, indices = layer(z, training=True, return_indices=True)
    assert (ops.convert_to_numpy(indices) == -1).all()


@pytest.mark.parametrize(
    "layer",
    [FSQ([8, 5, 5, 5]), LFQ(4), BSQ(4), VectorQuantizer(16, 4, seed=0), AdaptiveFSQ([[3, 3, 3, 3], [5, 5, 5, 5]])],
    ids=["fsq", "lfq", "bsq", "vq", "adaptive"],
)
def test_out_of_range_indices_are_refused_eagerly_and_clipped_when_compiled(layer):
    layer.build((None, 4))
    size = layer.codebook_size
    with pytest.raises(ValueError, match=rf"`indices` must lie in \[0, {size}\); received values in \[0, {size}\]"):
        layer.indices_to_codes(np.array([0, size], "int32"))
    with pytest.raises(ValueError, match=r"received values in \[-1, 0\]"):
        layer.indices_to_codes(np.array([-1, 0], "int32"))
    inverse = compiled(layer.indices_to_codes)
    if inverse is not None:
        clipped = ops.convert_to_numpy(inverse(np.array([-5, size + 7], "int32")))
        expected = ops.convert_to_numpy(layer.indices_to_codes(np.array([0, size - 1], "int32")))
        np.testing.assert_allclose(clipped, expected)


def test_codes_off_the_grid_are_refused():
    layer = FSQ([8, 5, 5, 5])
    codes = ops.convert_to_numpy(layer.indices_to_codes(np.arange(10, dtype="int32")))
    np.testing.assert_array_equal(ops.convert_to_numpy(layer.codes_to_indices(codes)), np.arange(10))
    with pytest.raises(ValueError, match="`codes` must lie on the grid"):
        layer.codes_to_indices(codes + 0.1)
    with pytest.raises(ValueError, match="`codes` must lie on the grid"):
        layer.codes_to_indices(np.full((1, 4), 3.0, "float32"))  # past the outer levels


def test_bsq_codes_of_infinite_latents_are_the_direction_of_the_infinity():
    z = np.array([[np.inf, 1.0, -2.0, 0.5], [-np.inf, np.inf, 1.0, 1.0], [1.0, -1.0, 1.0, -1.0]], "float32")
    codes, indices = BSQ(4)(z, return_indices=True)
    codes = ops.convert_to_numpy(codes)
    assert np.isfinite(codes).all()
    np.testing.assert_allclose(np.abs(codes), 0.5)  # on the sphere: +-1 / sqrt(4)
    np.testing.assert_array_equal(np.sign(codes[0]), [1, -1, -1, -1])  # u = (1, 0, 0, 0): zeros are bit 0
    np.testing.assert_array_equal(np.sign(codes[1]), [-1, 1, -1, -1])
    np.testing.assert_array_equal(np.sign(codes[2]), [1, -1, 1, -1])


@pytest.mark.parametrize(
    "layer", [FSQ([8, 5, 5, 5]), LFQ(4), BSQ(4), VectorQuantizer(16, 4, seed=0)], ids=["fsq", "lfq", "bsq", "vq"]
)
def test_an_empty_batch_is_a_value_error(layer):
    with pytest.raises(ValueError, match="`inputs` is an empty batch"):
        layer(np.zeros((0, 4), "float32"), return_indices=True)


def test_models_refuse_values_that_would_pass_silently():
    from keras_fsq import build_fsqvae
    from keras_fsq.validation import error_summary

    model = build_fsqvae(preset="fsq_cifar10")
    images = np.zeros((2, 32, 32, 3), "float32")
    images[1, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"`x` must lie in \[0, 1\]; received values in \[0, 0\] and NaN"):
        model.predict(images, verbose=0)  # would give index -1
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match="`x` holds no images"):
        model.fit(np.zeros((0, 32, 32, 3), "float32"), verbose=0)  # returned an empty History
    with pytest.raises(ValueError, match="latent_dim"):
        build_fsqvae(architecture="global", latent_dim=-5)
    for weight in (float("inf"), float("nan"), -1.0):  # one step at inf made every weight NaN
        with pytest.raises(ValueError, match="`adversarial_weight` must be a finite number >= 0"):
            build_fsqvae(preset="fsq_cifar10", adversarial_weight=weight)
    cut = ValueError("A total of 2 objects could not be loaded. Example error message for object <Dense>:\n\nshape")
    assert error_summary(cut).endswith("<Dense>: shape")
