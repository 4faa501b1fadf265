import keras
import numpy as np
import pytest
from keras import ops

from keras_fsq import FSQ, FSQVAE, Decoder, Encoder, build_fsqvae

SMALL = dict(architecture="global", widths=(8, 16, 16, 16), latent_dim=32, reconstruction_loss="binary_crossentropy")


@pytest.fixture(scope="module")
def real_images(cifar_images):
    return cifar_images[:256].astype("float32") / 255


def test_fit_lowers_the_loss_on_real_images(real_images):
    model = build_fsqvae(levels=[8, 5, 5, 5], **SMALL)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=True)
    history = model.fit(real_images, batch_size=32, epochs=4, verbose=0).history
    assert history["loss"][-1] < history["loss"][0] - 0.01
    assert history["psnr"][-1] > history["psnr"][0]
    for name in (
        "reconstruction_loss",
        "quantization_loss",
        "psnr",
        "ssim",
        "codebook_usage",
        "perplexity",
        "bits_per_pixel",
    ):
        assert np.isfinite(history[name]).all(), name
    assert 0 < history["codebook_usage"][-1] <= 1
    assert history["bits_per_pixel"][-1] == pytest.approx(8 * np.log2(1000) / 1024, rel=1e-5)


def test_mse_reconstruction_loss_is_selectable(real_images):
    model = build_fsqvae(**{**SMALL, "reconstruction_loss": "mse"})
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


def test_encode_runs_no_decoder_and_decode_goes_in_batches(real_images, monkeypatch):
    model = build_fsqvae(levels=[5, 5, 5], architecture="conv", widths=(8, 8))
    expected = model.reconstruct(real_images[:5])

    def no_decoder(*args, **kwargs):
        raise AssertionError("encode ran the decoder")

    monkeypatch.setattr(model.decoder, "call", no_decoder)
    indices = model.encode(real_images[:5], batch_size=2)
    assert indices.shape == (5, 8, 8)
    monkeypatch.undo()
    np.testing.assert_allclose(model.decode(indices, batch_size=2), expected, atol=1e-5)
    with pytest.raises(ValueError, match="no image"):
        model.encode(real_images[:0])


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


@pytest.mark.parametrize("bad", ["uint8_range", "nan"])
def test_tf_data_and_generators_with_bad_pixels_stop_fit_at_the_first_batch(real_images, bad):
    import tensorflow as tf

    images = real_images[:64].copy()
    if bad == "uint8_range":
        images *= 255
    else:
        images[[10, 40], 3, 3, 1] = np.nan
    model = build_fsqvae(**SMALL)
    model.compile(optimizer="adam")
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(32)
    before = [keras.ops.convert_to_numpy(w).copy() for w in model.trainable_weights]
    with pytest.raises(ValueError, match=r"training batch 0: \d+ input values are NaN or outside \[0, 1\]"):
        model.fit(dataset, epochs=3, verbose=0)
    after = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    for old, new in zip(before, after):  # the bad batch trained nothing
        np.testing.assert_array_equal(old, new)

    def batches():
        yield (real_images[:32],)  # a good batch first: the bad one is caught when it comes
        yield (images[32:],)

    with pytest.raises(ValueError, match="training batch 1"):
        model.fit(batches(), epochs=1, verbose=0)
    # Eager torch meets the NaN first in the quantizer's own inference check: also a ValueError.
    with pytest.raises(ValueError, match="evaluation batch 0|`inputs` contains NaN"):
        model.evaluate(tf.data.Dataset.from_tensor_slices(images[32:]).batch(32), verbose=0)


def test_bad_validation_arrays_fail_before_training(real_images):
    model = build_fsqvae(**SMALL)
    model.compile(optimizer="adam")
    weights = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match="validation_data"):
        model.fit(real_images[:32], validation_data=(real_images[:8] * 255,), epochs=1, verbose=0)
    for before, after in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(before, after)


def test_decode_rejects_indices_outside_the_codebook():
    model = build_fsqvae(**SMALL)
    size = model.quantizer.codebook_size
    assert model.decode(np.full((1, 8), size - 1)).shape == (1, 32, 32, 3)
    for bad in (size, -1):
        with pytest.raises(ValueError, match=rf"\[0, {size}\)"):
            model.decode(np.full((1, 8), bad))
    with pytest.raises(ValueError, match="integers"):
        model.decode(np.zeros((1, 8), "float32"))


def test_load_model_names_the_file_and_the_problem(tmp_path):
    from keras_fsq import load_model

    model = build_fsqvae(**SMALL)
    path = tmp_path / "m.keras"
    model.save(path)
    assert load_model(path).quantizer.levels == [8, 5, 5, 5]
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated.keras is not a .keras model file"):
        load_model(truncated)
    import json
    import zipfile

    unknown = tmp_path / "unknown.keras"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(unknown, "w") as target:
        for item in source.infolist():
            content = source.read(item)
            if item.filename == "config.json":
                config = json.loads(content)
                config["config"]["quantizer"]["class_name"] = "MyQuantizer"
                config["config"]["quantizer"]["registered_name"] = "mine>MyQuantizer"
                content = json.dumps(config).encode()
            target.writestr(item, content)
    with pytest.raises(ValueError, match="unknown.keras names the class 'MyQuantizer'") as error:
        load_model(unknown)
    assert len(str(error.value)) < 200
    with pytest.raises(FileNotFoundError, match="missing.keras"):
        load_model(tmp_path / "missing.keras")


def test_an_ms_ssim_term_is_selectable_and_has_finite_gradients(real_images):
    from keras_fsq.losses import mse_ms_ssim
    from keras_fsq.metrics import MS_SSIM_WEIGHTS, ms_ssim
    from tests.conftest import gradient

    model = build_fsqvae(**{**SMALL, "reconstruction_loss": "mse_ms_ssim"})
    model.compile(optimizer="adam")
    logs = model.evaluate(real_images[:32], verbose=0, return_dict=True)
    recon = model.reconstruct(real_images[:32])
    weights = [w / sum(MS_SSIM_WEIGHTS[:4]) for w in MS_SSIM_WEIGHTS[:4]]  # 32x32: four scales keep >= 4 pixels
    similarity = ops.convert_to_numpy(ms_ssim(real_images[:32], recon, weights=weights))
    expected = np.mean(((recon - real_images[:32]) ** 2).mean(axis=(1, 2, 3)) + 0.1 * (1 - similarity))
    assert logs["reconstruction_loss"] == pytest.approx(float(expected), rel=1e-4)
    flat = np.full((2, 32, 32, 3), 0.5, "float32")  # no contrast: the power's gradient would be infinite at 0
    for prediction in (flat, real_images[:2]):
        grads = gradient(lambda p: mse_ms_ssim(ops.convert_to_tensor(real_images[:2]), p), prediction)
        assert np.all(np.isfinite(grads))


def test_without_a_preset_the_model_comes_from_the_arguments_alone():
    with pytest.raises(ValueError, match="give architecture, levels, widths, image_shape"):
        build_fsqvae(preset=None)
    with pytest.raises(ValueError, match="give image_shape"):
        build_fsqvae(preset=None, architecture="conv", levels=[5, 5, 5], widths=[8, 8])
    model = build_fsqvae(preset=None, architecture="conv", levels=[5, 5, 5], widths=[8, 8], image_shape=(16, 16, 3))
    assert model.image_shape == (16, 16, 3) and model.quantizer.levels == [5, 5, 5]
    assert build_fsqvae().quantizer.levels == [8, 5, 5, 5]  # the default preset, fsq_cifar10, named in the signature
