"""Learned priors (keras_fsq.priors.learned) and rate-distortion training, and the codec coding with them."""

import math
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_fsq import FSQ, FSQVAE, CategoricalPrior, ConvDecoder, ConvEncoder, codec, load_model
from keras_fsq.priors.learned import anchor_mask, checkerboard_contexts
from tests.conftest import BACKEND, REPO_ROOT

LEVELS = [5, 4, 3]


def reference_contexts(symbols, levels, buckets):
    """The checkerboard contexts by loops, from the module doc's definition."""
    n, h, w, d = symbols.shape
    out = np.zeros(symbols.shape, dtype="int64")
    for b, y, x in np.ndindex(n, h, w):
        if (y + x) % 2 == 0:
            continue
        neighbours = [(y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)]
        values = np.array(
            [
                [symbols[b, j, i, c] if 0 <= j < h and 0 <= i < w else (levels[c] - 1) // 2 for c in range(d)]
                for j, i in neighbours
            ]
        )
        activity = sum(
            abs(2 * (v - (levels[c] - 1) // 2) - (levels[c] - 1) % 2) for row in values for c, v in enumerate(row)
        )
        bucket = min(buckets - 1, int(math.floor(math.log2(1 + activity))))
        for c in range(d):
            out[b, y, x, c] = 1 + ((values[:, c].sum() + 2) // 4) * buckets + bucket
    return out


def random_symbols(rng, shape, levels):
    return np.stack([rng.integers(0, level, shape) for level in levels], axis=-1).astype("int32")


def test_checkerboard_contexts_follow_their_definition_and_read_only_anchors():
    rng = np.random.default_rng(0)
    symbols = random_symbols(rng, (2, 5, 6), LEVELS)
    contexts = keras.ops.convert_to_numpy(checkerboard_contexts(symbols, LEVELS, 4))
    np.testing.assert_array_equal(contexts, reference_contexts(symbols, LEVELS, 4))
    assert (contexts[:, anchor_mask(5, 6)] == 0).all() and (contexts[:, ~anchor_mask(5, 6)] > 0).all()
    changed = symbols.copy()
    changed[:, ~anchor_mask(5, 6)] = random_symbols(rng, (2, int((~anchor_mask(5, 6)).sum())), LEVELS)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(checkerboard_contexts(changed, LEVELS, 4)), contexts)


def test_bits_are_the_negative_log2_probabilities_of_the_symbols():
    rng = np.random.default_rng(1)
    prior = CategoricalPrior(LEVELS, context="checkerboard", activity_buckets=3)
    prior.build()
    prior.scaled_logits.assign(0.2 * rng.normal(size=prior.scaled_logits.shape).astype("float32"))  # logits ~ N(0, 2^2)
    symbols = random_symbols(rng, (3, 4, 4), LEVELS)
    logits = keras.ops.convert_to_numpy(prior.logits).astype("float64")
    contexts = reference_contexts(symbols, LEVELS, 3)
    expected = np.zeros(3)
    for b, y, x, c in np.ndindex(*symbols.shape):
        row = logits[c, contexts[b, y, x, c], : LEVELS[c]]
        expected[b] -= (row[symbols[b, y, x, c]] - np.log(np.exp(row).sum())) / np.log(2)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(prior(symbols)), expected, rtol=1e-5)
    # The relaxation is exact at integers and interpolates the probabilities between them.
    positions = symbols.astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(prior(symbols, positions)), expected, rtol=1e-5)
    factorized = CategoricalPrior([4], context="none")
    factorized.build()
    factorized.scaled_logits.assign(np.log(np.array([[[0.1, 0.2, 0.3, 0.4]]], "float32")) / 10)
    half = keras.ops.convert_to_numpy(
        factorized(np.zeros((1, 1, 1, 1), "int32"), np.full((1, 1, 1, 1), 1.5, "float32"))
    )
    np.testing.assert_allclose(half, [-np.log2(0.25)], rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"context": "left"}, "context"),
        ({"relaxation": "soft"}, "relaxation"),
        ({"activity_buckets": 0}, "activity_buckets"),
    ],
)
def test_bad_prior_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CategoricalPrior(LEVELS, **kwargs)


def rd_model(rate_weight, prior="checkerboard"):
    return FSQVAE(
        ConvEncoder(6, [16, 32], 0.9),
        FSQ([5, 5, 5], num_codebooks=2, track_usage=True),
        ConvDecoder(3, [32, 16], 0.9),
        prior=CategoricalPrior([5, 5, 5] * 2, context=prior),
        rate_weight=rate_weight,
    )


def test_a_model_needs_a_matching_prior_for_a_rate_weight():
    with pytest.raises(ValueError, match="rate_weight"):
        FSQVAE(ConvEncoder(3, [8]), FSQ([5, 5, 5]), ConvDecoder(3, [8]), rate_weight=0.1)
    with pytest.raises(ValueError, match="levels"):
        FSQVAE(ConvEncoder(3, [8]), FSQ([5, 5, 5]), ConvDecoder(3, [8]), prior=CategoricalPrior([5, 5]))


@pytest.fixture(scope="module")
def rd_pair(cifar_images):
    """The same small model trained 4 epochs without and with the rate term (weight 0.01)."""
    images = cifar_images[:1280].astype("float32") / 255
    models = {}
    for weight in (0.0, 0.01):
        keras.utils.set_random_seed(0)
        model = rd_model(weight)
        model.compile(optimizer=keras.optimizers.Adam(2e-3))
        model.fit(images[:1024], epochs=4, batch_size=32, verbose=0)
        models[weight] = model
    return models, images[1024:]


