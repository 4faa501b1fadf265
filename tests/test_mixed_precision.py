"""FSQ under Keras' mixed-precision policies: every code reachable, indices exactly float32's, round trips exact.

vector-quantize-pytorch's FSQ lost about half of its codes under bfloat16 (its issue #114): a
bfloat16 grid holds 8 significant bits, so the flat index of a 2^16 codebook cannot be summed in it.
keras_fsq's quantizers compute in float32 inside whatever the policy (``Quantizer.call`` casts) and
cast only their codes back to the compute dtype.
"""

import keras
import numpy as np
import pytest
from keras import ops

from keras_fsq import FSQ

LEVELS = [8, 8, 8, 5, 5, 5]  # 64,000 codes: past bfloat16's and float16's exact integers
POLICIES = ["mixed_bfloat16", "mixed_float16"]


@pytest.fixture
def policy(request):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(request.param)
    yield request.param
    keras.config.set_dtype_policy(previous)


def latents_of_every_code(layer):
    """Latents whose bound lands 0.1 steps from the centre of each code's grid point (all 64,000 codes)."""
    indices = np.arange(layer.codebook_size, dtype="int32")
    symbols = ops.convert_to_numpy(layer.indices_to_symbols(indices)).astype("float64")
    levels = np.asarray(LEVELS, dtype="float64")
    offset = np.where(levels % 2 == 0, 0.5, 0.0)
    half = (levels - 1) * (1 - layer.eps) / 2
    target = (symbols - np.floor(levels / 2)) * 0.9 + offset  # inside the bound's range, rounds to the level
    shift = np.arctanh(offset / half)
    return indices, (np.arctanh(target / half) - shift).astype("float32")


@pytest.mark.parametrize("policy", POLICIES, indirect=True)
def test_every_code_is_reachable_and_indices_equal_float32s(policy):
    layer = FSQ(LEVELS)
    assert layer.compute_dtype == policy.split("_")[1]
    reference = FSQ(LEVELS, dtype="float32")
    indices, latents = latents_of_every_code(reference)
    # The policy's inputs: latents as the layer before would hand them over, in the compute dtype.
    low = ops.cast(latents, layer.compute_dtype)
    for training in (False, True):
        codes, got = layer(low, training=training, return_indices=True)
        assert keras.backend.standardize_dtype(codes.dtype) == layer.compute_dtype
        _, expected = reference(ops.cast(low, "float32"), training=training, return_indices=True)
        got, expected = ops.convert_to_numpy(got), ops.convert_to_numpy(expected)
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(np.sort(got), indices)  # 100% of the 64,000 codes, each once
    # Random latents: the same indices as float32 on the same (rounded) inputs.
    random = np.random.default_rng(0).normal(0, 1.5, (4096, len(LEVELS))).astype("float32")
    low = ops.cast(random, layer.compute_dtype)
    np.testing.assert_array_equal(
        ops.convert_to_numpy(layer(low, return_indices=True)[1]),
        ops.convert_to_numpy(reference(ops.cast(low, "float32"), return_indices=True)[1]),
    )


@pytest.mark.parametrize("policy", POLICIES, indirect=True)
def test_codes_and_indices_round_trip_exactly(policy):
    layer = FSQ(LEVELS)
    indices = np.arange(layer.codebook_size, dtype="int32")
    codes = layer.indices_to_codes(indices)
    np.testing.assert_array_equal(ops.convert_to_numpy(layer.codes_to_indices(codes)), indices)
    # The codes the layer outputs under the policy (in its compute dtype) map back to its indices.
    _, latents = latents_of_every_code(FSQ(LEVELS, dtype="float32"))
    out, got = layer(ops.cast(latents, layer.compute_dtype), return_indices=True)
    np.testing.assert_array_equal(ops.convert_to_numpy(layer.codes_to_indices(out)), ops.convert_to_numpy(got))


@pytest.mark.parametrize("policy", POLICIES, indirect=True)
def test_an_annealed_temperature_divides_in_float32(policy):
    layer, reference = FSQ(LEVELS, temperature=0.37), FSQ(LEVELS, temperature=0.37, dtype="float32")
    latents = np.random.default_rng(1).normal(0, 0.5, (4096, len(LEVELS))).astype("float32")
    low = ops.cast(latents, layer.compute_dtype)
    np.testing.assert_array_equal(
        ops.convert_to_numpy(layer(low, return_indices=True)[1]),
        ops.convert_to_numpy(reference(ops.cast(low, "float32"), return_indices=True)[1]),
    )
