"""The adversarial loss: a patch discriminator trained beside the autoencoder under plain fit, on every backend."""

import keras
import numpy as np
import pytest

from keras_fsq import FSQ, FSQVAE, ConvDecoder, ConvEncoder, PatchDiscriminator, build_fsqvae, load_model
from keras_fsq.adversarial import adaptive_weight


def adversarial_model(start=0, weight=0.5):
    model = FSQVAE(
        ConvEncoder(3, [16, 32], norm_momentum=0.9),
        FSQ([5, 5, 5]),
        ConvDecoder(3, [32, 16], norm_momentum=0.9),
        discriminator=PatchDiscriminator([16, 32]),
        adversarial_weight=weight,
        adversarial_start=start,
    )
    model.build((None, 32, 32, 3))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model


def values(variables):
    return [keras.ops.convert_to_numpy(v).copy() for v in variables]


@pytest.fixture(scope="module")
def images(cifar_images):
    return cifar_images[:128].astype("float32") / 255


def test_fit_trains_the_discriminator_and_reports_both_losses(images):
    keras.utils.set_random_seed(0)
    model = adversarial_model()
    before = values(model.discriminator.trainable_variables)
    history = model.fit(images, batch_size=32, epochs=2, verbose=0).history
    for name in ("loss", "generator_loss", "discriminator_loss", "adversarial_weight"):
        assert np.all(np.isfinite(history[name])), name
    assert history["adversarial_weight"][-1] > 0
    assert float(keras.ops.convert_to_numpy(model.adversarial_steps)) == 8  # 2 epochs of 4 batches
    after = values(model.discriminator.trainable_variables)
    assert max(np.abs(a - b).max() for a, b in zip(before, after)) > 1e-4
    # The discriminator learns to tell real images from reconstructions (hinge: real > fake).
    real = keras.ops.convert_to_numpy(model.discriminator(images[:64])).mean()
    fake = keras.ops.convert_to_numpy(model.discriminator(model.reconstruct(images[:64]))).mean()
    assert real > fake
    evaluated = model.evaluate(images[:64], batch_size=32, verbose=0, return_dict=True)
    assert np.isfinite(evaluated["discriminator_loss"]) and evaluated["adversarial_weight"] == 0


def test_nothing_adversarial_happens_before_the_start_step(images):
    keras.utils.set_random_seed(0)
    model = adversarial_model(start=1000)
    before = values(model.discriminator.trainable_variables)
    model.fit(images, batch_size=32, epochs=1, verbose=0)
    for a, b in zip(before, values(model.discriminator.trainable_variables)):
        np.testing.assert_array_equal(a, b)  # its loss is multiplied by 0 until step 1000: no update


def test_the_adaptive_weight_is_the_ratio_of_gradient_norms():
    rec, gen = np.full((2, 4), 0.5, "float32"), np.full((2, 4), 2.0, "float32")  # norms 1.414 and 5.657
    assert float(keras.ops.convert_to_numpy(adaptive_weight(rec, gen))) == pytest.approx(0.25, rel=1e-3)
    assert float(keras.ops.convert_to_numpy(adaptive_weight(gen, np.zeros_like(gen)))) == pytest.approx(1e4)


def test_saved_and_loaded_with_its_discriminator(images, tmp_path):
    keras.utils.set_random_seed(0)
    model = adversarial_model(start=3, weight=0.25)
    model.fit(images[:64], batch_size=32, epochs=1, verbose=0)
    model.save(tmp_path / "gan.keras")
    loaded = load_model(tmp_path / "gan.keras")
    assert isinstance(loaded.discriminator, PatchDiscriminator)
    assert (loaded.adversarial_weight, loaded.adversarial_start) == (0.25, 3)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded.discriminator(images[:4])),
        keras.ops.convert_to_numpy(model.discriminator(images[:4])),
        atol=1e-5,
    )


def test_the_gan_preset_starts_from_the_mse_tokenizer_with_a_fresh_discriminator():
    from keras_fsq import preset_weights

    model = build_fsqvae(preset="fsq_cifar10_gan")
    assert isinstance(model.discriminator, PatchDiscriminator)
    preset_weights.load_preset_weights(model, "fsq_cifar10")  # its recipe's init: no discriminator in that file
    reference = FSQVAE.from_preset("fsq_cifar10")
    for a, b in zip(model.decoder.get_weights(), reference.decoder.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"adversarial_weight": -1.0}, "adversarial_weight"),
        ({"adversarial_weight": True}, "adversarial_weight"),
        ({"adversarial_start": -1}, "adversarial_start"),
    ],
)
def test_bad_adversarial_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FSQVAE(ConvEncoder(3, [8]), FSQ([5, 5, 5]), ConvDecoder(3, [8]), **kwargs)


def test_bad_discriminator_widths():
    with pytest.raises(ValueError, match="widths"):
        PatchDiscriminator([])
    with pytest.raises(ValueError, match="widths"):
        PatchDiscriminator([16, 0])
    with pytest.raises(ValueError, match="parameters; at most"):
        PatchDiscriminator([2**20, 2**20])
