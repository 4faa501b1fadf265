"""FSQ's options beyond the paper's quantizer.

Projections, codebooks, layouts, symmetric grid, noise dropout, symbols.
"""

import math

import keras
import numpy as np
import pytest
from keras import ops

from keras_fsq import FSQ
from keras_fsq.levels import levels_for_codebook_size
from tests.conftest import gradient
from tests.fsq_reference import reference_fsq, reference_symmetric_fsq


def numpy(x):
    return ops.convert_to_numpy(x)


def test_defaults_are_the_papers_quantizer_and_nothing_else():
    layer = FSQ([8, 5, 5, 5])
    layer(np.random.default_rng(0).normal(size=(16, 4)).astype("float32"), training=True)
    assert not layer.losses
    assert [v.name for v in layer.variables] == ["temperature"]


@pytest.mark.parametrize(
    "bits, levels",
    [(8, [8, 6, 5]), (10, [8, 5, 5, 5]), (12, [7, 5, 5, 5, 5]), (14, [8, 8, 8, 6, 5]), (16, [8, 8, 8, 5, 5, 5])],
)
def test_recommended_level_sets(bits, levels):
    assert levels_for_codebook_size(bits) == levels
    assert abs(math.log2(math.prod(levels)) - bits) < 0.25


def test_recommended_level_sets_refuse_other_sizes():
    with pytest.raises(ValueError, match="bits"):
        levels_for_codebook_size(9)


