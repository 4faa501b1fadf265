import keras
import numpy as np
import pytest
from keras import ops

from keras_fsq import FSQVAE, AdaptiveFSQ, ConvDecoder, ConvEncoder, TemperatureAnnealing
from tests.conftest import small_conv_fsqvae

LADDER = [[3, 3, 3], [5, 5, 5], [8, 8, 8]]


def latents(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


@pytest.mark.parametrize("gate_training, per_position", [("rate_distortion", False), ("straight_through", True)])
def test_indices_carry_the_rung_and_invert_exactly(gate_training, per_position):
    layer = AdaptiveFSQ(LADDER, gate_training=gate_training, per_position=per_position)
    codes, indices = layer(latents((6, 4, 4, 3)), return_indices=True)
    indices = ops.convert_to_numpy(indices)
    assert indices.shape == (6, 4, 4) and indices.min() >= 0 and indices.max() < 27 + 125 + 512
    np.testing.assert_allclose(
        ops.convert_to_numpy(layer.indices_to_codes(indices)), ops.convert_to_numpy(codes), atol=1e-6
    )
    rungs = ops.convert_to_numpy(layer.rung_of(indices))
    if not per_position:  # one rung per image
        assert (rungs == rungs[:, :1, :1]).all()


def test_bits_count_each_vectors_rung_plus_side_information():
    layer = AdaptiveFSQ([[3, 3], [8, 8]])
    layer.build((None, 2, 2))
    # image 0 coded with rung 0 (indices < 9), image 1 with rung 1
    indices = np.array([[0, 8], [9, 72]], dtype="int32")
    bits = ops.convert_to_numpy(layer.bits_per_example(indices))
    np.testing.assert_allclose(bits, [2 * np.log2(9) + 1, 2 * np.log2(64) + 1], rtol=1e-6)
    shares = {k: float(ops.convert_to_numpy(v)) for k, v in layer.batch_statistics(indices).items()}
    assert shares == {"rung_0_fraction": 0.5, "rung_1_fraction": 0.5}


def test_untrained_rate_distortion_gate_picks_the_cheapest_rung():
    # Before any distortion was measured the predicted distortions are equal, so rate decides.
    layer = AdaptiveFSQ(LADDER)
    _, indices = layer(latents((5, 4, 4, 3)), return_indices=True)
    assert (ops.convert_to_numpy(layer.rung_of(indices)) == 0).all()


def test_gate_regression_recovers_a_known_distortion_model():
    layer = AdaptiveFSQ([[3, 3], [8, 8]], rate_weight=0.0)
    z = latents((64, 4, 4, 2))
    features = ops.convert_to_numpy(layer._gate_features(z))
    # distortion of rung r: exp(a_r . features + b_r), exactly log-linear
    a, b = np.array([[0.5, -0.2, 0.3, 0.1], [0.2, 0.1, -0.4, 0.3]]), np.array([-3.0, -4.0])
    true_log = features @ a.T + b
    layer.build(z.shape)
    for _ in range(200):
        rung_distortion = iter(np.exp(true_log).T.astype("float32"))
        layer.update_gate(z, lambda codes: next(rung_distortion))
    np.testing.assert_allclose(ops.convert_to_numpy(layer.predicted_log_distortion(z)), true_log, atol=2e-2)


@pytest.mark.slow
def test_trained_gate_spends_fewer_bits_on_flat_images(flat_and_textured_crops):
    flat, textured = flat_and_textured_crops
    train = np.concatenate([flat[:256], textured[:256]])
    train = train[np.random.default_rng(1).permutation(len(train))]
    quantizer = AdaptiveFSQ([[3, 3, 3], [8, 8, 8]], rate_weight=3e-4, seed=0)
    model = small_conv_fsqvae(quantizer)
    history = model.fit(train, epochs=6, batch_size=32, verbose=0).history
    assert {"rung_0_fraction", "rung_1_fraction", "bits_per_image"} <= set(history)

    def mean_bits(images):
        return float(np.mean(ops.convert_to_numpy(quantizer.bits_per_example(model.encode(images)))))

    held_out_flat, held_out_textured = flat[256:384], textured[256:384]
    assert mean_bits(held_out_flat) < mean_bits(held_out_textured) - 20


def test_plugs_into_fsqvae_with_annealing_and_saves(tmp_path):
    images = np.random.default_rng(2).uniform(size=(32, 16, 16, 3)).astype("float32")
    quantizer = AdaptiveFSQ([[3, 3, 3, 3], [5, 5, 5, 5]], gate_training="straight_through", rate_weight=0.01)
    model = FSQVAE(ConvEncoder(4, [8, 8]), quantizer, ConvDecoder(3, [8, 8]))
    model.compile(optimizer="adam")
    history = model.fit(images, epochs=2, batch_size=16, verbose=0, callbacks=[TemperatureAnnealing(1.0, 0.5)]).history
    assert history["temperature"][-1] == pytest.approx(0.5)
    for rung in quantizer.rungs:
        assert float(ops.convert_to_numpy(rung.temperature)) == pytest.approx(0.5)
    path = tmp_path / "adaptive.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert restored.quantizer.get_config() == quantizer.get_config()
    np.testing.assert_array_equal(restored.encode(images), model.encode(images))
    np.testing.assert_allclose(restored.reconstruct(images), model.reconstruct(images), atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(ladder=[]), "must not be empty"),
        (dict(ladder=[[3, 3], [5, 5, 5]]), "same number of dimensions"),
        (dict(ladder=[[3, 1]]), ">= 2"),
        (dict(ladder=[[3, 3]], rate_weight=-1.0), "rate_weight"),
        (dict(ladder=[[3, 3]], exploration=1.5), "exploration"),
        (dict(ladder=[[3, 3]], gate_training="greedy"), "gate_training"),
        (dict(ladder=[[3, 3]], per_position=True), "per-image gate"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AdaptiveFSQ(**kwargs)


def test_wrong_latent_dimension_is_rejected():
    with pytest.raises(ValueError, match="last dimension is 3"):
        AdaptiveFSQ(LADDER)(latents((2, 4, 4, 2)))