def rd_point(model, images):
    """(MSE, bits per pixel of the actual files) on ``images``."""
    data = codec.compress(model, images)
    mse = float(np.mean((codec.decompress(model, data) - images) ** 2))
    return mse, 8 * len(data) / (len(images) * 32 * 32)


def test_rate_training_lowers_the_bits_and_the_rate_distortion_loss(rd_pair):
    models, held_out = rd_pair
    (mse_0, bits_0), (mse_rd, bits_rd) = rd_point(models[0.0], held_out), rd_point(models[0.01], held_out)
    assert bits_rd < 0.8 * bits_0, (bits_rd, bits_0)
    # At the trained slope the rate-trained model is the better trade: lower MSE + 0.01 x bits.
    assert mse_rd + 0.01 * bits_rd < mse_0 + 0.01 * bits_0, ((mse_rd, bits_rd), (mse_0, bits_0))


def test_files_cost_what_the_learned_prior_predicts_and_round_trip(rd_pair):
    models, held_out = rd_pair
    model = models[0.01]
    data = codec.compress(model, held_out[:64])
    predicted = float(np.sum(keras.ops.convert_to_numpy(model.predict(held_out[:64], verbose=0)["rate_bits"])))
    assert abs(8 * len(data) - predicted) < 0.03 * predicted + 8 * 128, (8 * len(data), predicted)
    indices, _ = codec.read_indices(model, data)
    np.testing.assert_array_equal(indices, model.encode(held_out[:64]))
    np.testing.assert_allclose(codec.decompress(model, data), model.decode(indices), atol=1e-6)


def test_the_checkerboard_context_codes_smaller_than_the_factorized_prior(rd_pair, cifar_images):
    models, held_out = rd_pair
    checkerboard = models[0.01]
    factorized = rd_model(0.01, prior="none")
    factorized.build((None, 32, 32, 3))
    for source, target in zip(checkerboard.variables, factorized.variables):
        if "prior" not in source.path:
            target.assign(keras.ops.convert_to_numpy(source))  # a copy: JAX training donates its buffers
    factorized.compile(optimizer=keras.optimizers.Adam(1e-2))
    factorized.prior.trainable = True
    for layer in (factorized.encoder, factorized.quantizer, factorized.decoder):
        layer.trainable = False
    factorized.fit(
        cifar_images[:1024].astype("float32") / 255, epochs=2, batch_size=64, verbose=0
    )  # fits the prior only
    assert len(codec.compress(checkerboard, held_out)) < len(codec.compress(factorized, held_out))


def test_a_rate_distortion_model_saves_and_loads_with_its_prior(rd_pair, tmp_path):
    models, held_out = rd_pair
    models[0.01].save(tmp_path / "rd.keras")
    loaded = load_model(tmp_path / "rd.keras")
    assert loaded.rate_weight == 0.01 and loaded.prior.context == "checkerboard"
    assert codec.decompress(loaded, codec.compress(models[0.01], held_out[:2])).shape == (2, 32, 32, 3)


@pytest.mark.parametrize("other_backend", [b for b in ("tensorflow", "jax", "torch") if b != BACKEND])
def test_learned_prior_files_decode_bit_exactly_on_another_backend(rd_pair, tmp_path, other_backend):
    models, held_out = rd_pair
    model = models[0.01]
    model.save(tmp_path / "m.keras")
    (tmp_path / "x.fsq").write_bytes(codec.compress(model, held_out[:16]))
    env = {**os.environ, "KERAS_BACKEND": other_backend, "PYTHONPATH": str(REPO_ROOT)}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.cross_backend_codec",
            str(tmp_path / "m.keras"),
            "-",
            str(tmp_path / "x.fsq"),
            str(tmp_path / "i.npy"),
        ],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    np.testing.assert_array_equal(np.load(tmp_path / "i.npy"), model.encode(held_out[:16]))


def test_a_garbled_payload_behind_a_valid_checksum_is_a_codec_error(rd_pair):
    import struct
    import zlib

    models, held_out = rd_pair
    model = models[0.01]
    data = codec.compress(model, held_out[:2])
    header = codec.read_header(data)
    start = len(data) - 4 - len(header.payload)
    for position in range(start, len(data) - 4, max(1, len(header.payload) // 16)):
        body = bytearray(data[:-4])
        body[position] ^= 0x5A
        with pytest.raises(codec.CodecError):
            codec.decompress(model, bytes(body) + struct.pack("<I", zlib.crc32(bytes(body))))


def test_a_prior_table_too_large_is_refused_before_any_weight_exists():
    with pytest.raises(ValueError, match=r"need a table of \d+ entries; at most 16777216"):
        CategoricalPrior([255] * 4000, context="checkerboard")
    assert CategoricalPrior([255, 31, 15, 7] * 24, context="none").num_contexts == 1


def test_the_activity_context_is_the_checkerboards_bucket_alone():
    from keras_fsq.priors import learned as priors

    symbols = np.random.default_rng(0).integers(0, 5, size=(2, 6, 7, 3)).astype("int32")
    full = keras.ops.convert_to_numpy(priors.contexts_of(symbols, [5, 5, 5], "checkerboard", 4))
    activity = keras.ops.convert_to_numpy(priors.contexts_of(symbols, [5, 5, 5], "activity", 4))
    anchors = priors.anchor_mask(6, 7)
    assert (activity[:, anchors] == 0).all() and (full[:, anchors] == 0).all()
    np.testing.assert_array_equal(activity[:, ~anchors], (full[:, ~anchors] - 1) % 4 + 1)
    assert activity.max() <= 4
    prior = CategoricalPrior([255, 31, 15, 7] * 24, context="activity", activity_buckets=12)
    assert prior.num_contexts == 13
