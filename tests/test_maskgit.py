"""MaskGIT over token grids: the masking schedule, fit, decoding, guidance, saving, the generate command."""

import math

import keras
import numpy as np
import pytest
from scipy.special import log_softmax

from keras_fsq import FSQ, FSQVAE, ConvDecoder, ConvEncoder, MaskGIT, VectorQuantizer, load_model
from keras_fsq.cli import main


def toy_tokens(count, seed=0):
    """A 2x2 grid of 8 tokens: position 1 = position 0 + 2 (dependence), position 3 = 7 - class, and
    position 2 = 4 + 2 class + a coin (a class-dependent marginal)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, count)
    first = rng.integers(0, 2, count)
    tokens = np.stack([first, first + 2, 4 + 2 * labels + rng.integers(0, 2, count), 7 - labels], axis=1)
    return tokens, labels


def fitted_toy_model(factorized_levels=None):
    keras.utils.set_random_seed(0)
    tokens, labels = toy_tokens(2048)
    model = MaskGIT(
        8,
        (2, 2),
        num_classes=2,
        width=32,
        depth=2,
        heads=2,
        dropout=0.0,
        class_dropout=0.2,
        factorized_levels=factorized_levels,
        seed=0,
    )
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit({"tokens": tokens, "labels": labels}, batch_size=64, epochs=8, verbose=0)
    return model


@pytest.fixture(scope="module")
def toy_model():
    return fitted_toy_model()


def test_masks_follow_the_cosine_schedule_and_labels_drop_to_the_null_class():
    model = MaskGIT(8, (4, 4), num_classes=3, width=16, depth=1, heads=2, class_dropout=0.25, seed=1)
    tokens, labels = np.zeros((4000, 16), "int32"), np.ones(4000, "int32")
    masked, kept_labels, mask = (keras.ops.convert_to_numpy(v) for v in model.mask(tokens, labels))
    fraction = mask.mean(axis=1)
    assert fraction.min() >= 1 / 16  # at least one position per example
    # E[ceil(16 cos(pi u / 2)) / 16] over u ~ U(0, 1): a little above 2 / pi.
    expected = np.mean(np.maximum(np.ceil(16 * np.cos(np.pi / 2 * (np.arange(10000) + 0.5) / 10000)), 1) / 16)
    assert abs(fraction.mean() - expected) < 0.02
    np.testing.assert_array_equal(masked[mask], 8)  # the [MASK] token
    np.testing.assert_array_equal(masked[~mask], 0)
    assert abs((kept_labels == 3).mean() - 0.25) < 0.03  # the null class
    assert set(np.unique(kept_labels)) <= {1, 3}


def assert_toy_statistics(model):
    labels = np.repeat([0, 1], 200)
    generated = model.generate_tokens(400, steps=4, class_labels=labels, seed=1).reshape(400, 4)
    assert (generated[:, 1] == generated[:, 0] + 2).mean() > 0.95  # the dependence between positions
    assert 0.3 < (generated[:, 0] == 1).mean() < 0.7  # the marginal of position 0 (1/2)
    assert (generated[:, 3] == 7 - labels).mean() > 0.95  # the class
    assert ((generated[:, 2] - 4) // 2 == labels).mean() > 0.95


def test_dropout_masks_come_from_state_a_checkpoint_keeps():
    """A seeded MaskGIT's dropout draws from seed generators among its variables (on PyTorch too, whose
    unseeded dropout uses the global generator): a model given another's variables, as a resumed run is,
    drops the same units in its next training step."""
    tokens = {"tokens": np.arange(32, dtype="int32").reshape(2, 16) % 8, "labels": np.array([0, 1], "int32")}
    first = MaskGIT(8, (4, 4), num_classes=2, width=16, depth=2, heads=2, dropout=0.5, seed=4)
    first(tokens, training=True)  # the seed states move on
    resumed = MaskGIT(8, (4, 4), num_classes=2, width=16, depth=2, heads=2, dropout=0.5, seed=4)
    resumed(tokens, training=False)  # built
    for target, source in zip(resumed.variables, first.variables):
        target.assign(source)
    keras.utils.set_random_seed(123)  # a different global state, as a fresh process has
    expected = keras.ops.convert_to_numpy(first(tokens, training=True)["logits"])
    keras.utils.set_random_seed(456)
    got = keras.ops.convert_to_numpy(resumed(tokens, training=True)["logits"])
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert [block.seed for block in first.blocks] == [1004, 2004]  # each block its own stream


def test_a_prior_trained_on_a_toy_distribution_reproduces_its_statistics(toy_model):
    assert_toy_statistics(toy_model)


def test_factorized_heads_predict_the_symbols_of_each_token():
    model = fitted_toy_model(factorized_levels=[2, 4])  # token = s_0 + 2 s_1
    assert model.output_size == 6
    assert_toy_statistics(model)
    # The loss is the tokens' negative log-likelihood: the symbols' log-softmaxes summed, here by hand.
    tokens, labels = toy_tokens(64, seed=3)
    masked = np.where(np.arange(4) % 2 == 0, 8, tokens)  # positions 0 and 2 masked
    logits = model.token_logits(masked, labels)
    by_hand = -(
        np.take_along_axis(log_softmax(logits[..., :2], axis=-1), (tokens % 2)[..., None], -1)[..., 0]
        + np.take_along_axis(log_softmax(logits[..., 2:], axis=-1), (tokens // 2)[..., None], -1)[..., 0]
    )[:, ::2].mean()
    outputs = model({"tokens": masked, "labels": labels}, training=False)
    loss = model.compute_loss({"tokens": tokens, "labels": labels}, y_pred=outputs)
    np.testing.assert_allclose(float(keras.ops.convert_to_numpy(loss)), by_hand, rtol=1e-4)


def test_choice_temperature_zero_keeps_the_most_confident_samples(toy_model):
    first = toy_model.generate_tokens(30, steps=3, class_labels=0, seed=4, choice_temperature=0.0)
    assert first.max() < 8
    assert not np.array_equal(first, toy_model.generate_tokens(30, steps=3, class_labels=0, seed=4))


def test_guidance_and_classes_change_the_class_statistics(toy_model):
    unconditional = toy_model.generate_tokens(400, steps=4, seed=2).reshape(400, 4)
    assert 0.2 < (unconditional[:, 3] == 7).mean() < 0.8  # both classes, without a label
    labels = np.zeros(400, "int32")
    guided = toy_model.generate_tokens(400, steps=4, class_labels=labels, guidance=3.0, seed=2).reshape(400, 4)
    assert (guided[:, 3] == 7).mean() >= (unconditional[:, 3] == 7).mean() + 0.15


def test_the_same_seed_gives_the_same_tokens_and_every_position_is_decided(toy_model):
    first = toy_model.generate_tokens(50, steps=3, class_labels=1, seed=7)
    np.testing.assert_array_equal(first, toy_model.generate_tokens(50, steps=3, class_labels=1, seed=7))
    assert first.shape == (50, 2, 2) and first.max() < 8  # no [MASK] left
    assert not np.array_equal(first, toy_model.generate_tokens(50, steps=3, class_labels=1, seed=8))
    one_step = toy_model.generate_tokens(20, steps=1, class_labels=0, seed=0)
    assert one_step.max() < 8


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_images": 0}, "num_images"),
        ({"steps": 0}, "steps"),
        ({"temperature": 0.0}, "temperature"),
        ({"guidance": -1.0, "class_labels": 0}, "guidance"),
        ({"guidance": 1.0}, "guidance"),
        ({"class_labels": 2}, "class_labels"),
        ({"class_labels": [0, 1]}, "class_labels"),
        ({"choice_temperature": -0.5}, "choice_temperature"),
        ({"stpes": 4}, "stpes"),  # a misspelt setting is named, not ignored
    ],
)
def test_bad_sampling_arguments(toy_model, kwargs, message):
    arguments = {"num_images": 4, **kwargs}
    with pytest.raises(ValueError, match=message):
        toy_model.generate_tokens(**arguments)


def test_sampling_settings_are_one_checked_record_that_generate_and_the_presets_share(toy_model):
    from keras_fsq import presets
    from keras_fsq.maskgit import SamplingSettings

    preset = SamplingSettings(**presets.resolve_generator("maskgit_cifar10").sampling)
    assert preset.with_changes(steps=3) == SamplingSettings(3, preset.temperature, preset.guidance, 3.0)
    by_settings = toy_model.generate_tokens(6, class_labels=1, seed=2, settings=SamplingSettings(steps=2))
    np.testing.assert_array_equal(by_settings, toy_model.generate_tokens(6, class_labels=1, seed=2, steps=2))
    with pytest.raises(ValueError, match="temperature"):
        SamplingSettings(temperature=float("nan"))


def test_bad_model_arguments():
    with pytest.raises(ValueError, match="vocabulary_size"):
        MaskGIT(1, (2, 2))
    with pytest.raises(ValueError, match="width"):
        MaskGIT(8, (2, 2), width=30, heads=4)
    with pytest.raises(ValueError, match="class_dropout"):
        MaskGIT(8, (2, 2), class_dropout=1.0)
    with pytest.raises(ValueError, match="parameters; at most"):  # refused before allocating anything
        MaskGIT(2**30, (8, 8), width=1024)
    with pytest.raises(ValueError, match="factorized_levels"):
        MaskGIT(8, (2, 2), factorized_levels=[2, 3])
    # What running costs: a 128x128 grid's attention takes 12 GiB per image with few parameters.
    with pytest.raises(ValueError, match=r"16384 tokens, 4 heads\) would take 12,421 MiB of activations per image"):
        MaskGIT(1000, (128, 128), width=16, depth=1)


def test_sampling_batches_fit_the_activation_budget(monkeypatch):
    from keras_fsq.maskgit import sampler

    model = MaskGIT(8, (4, 4), num_classes=2, width=16, depth=1, heads=2, seed=0)
    batches = []
    original = sampler.decode_batch
    monkeypatch.setattr(
        sampler,
        "decode_batch",
        lambda model, labels, count, *rest: batches.append(count) or original(model, labels, count, *rest),
    )
    monkeypatch.setattr(sampler, "ACTIVATION_BUDGET_BYTES", 3 * model.activation_bytes())
    model.generate_tokens(7, steps=1, class_labels=0, guidance=1.0)  # guidance: two images' worth each
    assert batches == [1, 1, 1, 1, 1, 1, 1]
    batches.clear()
    model.generate_tokens(7, steps=1)
    assert batches == [3, 3, 1]


@pytest.fixture(scope="module")
def small_generator(tmp_path_factory):
    """A MaskGIT over an untrained conv tokenizer's 8x8 tokens, fitted a few steps, saved as .keras."""
    keras.utils.set_random_seed(0)
    tokenizer = FSQVAE(ConvEncoder(3, [8, 8]), FSQ([5, 4, 3]), ConvDecoder(3, [8, 8]))
    tokenizer.build((None, 32, 32, 3))
    model = MaskGIT.for_tokenizer(tokenizer, num_classes=10, width=32, depth=1, heads=2, seed=0)
    assert (model.vocabulary_size, model.grid_shape) == (60, (8, 8))
    tokens = np.random.default_rng(0).integers(0, 60, (64, 64))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit({"tokens": tokens, "labels": np.arange(64) % 10}, batch_size=32, epochs=1, verbose=0)
    path = tmp_path_factory.mktemp("generator") / "maskgit.keras"
    model.save(path)
    return model, path