def test_symbols_are_the_per_dimension_level_indices():
    levels = [8, 5, 3]
    layer = FSQ(levels)
    z = np.random.default_rng(1).normal(scale=2, size=(50, 3)).astype("float32")
    _, indices = layer(z, return_indices=True)
    symbols = numpy(layer.indices_to_symbols(indices))
    codes, ref_indices, _ = reference_fsq(z, levels)
    np.testing.assert_array_equal(symbols, np.round(codes * (np.array(levels) // 2)) + np.array(levels) // 2)
    assert symbols.min() >= 0 and (symbols < np.array(levels)).all()
    np.testing.assert_array_equal(numpy(layer.symbols_to_indices(symbols)), ref_indices)
    assert layer.alphabet_sizes == levels


@pytest.mark.parametrize("levels", [[2], [2, 4, 3], [8, 5, 5, 5], [7, 6]])
@pytest.mark.parametrize("temperature", [1.0, 0.4])
def test_symmetric_grid_matches_numpy_reference(levels, temperature):
    z = np.random.default_rng(2).normal(scale=2, size=(200, len(levels))).astype("float32")
    layer = FSQ(levels, preserve_symmetry=True, temperature=temperature)
    codes, indices = layer(z, return_indices=True)
    ref_codes, ref_indices, ref_grad = reference_symmetric_fsq(z, levels, temperature)
    np.testing.assert_allclose(numpy(codes), ref_codes, atol=1e-6)
    np.testing.assert_array_equal(numpy(indices), ref_indices)
    np.testing.assert_allclose(gradient(layer, z), ref_grad, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(numpy(layer.indices_to_codes(indices)), ref_codes, atol=1e-6)
    codebook = numpy(layer.implicit_codebook())
    for dim, level in enumerate(levels):  # each grid: L points from -1 to 1, symmetric about 0
        np.testing.assert_allclose(np.unique(codebook[:, dim]), np.linspace(-1, 1, level), atol=1e-6)
    if levels == [2]:
        assert set(np.unique(numpy(codes))) == {-1.0, 1.0}


def test_noise_dropout_replaces_rounding_by_in_bin_noise_in_training_only():
    levels = np.array([8, 5])
    z = np.random.default_rng(3).normal(scale=2, size=(4000, 2)).astype("float32")
    ref_codes, ref_indices, ref_grad = reference_fsq(z, levels)
    half_width = levels // 2
    half_l = (levels - 1) * (1 - 1e-3) / 2
    offset = np.where(levels % 2 == 0, 0.5, 0.0)
    unrounded = (np.tanh(z + np.arctanh(offset / half_l)) * half_l - offset) / half_width  # bound(z) as a code
    layer = FSQ(list(levels), noise_dropout=0.5, seed=1)
    codes, indices = layer(z, training=True, return_indices=True)
    codes = numpy(codes)
    np.testing.assert_array_equal(numpy(indices), ref_indices)  # indices always come from rounding
    noisy = ~np.isclose(codes, ref_codes, atol=1e-6)
    assert 0.45 < noisy.mean() < 0.55
    noise = (codes - unrounded) * half_width  # u, in grid steps
    assert np.all(np.abs(noise[noisy]) <= 0.5 + 1e-5) and abs(noise[noisy].mean()) < 0.03
    assert 0.24 < np.abs(noise[noisy]).mean() < 0.26  # E|U(-1/2, 1/2)| = 1/4 (standard error 0.0023)
    np.testing.assert_allclose(gradient(lambda v: layer(v, training=True), z), ref_grad, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(numpy(layer(z)), ref_codes, atol=1e-6)  # inference: plain rounding
    everywhere = numpy(FSQ(list(levels), noise_dropout=1.0, seed=1)(z, training=True))
    assert np.isclose(everywhere, ref_codes, atol=1e-6).mean() < 0.01


def test_projections_map_any_channel_count_in_and_out():
    layer = FSQ([8, 5, 5, 5], dim=16)
    z = np.random.default_rng(4).normal(size=(3, 10, 16)).astype("float32")
    codes, indices = layer(z, return_indices=True)
    assert codes.shape == (3, 10, 16) and indices.shape == (3, 10)
    assert {v.name for v in layer.trainable_variables} == {"kernel", "bias"} and len(layer.trainable_variables) == 4
    np.testing.assert_allclose(numpy(layer.indices_to_codes(indices)), numpy(codes), atol=1e-5)
    grid = numpy(layer.project_in(z))
    ref_codes, ref_indices, _ = reference_fsq(grid, [8, 5, 5, 5])
    np.testing.assert_array_equal(numpy(indices), ref_indices)
    np.testing.assert_allclose(numpy(codes), numpy(layer.project_out(ref_codes.astype("float32"))), atol=1e-5)
    no_bias = FSQ([8, 5, 5, 5], dim=16, use_projection_bias=False)
    no_bias.build((None, 16))
    assert [v.shape for v in no_bias.trainable_variables] == [(16, 4), (4, 16)]


def test_codebooks_split_the_channels_and_share_the_levels():
    levels = [8, 5, 5, 5]
    layer = FSQ(levels, num_codebooks=3)
    z = np.random.default_rng(5).normal(scale=2, size=(2, 7, 12)).astype("float32")
    codes, indices = layer(z, return_indices=True)
    assert codes.shape == (2, 7, 12) and indices.shape == (2, 7, 3)
    ref_codes, ref_indices, _ = reference_fsq(z.reshape(2, 7, 3, 4), levels)
    np.testing.assert_allclose(numpy(codes), ref_codes.reshape(2, 7, 12), atol=1e-6)
    np.testing.assert_array_equal(numpy(indices), ref_indices)
    np.testing.assert_allclose(numpy(layer.indices_to_codes(indices)), ref_codes.reshape(2, 7, 12), atol=1e-6)
    assert layer.compute_output_spec(keras.KerasTensor((None, 7, 12)), return_indices=True)[1].shape == (None, 7, 3)


def test_channels_first_equals_channels_last_moved():
    z = np.random.default_rng(6).normal(scale=2, size=(2, 4, 5, 6)).astype("float32")
    first = FSQ([8, 5, 5, 5], data_format="channels_first")
    codes, indices = first(z, return_indices=True)
    last_codes, last_indices = FSQ([8, 5, 5, 5])(np.moveaxis(z, 1, -1), return_indices=True)
    np.testing.assert_array_equal(numpy(codes), np.moveaxis(numpy(last_codes), -1, 1))
    np.testing.assert_array_equal(numpy(indices), numpy(last_indices))
    spec = first.compute_output_spec(keras.KerasTensor((None, 4, 5, 6)), return_indices=True)
    assert spec[0].shape == (None, 4, 5, 6) and spec[1].shape == (None, 5, 6)
    with pytest.raises(ValueError, match="second dimension is 4"):
        first(np.moveaxis(z, 1, -1))


def test_options_under_mixed_precision_quantize_in_float32():
    keras.config.set_dtype_policy("mixed_bfloat16")
    layer = FSQ([8, 5, 5, 5], num_codebooks=2, preserve_symmetry=True)
    z = np.random.default_rng(7).normal(scale=2, size=(64, 8)).astype("float32")
    codes, indices = layer(z, return_indices=True)
    assert keras.backend.standardize_dtype(codes.dtype) == "bfloat16"
    z16 = numpy(ops.cast(ops.cast(z, "bfloat16"), "float32"))
    _, ref_indices, _ = reference_symmetric_fsq(z16.reshape(64, 2, 4), [8, 5, 5, 5])
    np.testing.assert_array_equal(numpy(indices), ref_indices)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"dim": 0}, "dim"),
        ({"num_codebooks": 0}, "num_codebooks"),
        ({"noise_dropout": 1.5}, "noise_dropout"),
        ({"data_format": "NCHW"}, "data_format"),
    ],
)
def test_bad_option_values(kwargs, name):
    with pytest.raises(ValueError, match=name):
        FSQ([5, 5], **kwargs)


def reference_soft_codes(z, levels, temperature):
    """temperature_mode='soft' in training: the softmax(-(p - k)^2 / T) mixture of each dimension's levels, as codes."""
    levels = np.asarray(levels, dtype=np.float64)
    half_l = (levels - 1) * (1 - 1e-3) / 2
    offset = np.where(levels % 2 == 0, 0.5, 0.0)
    shift = np.arctanh(np.where(offset < half_l, offset / half_l, 0.0))
    position = np.tanh(np.asarray(z, np.float64) + shift) * half_l - offset + levels // 2  # symbol units, T = 1
    codes = np.empty_like(position)
    for i, level in enumerate(levels.astype(int)):
        grid = np.arange(level)
        logits = -((position[..., i : i + 1] - grid) ** 2) / temperature
        weights = np.exp(logits - logits.max(axis=-1, keepdims=True))
        weights /= weights.sum(axis=-1, keepdims=True)
        codes[..., i] = ((weights * grid).sum(-1) - level // 2) / (level // 2)
    return codes


@pytest.mark.parametrize("temperature", [2.0, 0.3, 0.02])
def test_soft_temperature_mode_trains_on_the_softmax_mixture_and_infers_with_rounding(temperature):
    levels = [8, 5, 3]
    z = np.random.default_rng(3).normal(size=(64, 3)).astype("float32")
    layer = FSQ(levels, temperature=temperature, temperature_mode="soft")
    np.testing.assert_allclose(numpy(layer(z, training=True)), reference_soft_codes(z, levels, temperature), atol=1e-5)
    codes, indices, _ = reference_fsq(z, levels)  # the temperature does not enter the bound
    np.testing.assert_allclose(numpy(layer(z, training=False)), codes, atol=1e-6)
    _, soft_indices = layer(z, training=True, return_indices=True)
    np.testing.assert_array_equal(numpy(soft_indices), indices)  # indices always come from rounding
    assert np.all(np.isfinite(gradient(lambda v: layer(v, training=True), z)))


def test_soft_codes_tend_to_rounding_and_noise_to_none_as_the_temperature_falls():
    z = np.random.default_rng(4).normal(size=(2000, 4)).astype("float32")
    hard = numpy(FSQ([8, 5, 5, 5])(z))
    for mode in ("soft", "noise"):
        gaps = [
            np.abs(
                numpy(FSQ([8, 5, 5, 5], temperature=t, temperature_mode=mode, seed=0)(z, training=True)) - hard
            ).mean()
            for t in (1.0, 0.1, 0.001)
        ]
        assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 1e-3, (mode, gaps)


def test_noise_temperature_mode_adds_in_bin_noise_to_a_fraction_t_of_latents():
    levels = [8, 5]
    z = np.random.default_rng(5).normal(size=(4000, 2)).astype("float32")
    codes, _, _ = reference_fsq(z, levels)
    scale = np.array([4.0, 2.0])  # L // 2: codes are grid units / scale
    layer = FSQ(levels, temperature=0.25, temperature_mode="noise", seed=1)
    noisy = numpy(layer(z, training=True))
    moved = ~np.isclose(noisy, codes, atol=1e-6)
    assert 0.2 < moved.mean() < 0.3  # about T of them
    bounded = np.tanh(z + np.arctanh(np.array([0.5, 0.0]) / ((np.array(levels) - 1) * 0.999 / 2))) * (
        np.array(levels) - 1
    ) * 0.999 / 2 - np.array([0.5, 0.0])
    assert np.all(np.abs(noisy * scale - bounded)[moved] <= 0.5 + 1e-5)
    np.testing.assert_allclose(numpy(layer(z, training=False)), codes, atol=1e-6)


def test_temperature_mode_is_serialized_and_checked():
    layer = FSQ([5, 5], temperature_mode="noise", seed=2)
    assert FSQ.from_config(layer.get_config()).temperature_mode == "noise"
    with pytest.raises(ValueError, match="temperature_mode"):
        FSQ([5, 5], temperature_mode="hard")
    with pytest.raises(ValueError, match="noise_dropout"):
        FSQ([5, 5], temperature_mode="noise", noise_dropout=0.5)
