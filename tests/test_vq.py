import keras
import numpy as np
import pytest
from keras import ops

from keras_fsq import VectorQuantizer, build_fsqvae
from tests.conftest import gradient


def test_codes_are_the_nearest_codebook_rows():
    vq = VectorQuantizer(16, 3, seed=0)
    z = np.random.default_rng(0).normal(size=(5, 7, 3)).astype("float32")
    codes, indices = vq(z, return_indices=True)
    codebook = ops.convert_to_numpy(vq.codebook)
    expected = np.argmin(((z[..., None, :] - codebook) ** 2).sum(-1), axis=-1)
    np.testing.assert_array_equal(ops.convert_to_numpy(indices), expected)
    np.testing.assert_allclose(ops.convert_to_numpy(codes), codebook[expected], atol=1e-6)
    np.testing.assert_array_equal(ops.convert_to_numpy(vq.codes_to_indices(codes)), expected)
    np.testing.assert_allclose(ops.convert_to_numpy(vq.indices_to_codes(indices)), codebook[expected], atol=1e-6)


def test_gradient_passes_straight_through():
    vq = VectorQuantizer(8, 2, seed=0)
    z = np.random.default_rng(1).normal(size=(6, 2)).astype("float32")
    np.testing.assert_allclose(gradient(vq, z), np.ones_like(z), atol=1e-6)


def test_ema_update_moves_codes_to_the_mean_of_their_latents():
    vq = VectorQuantizer(4, 2, decay=0.0, eps=0.0, dead_code_threshold=0.0, seed=0)
    z = np.random.default_rng(2).normal(size=(64, 2)).astype("float32")
    vq.build(z.shape)
    before = ops.convert_to_numpy(vq.codebook).copy()
    _, indices = vq(z, training=True, return_indices=True)
    indices, after = ops.convert_to_numpy(indices), ops.convert_to_numpy(vq.codebook)
    for code in range(4):
        if (indices == code).any():
            np.testing.assert_allclose(after[code], z[indices == code].mean(0), atol=1e-5)
        else:
            assert (
                not np.isfinite(after[code]).all()
                or np.allclose(after[code], 0)
                or np.allclose(after[code], before[code])
            )


def test_commitment_loss_value():
    vq = VectorQuantizer(8, 2, commitment_weight=0.5, dead_code_threshold=0.0, seed=0)
    z = np.random.default_rng(3).normal(size=(10, 2)).astype("float32")
    vq.build(z.shape)
    codebook = ops.convert_to_numpy(vq.codebook).copy()
    vq(z, training=True)
    nearest = codebook[np.argmin(((z[:, None] - codebook) ** 2).sum(-1), axis=1)]
    (loss,) = vq.losses
    assert float(ops.convert_to_numpy(loss)) == pytest.approx(0.5 * np.mean((z - nearest) ** 2), rel=1e-5)


def test_dead_codes_restart_on_batch_latents():
    vq = VectorQuantizer(32, 2, decay=0.9, dead_code_threshold=0.5, seed=0)
    z = np.full((16, 2), 3.0, "float32") + np.random.default_rng(4).normal(scale=0.01, size=(16, 2)).astype("float32")
    for _ in range(8):  # unused codes' EMA counts decay below the threshold
        vq(z, training=True)
    codebook = ops.convert_to_numpy(vq.codebook)
    near_batch = np.linalg.norm(codebook - 3.0, axis=1) < 0.1
    assert near_batch.sum() > 16  # most codes were restarted on the batch's latents


@pytest.mark.slow
def test_vq_baseline_trains_in_fsqvae(cifar_images):
    images = cifar_images[:256].astype("float32") / 255
    model = build_fsqvae(
        quantizer="vq", architecture="global", levels=[8, 5, 5, 5], widths=(8, 16, 16, 16), latent_dim=32, seed=0
    )
    assert model.quantizer.codebook_size == 1000
    model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=True)
    history = model.fit(images, batch_size=32, epochs=4, verbose=0).history
    assert history["loss"][-1] < history["loss"][0] - 0.01
    assert history["codebook_usage"][-1] > 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="codebook_size"):
        VectorQuantizer(0, 4)
    with pytest.raises(ValueError, match="decay"):
        VectorQuantizer(8, 4, decay=1.0)
    with pytest.raises(ValueError, match="last dimension is 4"):
        VectorQuantizer(8, 4)(np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match="eps"):
        VectorQuantizer(8, 4, eps=-1e-3)
    with pytest.raises(ValueError, match="commitment_weight"):
        VectorQuantizer(8, 4, commitment_weight=float("nan"))


def test_nan_latents_in_training_leave_the_codebook_finite():
    vq = VectorQuantizer(8, 2, dead_code_threshold=0.0, seed=0)
    z = np.random.default_rng(5).normal(size=(32, 2)).astype("float32")
    vq(z, training=True)
    z[:4] = np.nan
    vq(z, training=True)
    for variable in (vq.codebook, vq.ema_counts, vq.ema_sums):
        assert np.isfinite(keras.ops.convert_to_numpy(variable)).all(), variable.name


def test_config_round_trip():
    vq = VectorQuantizer(64, 6, decay=0.95, eps=1e-5, commitment_weight=0.1, dead_code_threshold=0.0, seed=3)
    assert VectorQuantizer.from_config(vq.get_config()).get_config() == vq.get_config()
