"""LFQ and BSQ against independent NumPy references."""

import itertools

import keras
import numpy as np
import pytest
from keras import ops

from keras_fsq import BSQ, LFQ
from tests.conftest import gradient


def numpy_entropy_terms(z, inv_temperature):
    """Brute force over every code c in {-1, 1}^d: p(c | z) = softmax_c(2 inv_T <z, c>)."""
    d = z.shape[-1]
    codes = np.array(list(itertools.product([-1.0, 1.0], repeat=d)))
    flat = z.reshape(-1, d).astype(np.float64)
    logits = 2 * inv_temperature * flat @ codes.T
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    entropy = lambda q: -(q * np.log(np.maximum(q, 1e-10))).sum(-1)  # noqa: E731
    return entropy(p).mean(), entropy(p.mean(axis=0))


def numpy_index(positive):
    return (positive * (2 ** np.arange(positive.shape[-1]))).sum(-1)


@pytest.mark.parametrize("bits", [1, 3, 6])
def test_lfq_matches_numpy(bits):
    z = np.random.default_rng(bits).normal(size=(40, bits)).astype("float32")
    layer = LFQ(
        bits, codebook_scale=0.5, inv_temperature=3.0, entropy_weight=0.2, diversity_gamma=0.7, commitment_weight=0.1
    )
    codes, indices = layer(z, return_indices=True)
    expected_codes = np.where(z > 0, 0.5, -0.5)
    np.testing.assert_array_equal(ops.convert_to_numpy(codes), expected_codes)
    np.testing.assert_array_equal(ops.convert_to_numpy(indices), numpy_index(z > 0))
    np.testing.assert_array_equal(ops.convert_to_numpy(layer.indices_to_codes(indices)), expected_codes)
    per_sample, codebook = numpy_entropy_terms(z, 3.0)
    expected_loss = 0.2 * (per_sample - 0.7 * codebook) + 0.1 * np.mean((z - expected_codes) ** 2)
    (loss,) = layer.losses
    np.testing.assert_allclose(float(ops.convert_to_numpy(loss)), expected_loss, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(gradient(lambda v: LFQ(bits, entropy_weight=0.0, commitment_weight=0.0)(v), z), 1.0)


def test_lfq_codebook_entropy_per_bit_above_the_exact_limit():
    from keras_fsq.quantizers import lfq

    z = np.random.default_rng(9).normal(size=(64, 12)).astype("float32")
    per_sample, codebook = lfq.binary_entropy_terms(ops.convert_to_tensor(z), 2.0, None)
    p_one = 1 / (1 + np.exp(-8.0 * z.astype(np.float64)))
    h = lambda q: -(q * np.log(q) + (1 - q) * np.log(1 - q))  # noqa: E731
    np.testing.assert_allclose(float(ops.convert_to_numpy(per_sample)), h(p_one).sum(-1).mean(), rtol=1e-4)
    np.testing.assert_allclose(float(ops.convert_to_numpy(codebook)), h(p_one.mean(0)).sum(), rtol=1e-4)
    assert LFQ(12)._codebook is None and LFQ(10)._codebook is not None


@pytest.mark.parametrize("bits", [2, 5])
def test_bsq_matches_numpy(bits):
    z = np.random.default_rng(10 + bits).normal(size=(3, 7, bits)).astype("float32")
    layer = BSQ(bits, entropy_weight=0.3, inv_temperature=4.0)
    codes, indices = layer(z, return_indices=True)
    unit = z / np.linalg.norm(z, axis=-1, keepdims=True)
    expected_codes = np.where(unit > 0, 1.0, -1.0) / np.sqrt(bits)
    np.testing.assert_allclose(ops.convert_to_numpy(codes), expected_codes, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(ops.convert_to_numpy(codes), axis=-1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(ops.convert_to_numpy(indices), numpy_index(unit > 0))
    np.testing.assert_allclose(ops.convert_to_numpy(layer.indices_to_codes(indices)), expected_codes, atol=1e-6)
    per_sample, codebook = numpy_entropy_terms(unit, 4.0 / np.sqrt(bits))
    (loss,) = layer.losses
    np.testing.assert_allclose(float(ops.convert_to_numpy(loss)), 0.3 * (per_sample - codebook), rtol=1e-4, atol=1e-6)
    # Straight through the projection: the gradient of sum(codes) is d sum(z / ||z||) / dz.
    flat = z.reshape(-1, bits).astype(np.float64)
    norm = np.linalg.norm(flat, axis=-1, keepdims=True)
    expected_grad = (1 / norm - flat * flat.sum(-1, keepdims=True) / norm**3).reshape(z.shape)
    np.testing.assert_allclose(gradient(BSQ(bits), z), expected_grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("layer", [LFQ(4, codebook_scale=2.0, name="lfq"), BSQ(4, entropy_weight=0.1, name="bsq")])
def test_binary_quantizers_serialize_and_train(layer, tmp_path):
    clone = layer.__class__.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    inputs = keras.Input((5, 4))
    codes = layer(keras.layers.Dense(4)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(4)(codes))
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).normal(size=(32, 5, 4)).astype("float32")
    history = model.fit(x, x, epochs=2, batch_size=16, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(ops.convert_to_numpy(loaded(x)), ops.convert_to_numpy(model(x)), atol=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"codebook_bits": 0},
        {"codebook_bits": 31},
        {"codebook_bits": 4, "inv_temperature": 0.0},
        {"codebook_bits": 4, "entropy_weight": -1.0},
    ],
)
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError, match=next(iter(k for k in kwargs if k != "codebook_bits"), "codebook_bits")):
        LFQ(**kwargs)
