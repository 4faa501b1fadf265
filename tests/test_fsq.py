import math

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from keras import ops

from keras_fsq import FSQ, straight_through_round
from tests.conftest import gradient
from tests.fsq_reference import reference_fsq

LEVEL_SETS = [[8, 6, 5], [8, 5, 5, 5], [7, 5, 5, 5, 5], [8, 8, 8, 6, 5], [8, 8, 8, 5, 5, 5], [2, 3, 4], [2]]


@pytest.mark.parametrize("levels", LEVEL_SETS)
@pytest.mark.parametrize("temperature", [1.0, 0.3])
def test_matches_numpy_reference(levels, temperature):
    rng = np.random.default_rng(1)
    z = rng.normal(scale=2.0, size=(64, len(levels))).astype("float32")
    codes, indices = FSQ(levels, temperature=temperature)(z, return_indices=True)
    ref_codes, ref_indices, ref_grad = reference_fsq(z, levels, temperature)
    np.testing.assert_allclose(ops.convert_to_numpy(codes), ref_codes, atol=1e-6)
    np.testing.assert_array_equal(ops.convert_to_numpy(indices), ref_indices)
    layer = FSQ(levels, temperature=temperature)
    # atol: float32 tanh saturates where float64 still gives 1 - tanh^2 ~ 1e-6
    np.testing.assert_allclose(gradient(layer, z), ref_grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("levels", LEVEL_SETS)
def test_codes_lie_on_the_grid(levels):
    z = np.random.default_rng(2).normal(scale=5.0, size=(500, len(levels))).astype("float32")
    codes = ops.convert_to_numpy(FSQ(levels)(z))
    half_width = np.array(levels) // 2
    grid_units = codes * half_width
    np.testing.assert_allclose(grid_units, np.round(grid_units), atol=1e-6)
    assert np.all(grid_units >= -half_width - 1e-5)
    assert np.all(grid_units <= np.array(levels) - 1 - half_width + 1e-5)
    assert codes.min() >= -1 - 1e-6 and codes.max() <= 1 + 1e-6


def test_every_level_is_reachable_for_even_and_odd_levels():
    levels = [2, 3, 4, 5, 8]
    z = np.linspace(-6, 6, 2001, dtype="float32")[:, None] * np.ones((1, len(levels)), "float32")
    grid_units = ops.convert_to_numpy(FSQ(levels)(z)) * (np.array(levels) // 2)
    for dim, level in enumerate(levels):
        assert len(np.unique(grid_units[:, dim])) == level


@settings(max_examples=40, deadline=None)
@given(
    levels=st.lists(st.integers(2, 10), min_size=1, max_size=6),
    seed=st.integers(0, 2**31 - 1),
)
def test_index_code_round_trip_is_exact(levels, seed):
    layer = FSQ(levels)
    size = math.prod(levels)
    indices = np.random.default_rng(seed).integers(0, size, size=64).astype("int32")
    codes = layer.indices_to_codes(indices)
    np.testing.assert_array_equal(ops.convert_to_numpy(layer.codes_to_indices(codes)), indices)
    # and codes -> indices -> codes from the layer's own output
    z = np.random.default_rng(seed).normal(scale=3.0, size=(64, len(levels))).astype("float32")
    out, out_indices = layer(z, return_indices=True)
    np.testing.assert_array_equal(ops.convert_to_numpy(layer.indices_to_codes(out_indices)), ops.convert_to_numpy(out))


def test_implicit_codebook_lists_every_code_once():
    layer = FSQ([3, 4, 2])
    codebook = ops.convert_to_numpy(layer.implicit_codebook())
    assert codebook.shape == (24, 3)
    assert len({tuple(row) for row in codebook}) == 24
    np.testing.assert_array_equal(ops.convert_to_numpy(layer.codes_to_indices(codebook)), np.arange(24))


def test_straight_through_gradient_is_exactly_upstream():
    x = np.random.default_rng(3).normal(size=(7, 5)).astype("float32")
    upstream = np.random.default_rng(4).normal(size=(7, 5)).astype("float32")
    grad = gradient(lambda v: ops.multiply(straight_through_round(v), upstream), x)
    np.testing.assert_array_equal(grad, upstream)


def test_straight_through_forward_rounds():
    x = np.array([-1.7, -0.2, 0.4, 2.6], dtype="float32")
    np.testing.assert_array_equal(ops.convert_to_numpy(straight_through_round(x)), [-2, 0, 0, 3])


@pytest.mark.parametrize("shape", [(6, 4), (2, 9, 4), (2, 5, 3, 4), (1, 2, 2, 2, 4)])
def test_any_rank_channel_last(shape):
    layer = FSQ([8, 5, 5, 5])
    z = np.random.default_rng(5).normal(size=shape).astype("float32")
    codes, indices = layer(z, return_indices=True)
    assert tuple(codes.shape) == shape
    assert tuple(indices.shape) == shape[:-1]
    assert layer.compute_output_shape(shape) == shape


def test_symbolic_call_in_functional_model():
    inputs = keras.Input((4, 4, 3))
    codes, indices = FSQ([5, 5, 5])(inputs, return_indices=True)
    assert keras.backend.standardize_dtype(indices.dtype) == "int32" and tuple(indices.shape) == (None, 4, 4)
    model = keras.Model(inputs, [codes, indices])
    out_codes, out_indices = model.predict(np.zeros((2, 4, 4, 3), "float32"), verbose=0)
    assert out_codes.shape == (2, 4, 4, 3) and out_indices.shape == (2, 4, 4)


def test_temperature_changes_the_bound():
    z = np.linspace(-2, 2, 9, dtype="float32")[:, None]
    layer = FSQ([8], temperature=1.0)
    warm = ops.convert_to_numpy(layer.bound(z))
    layer.temperature.assign(0.25)
    cold = ops.convert_to_numpy(layer.bound(z))
    np.testing.assert_allclose(cold, reference_bound(z, [8], 0.25), atol=1e-5)
    assert np.abs(cold - warm).max() > 0.5
    # a colder temperature saturates sooner: more inputs land on the extreme levels
    assert np.sum(np.abs(ops.convert_to_numpy(layer(z))) >= 0.75) > np.sum(
        np.abs(ops.convert_to_numpy(FSQ([8])(z))) >= 0.75
    )


def reference_bound(z, levels, temperature):
    levels = np.asarray(levels, dtype=np.float64)
    half_l = (levels - 1) * (1 - 1e-3) / 2
    offset = np.where(levels % 2 == 0, 0.5, 0.0)
    return np.tanh(z / temperature + np.arctanh(np.where(offset < half_l, offset / half_l, 0.0))) * half_l - offset


def test_temperature_is_a_non_trainable_variable():
    layer = FSQ([5, 5])
    layer.build((None, 2))
    assert layer.temperature in layer.non_trainable_variables
    assert not layer.trainable_variables


def test_mixed_precision_quantizes_in_float32():
    keras.config.set_dtype_policy("mixed_bfloat16")
    layer = FSQ([8, 8, 8, 5, 5, 5])
    z = np.random.default_rng(6).normal(scale=2.0, size=(128, 6)).astype("float32")
    codes, indices = layer(z, return_indices=True)
    assert keras.backend.standardize_dtype(codes.dtype) == "bfloat16"
    _, ref_indices, _ = reference_fsq(ops.convert_to_numpy(ops.cast(ops.cast(z, "bfloat16"), "float32")), layer.levels)
    np.testing.assert_array_equal(ops.convert_to_numpy(indices), ref_indices)


def test_usage_ema_moves_only_in_training():
    layer = FSQ([4, 3], usage_decay=0.5, track_usage=True)
    z = np.full((32, 2), 5.0, dtype="float32")  # saturates to the top level of each dim
    layer(z)
    before = ops.convert_to_numpy(layer.level_usage).copy()
    np.testing.assert_allclose(before[0], [0.25] * 4)
    np.testing.assert_allclose(before[1], [1 / 3] * 3 + [0.0])
    layer(z, training=True)
    after = ops.convert_to_numpy(layer.level_usage)
    np.testing.assert_allclose(after[0], [0.125, 0.125, 0.125, 0.625])
    np.testing.assert_allclose(after[1], [1 / 6, 1 / 6, 2 / 3, 0.0], atol=1e-6)
    assert ops.convert_to_numpy(layer.usage_perplexity())[0] < 4


def test_quantization_loss_value_and_entropy():
    levels = [5, 4]
    z = np.random.default_rng(7).normal(size=(50, 2)).astype("float32")
    layer = FSQ(levels, temperature=0.5, entropy_weight=0.1, loss_weight=1.0)
    layer(z, training=True)
    (loss,) = layer.losses
    bounded = reference_bound(z, levels, 0.5)
    mse = np.mean((bounded - np.round(bounded)) ** 2)
    positions = bounded + np.array(levels) // 2  # symbol units: the symbol is round(position)
    entropy = float(ops.convert_to_numpy(layer.soft_entropy(positions.astype("float32"))))
    # Each dimension over its own L_i grid points only (the 4-level one has no 5th).
    expected = []
    for i, level in enumerate(levels):
        grid = np.arange(level) - level // 2
        logits = -((bounded[:, i : i + 1] - grid) ** 2)
        p = (np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)).mean(axis=0)
        expected.append(-(p * np.log(p)).sum())
    np.testing.assert_allclose(entropy, np.mean(expected), rtol=1e-4)
    assert 0 < entropy < np.log(5)
    assert mse > 0  # the seed's commitment terms would add 2 mse / T; they carry no gradient (below)
    np.testing.assert_allclose(float(ops.convert_to_numpy(loss)), -0.1 * entropy, rtol=1e-4)


def test_the_seeds_commitment_terms_have_zero_gradient_under_the_ste():
    """Why FSQ leaves them out of its loss: (MSE(z_b, sg(z_hat)) + MSE(sg(z_b), z_hat)) / T trains nothing."""
    layer = FSQ([8, 5])
    z = np.random.default_rng(8).normal(size=(20, 2)).astype("float32")

    def commitment(v):
        bounded = layer.bound(v)
        rounded = straight_through_round(bounded)
        sg = ops.stop_gradient
        return (ops.mean(ops.square(bounded - sg(rounded))) + ops.mean(ops.square(sg(bounded) - rounded))) / 0.5

    assert float(ops.convert_to_numpy(commitment(ops.convert_to_tensor(z)))) > 0
    np.testing.assert_allclose(gradient(commitment, z), 0.0, atol=1e-7)


def test_inference_reports_the_loss_but_leaves_usage_alone():
    layer = FSQ([5, 5], loss_weight=1.0, track_usage=True)
    z = np.random.default_rng(9).normal(size=(30, 2)).astype("float32")
    layer(z, training=True)
    (training_loss,) = layer.losses
    usage = ops.convert_to_numpy(layer.level_usage).copy()
    layer(z, training=False)
    (inference_loss,) = layer.losses
    np.testing.assert_allclose(ops.convert_to_numpy(inference_loss), ops.convert_to_numpy(training_loss), rtol=1e-6)
    np.testing.assert_array_equal(ops.convert_to_numpy(layer.level_usage), usage)


@pytest.mark.parametrize(
    "levels, message",
    [
        ([], "must not be empty"),
        ([8, 1], ">= 2"),
        ([8, 0], ">= 2"),
        ([8, 2.5], "integers"),
        (["8"], "integers"),
        ([True, 3], "integers"),
        (8, "list of integers"),
        ("855", "list of integers"),
        ([1000] * 4, "int32"),
    ],
)
def test_bad_levels_raise_value_error(levels, message):
    with pytest.raises(ValueError, match=message):
        FSQ(levels)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": math.inf}, "temperature"),
        ({"temperature": math.nan}, "temperature"),
        ({"eps": 1.0}, "eps"),
        ({"eps": 0.26}, "eps"),  # levels 5: eps >= 1/4 merges the extreme levels into their neighbours
        ({"entropy_weight": math.nan}, "entropy_weight"),
        ({"loss_weight": math.inf}, "loss_weight"),
        ({"usage_decay": 1.0}, "usage_decay"),
    ],
)
def test_bad_hyperparameters_raise_value_error(kwargs, name):
    with pytest.raises(ValueError, match=name):
        FSQ([5, 5], **kwargs)