def test_factorized_heads_take_an_fsq_tokenizers_levels_and_survive_saving(tmp_path):
    tokenizer = FSQVAE(ConvEncoder(3, [8, 8]), FSQ([5, 4, 3]), ConvDecoder(3, [8, 8]))
    tokenizer.build((None, 32, 32, 3))
    model = MaskGIT.for_tokenizer(tokenizer, factorized=True, width=16, depth=1, heads=2)
    assert model.factorized_levels == [5, 4, 3] and model.output_size == 12
    model.save(tmp_path / "factorized.keras")
    assert load_model(tmp_path / "factorized.keras").factorized_levels == [5, 4, 3]
    vq = FSQVAE(ConvEncoder(3, [8, 8]), VectorQuantizer(16, 3), ConvDecoder(3, [8, 8]))
    vq.build((None, 32, 32, 3))
    with pytest.raises(ValueError, match="factorized"):
        MaskGIT.for_tokenizer(vq, factorized=True)


def test_generate_decodes_tokens_with_the_saved_tokenizer(small_generator):
    model, path = small_generator
    images = model.generate(6, steps=2, class_labels=np.arange(6), seed=3)
    assert images.shape == (6, 32, 32, 3) and 0 <= images.min() and images.max() <= 1
    loaded = load_model(path)
    np.testing.assert_allclose(loaded.generate(6, steps=2, class_labels=np.arange(6), seed=3), images, atol=1e-5)
    assert len(loaded.prior_variables) < len(loaded.variables)  # the tokenizer's are not the prior's


