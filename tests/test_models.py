import keras
import numpy as np
import pytest
from keras import ops

from keras_fsq import FSQ, FSQVAE, Decoder, Encoder, build_fsqvae

SMALL = dict(widths=(8, 16, 16, 16), latent_dim=32)


@pytest.fixture(scope="module")
def real_images(cifar_images):
    return cifar_images[:256].astype("float32") / 255


def test_fit_lowers_the_loss_on_real_images(real_images):
    model = build_fsqvae(levels=[8, 5, 5, 5], **SMALL)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=True)
    history = model.fit(real_images, batch_size=32, epochs=4, verbose=0).history
    assert history["loss"][-1] < history["loss"][0] - 0.01
    assert history["psnr"][-1] > history["psnr"][0]
    for name in ("reconstruction_loss", "quantization_loss", "psnr", "ssim", "codebook_usage", "perplexity", "bits_per_pixel"):
        assert np.isfinite(history[name]).all(), name
    assert 0 < history["codebook_usage"][-1] <= 1
    assert history["bits_per_pixel"][-1] == pytest.approx(8 * np.log2(1000) / 1024, rel=1e-5)


def test_mse_reconstruction_loss_is_selectable(real_images):
    model = build_fsqvae(reconstruction_loss="mse", **SMALL)
    model.compile(optimizer="adam")
    logs = model.evaluate(real_images[:32], verbose=0, return_dict=True)
    recon = model.reconstruct(real_images[:32])
    assert logs["reconstruction_loss"] == pytest.approx(float(np.mean((recon - real_images[:32]) ** 2)), rel=1e-4)


def test_encode_decode_round_trip(real_images):
    model = build_fsqvae(levels=[8, 6, 5], **SMALL)
    indices = model.encode(real_images[:8])
    assert indices.shape == (8, 32 // 3) and indices.dtype == np.int32
    assert indices.min() >= 0 and indices.max() < 240
    np.testing.assert_allclose(model.decode(indices), model.reconstruct(real_images[:8]), atol=1e-5)


def test_convolutional_model_codes_a_grid(real_images):
    model = build_fsqvae(levels=[5, 5, 5], architecture="conv", widths=(8, 8))
    indices = model.encode(real_images[:2])
    assert indices.shape == (2, 8, 8)
    assert model.decode(indices).shape == (2, 32, 32, 3)


def test_keras_file_round_trip(tmp_path, real_images):
    model = build_fsqvae(**SMALL)
    model.compile(optimizer="adam")
    model.fit(real_images[:64], batch_size=32, epochs=1, verbose=0)
    model.save(tmp_path / "vae.keras")
    loaded = keras.saving.load_model(tmp_path / "vae.keras")
    np.testing.assert_array_equal(loaded.encode(real_images[:16]), model.encode(real_images[:16]))
    np.testing.assert_allclose(loaded.reconstruct(real_images[:16]), model.reconstruct(real_images[:16]), atol=1e-6)
    assert loaded.quantizer.get_config() == model.quantizer.get_config()


def test_images_outside_unit_range_are_rejected(real_images):
    model = build_fsqvae(**SMALL)
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model.fit(real_images * 255, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="uint8"):
        model.encode((real_images * 255).astype("uint8"))
    with pytest.raises(ValueError, match="NaN"):
        model.encode(np.full((1, 32, 32, 3), np.nan, "float32"))


def test_wrong_image_shape_is_rejected():
    model = build_fsqvae(**SMALL)
    with pytest.raises(ValueError, match="batch, height, width, channels"):
        model.encode(np.zeros((32, 32, 3), "float32"))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"quantizer": "kmeans"}, "Unknown `quantizer`"),
        ({"architecture": "mlp"}, "Unknown `architecture`"),
        ({"reconstruction_loss": "l1"}, "reconstruction_loss"),
        ({"levels": [8, 1]}, ">= 2"),
    ],
)
def test_bad_model_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_fsqvae(**{**SMALL, **kwargs})


def test_quantizer_must_be_a_keras_fsq_quantizer():
    with pytest.raises(ValueError, match="quantizer"):
        FSQVAE(Encoder(4, 4), keras.layers.Identity(), Decoder())


def test_quantizer_dimension_must_match_the_encoder():
    with pytest.raises(ValueError, match="last dimension is 3"):
        FSQVAE(Encoder(4, 4, (8, 8, 8, 8)), FSQ([5, 5, 5]), Decoder(widths=(8, 8, 8, 8))).build((None, 32, 32, 3))