def test_largest_allowed_eps_still_reaches_every_level():
    levels = [5, 8]
    z = np.linspace(-40, 40, 4001, dtype="float32")[:, None] * np.ones((1, 2), "float32")
    grid_units = ops.convert_to_numpy(FSQ(levels, eps=0.99 / 7)(z)) * (np.array(levels) // 2)
    assert [len(np.unique(grid_units[:, dim])) for dim in range(2)] == levels


def test_built_layer_rejects_a_last_dimension_that_would_broadcast():
    layer = FSQ([8, 5, 5, 5])
    layer(np.zeros((2, 4), "float32"))
    with pytest.raises(ValueError, match="last dimension is 4"):
        layer(np.zeros((2, 1), "float32"))


def test_nan_latents_in_training_leave_level_usage_intact():
    layer = FSQ([5, 3], track_usage=True)
    z = np.random.default_rng(4).normal(size=(64, 2)).astype("float32")
    layer(z, training=True)
    before = ops.convert_to_numpy(layer.level_usage)
    layer(np.full((8, 2), np.nan, "float32"), training=True)
    np.testing.assert_array_equal(ops.convert_to_numpy(layer.level_usage), before)
    z[:5] = np.nan  # the finite rows still count
    layer(z, training=True)
    usage = ops.convert_to_numpy(layer.level_usage)
    assert np.isfinite(usage).all() and not np.array_equal(usage, before)
    np.testing.assert_allclose(usage.sum(axis=1), 1.0, atol=1e-5)


def test_wrong_last_dimension_raises_value_error():
    with pytest.raises(ValueError, match="last dimension is 4"):
        FSQ([8, 5, 5, 5])(np.zeros((2, 3), "float32"))


def test_nan_input_raises_value_error():
    z = np.zeros((2, 3), "float32")
    z[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        FSQ([5, 5, 5])(z)


def test_entropy_gradient_is_finite_for_unequal_levels():
    layer = FSQ([8, 3], entropy_weight=1.0)
    z = np.random.default_rng(9).normal(size=(20, 2)).astype("float32")
    grad = gradient(lambda v: layer.soft_entropy(ops.add(layer.bound(v), np.array([4.0, 1.0], "float32"))), z)
    assert np.all(np.isfinite(grad)) and np.abs(grad).max() > 0