def test_generate_command_writes_images_and_a_grid(small_generator, tmp_path, capsys):
    _, path = small_generator
    out = tmp_path / "samples"
    assert main(["generate", "--model", str(path), "--num", "12", "--steps", "2", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == [f"{i:04d}.png" for i in range(12)] + ["grid.png"]
    from PIL import Image

    assert Image.open(out / "grid.png").size == (10 * 64, 64)  # full rows only: no black cells
    assert "12 images" in capsys.readouterr().out
    # A second run into the same folder is refused without --overwrite; contradictory options are one line.
    assert main(["generate", "--model", str(path), "--num", "2", "--out", str(out)]) == 2
    # With --overwrite, a smaller run replaces the folder's images: none of the earlier 12 stays behind.
    assert main(["generate", "--model", str(path), "--num", "2", "--steps", "1", "--out", str(out), "--overwrite"]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["0000.png", "0001.png", "grid.png"]
    assert main(["generate", "--model", str(path), "--class", "1", "--unconditional", "--out", str(tmp_path)]) == 2
    assert main(["generate", "--model", str(tmp_path / "none.keras"), "--out", str(tmp_path / "x")]) == 2
    assert main(["generate", "--model", str(path), "--num", "100001", "--out", str(tmp_path / "y")]) == 2
    assert main(["generate", "--model", str(path), "--class", "10", "--out", str(tmp_path / "z")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert (
        len(errors) == 5
        and "--class 10 must be in [0, 10)" in errors[-1]
        and all(line.startswith("keras-fsq generate: error:") for line in errors)
    )


def test_masking_happens_only_in_training():
    model = MaskGIT(8, (2, 2), width=16, depth=1, heads=2, seed=0)
    outputs = model({"tokens": np.array([[1, 8, 2, 8]])}, training=False)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(outputs["mask"]), [[False, True, False, True]])
    assert math.prod(keras.ops.shape(outputs["logits"])) == 4 * 8


def test_generate_refuses_a_class_for_an_unconditional_model(tmp_path, capsys):
    keras.utils.set_random_seed(0)
    tokenizer = FSQVAE(ConvEncoder(3, [8, 8]), FSQ([5, 4, 3]), ConvDecoder(3, [8, 8]))
    tokenizer.build((None, 32, 32, 3))
    model = MaskGIT.for_tokenizer(tokenizer, num_classes=0, width=16, depth=1, heads=2, seed=0)
    model.save(tmp_path / "free.keras")
    arguments = ["generate", "--model", str(tmp_path / "free.keras"), "--class", "3", "--out", str(tmp_path / "o")]
    assert main(arguments) == 2
    error = capsys.readouterr().err
    assert "--class 3:" in error and "is unconditional" in error
    assert not (tmp_path / "o").exists()
