import io

import keras
import numpy as np
import pytest

from keras_fsq import FSQVAE, build_fsqvae, preset_weights, presets, training
from keras_fsq.comparisons import best_block_average, block_average


@pytest.fixture(scope="module")
def held_out(cifar_images):
    return cifar_images[4000:4256].astype("float32") / 255


def test_every_preset_names_a_model_and_a_recipe():
    for name in presets.preset_names():
        preset = presets.get_preset(name)
        assert preset["model"]["levels"] and preset["recipe"]["epochs"] > 0, name
    assert presets.DEFAULT_PRESET in presets.PRESETS
    assert presets.get_preset("fsq_conv4x4_16bit")["model"]["levels"] == [8, 8, 8, 5, 5, 5]


def test_every_preset_resolves_to_one_typed_record_whose_recipe_keeps_the_schema():
    for name in presets.preset_names():
        record = presets.resolve(name)
        assert isinstance(record, presets.Preset) and record.model == presets.get_preset(name)["model"], name
    generator = presets.resolve_generator("maskgit_cifar10")
    assert generator.tokenizer == "fsq_cifar10" and generator.sampling["steps"] > 0
    for recipe, field in (
        ({"epochs": 3, "colour": "red"}, "'colour'"),  # unknown
        ({"epochs": 3.5}, "'epochs'"),  # mistyped
        ({"epochs": True}, "'epochs'"),  # a bool is not a count
        ({"epochs": 3}, "lacks"),  # the rest missing
    ):
        with pytest.raises(ValueError, match=field):
            presets.check_recipe(recipe, "mine")
    with pytest.raises(ValueError, match="Unknown generator preset"):
        presets.resolve_generator("fsq_cifar10")


def test_from_preset_looks_its_name_up_once_and_reads_one_weight_file(monkeypatch):
    calls = {"resolve": 0, "weights_file": 0}
    resolve, weights_file = presets.resolve, presets.Preset.weights_file

    def counted_resolve(name):
        calls["resolve"] += 1
        return resolve(name)

    def counted_weights_file(self):
        calls["weights_file"] += 1
        return weights_file(self)

    monkeypatch.setattr(presets, "resolve", counted_resolve)
    monkeypatch.setattr(presets.Preset, "weights_file", counted_weights_file)
    monkeypatch.setattr(presets, "get_preset", None)  # nothing on the way reads the table as data
    FSQVAE.from_preset("fsq_cifar10")
    assert calls == {"resolve": 1, "weights_file": 1}


def test_a_preset_builds_its_architecture_and_arguments_replace_its_values():
    model = build_fsqvae(preset="fsq_conv4x4_8bit")
    assert model.encoder.downsampling_factor == 8 and model.quantizer.levels == [8, 6, 5]
    assert model.encode(np.zeros((1, 32, 32, 3), "float32")).shape == (1, 4, 4)
    paper = build_fsqvae(preset="fsq_cifar10_paper", levels=[5, 5, 5])
    assert paper.encoder.downsampling_factor is None and paper.quantizer.levels == [5, 5, 5]
    assert paper.reconstruction_loss == "binary_crossentropy" and paper.quantizer.loss_weight == 1.0


def test_unknown_presets_and_presets_without_weights_are_clear_errors():
    with pytest.raises(ValueError, match="fsq_cifar10"):
        build_fsqvae(preset="cifar")
    with pytest.raises(ValueError, match="load_weights=False"):
        FSQVAE.from_preset("fsq_conv4x4_8bit")


def test_weights_round_trip_through_npz_and_refuse_another_model():
    model = build_fsqvae(preset="fsq_conv4x4_8bit")
    buffer = io.BytesIO()
    preset_weights.write_weights(model, buffer, dtype="float32")
    copy = build_fsqvae(preset="fsq_conv4x4_8bit")
    preset_weights.read_weights(copy, io.BytesIO(buffer.getvalue()))
    images = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(copy.encode(images), model.encode(images))
    with pytest.raises(ValueError, match="do not match"):
        preset_weights.read_weights(build_fsqvae(preset="fsq_conv8x8_8bit"), io.BytesIO(buffer.getvalue()))


def test_the_default_preset_loads_offline_and_beats_block_averaging(held_out):
    model = FSQVAE.from_preset(presets.DEFAULT_PRESET)
    reconstructions = model.reconstruct(held_out)
    mse = ((reconstructions - held_out) ** 2).mean(axis=(1, 2, 3))
    model_psnr = float(np.mean(10 * np.log10(1 / mse)))
    bits = float(np.mean(keras.ops.convert_to_numpy(model.quantizer.bits_per_example(model.encode(held_out[:1])))))
    baseline_psnr, baseline_bits, _, _ = best_block_average(held_out, bits)
    assert baseline_bits <= bits <= 640
    assert model_psnr > baseline_psnr + 3, (model_psnr, baseline_psnr)


def test_block_average_codes_block_means_at_bin_centres():
    images = np.zeros((1, 4, 4, 1), "float32")
    images[0, :2, :2] = 1.0  # one white 2x2 block
    images[0, 2:, 2:] = 0.3
    rebuilt, bits = block_average(images, 2, 2)
    assert bits == 4 * 2
    np.testing.assert_allclose(rebuilt[0, 0, 0, 0], 0.875)  # 1.0 -> bin 3 of 4, centre 7/8
    np.testing.assert_allclose(rebuilt[0, 3, 3, 0], 0.375)  # 0.3 -> bin 1, centre 3/8
    np.testing.assert_allclose(rebuilt[0, 0, 3, 0], 0.125)
    with pytest.raises(ValueError, match="cell"):
        block_average(images, 3, 2)
    assert best_block_average(images, 0) is None
    psnr, bits, cell, bits_per_value = best_block_average(images, 8)
    assert bits <= 8 and (cell, bits_per_value) in ((2, 2), (4, 8), (4, 4), (4, 3), (4, 2), (4, 1), (2, 1))
    assert psnr >= 10 * np.log10(1 / ((images - block_average(images, 2, 2)[0]) ** 2).mean()) - 1e-4


@pytest.mark.slow
def test_a_few_epochs_of_the_default_recipe_beat_block_averaging_on_held_out_images(cifar_images, held_out):
    keras.utils.set_random_seed(0)
    model = build_fsqvae(norm_momentum=0.9)  # BatchNorm statistics that settle within 150 steps
    recipe = {**presets.get_preset(presets.DEFAULT_PRESET)["recipe"], "epochs": 3, "batch_size": 30}  # 50 full batches
    train = cifar_images[:1500].astype("float32") / 255
    history = training.fit_with_recipe(model, recipe, train, verbose=0).history
    np.testing.assert_allclose(history["loss"], history["reconstruction_loss"], rtol=1e-5)  # no zero-gradient terms
    psnr = float(model.evaluate(held_out, verbose=0, return_dict=True)["psnr"])
    baseline_psnr, baseline_bits, _, _ = best_block_average(held_out, 638)
    assert baseline_bits <= 638 and psnr > baseline_psnr, (psnr, baseline_psnr)


@pytest.mark.slow
def test_every_preset_that_names_weights_ships_them_and_they_fit_its_model():
    import importlib.resources

    shipped = importlib.resources.files("keras_fsq") / "weights"
    for name in presets.preset_names():
        weights = presets.get_preset(name)["weights"]
        if weights:
            assert (shipped / weights).is_file(), name
            assert FSQVAE.from_preset(name).preset == name


def test_a_users_model_saves_to_a_preset_folder_and_loads_back(tmp_path):
    model = FSQVAE.from_preset(presets.DEFAULT_PRESET)
    model.save_to_preset(tmp_path / "mine")
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["config.json", "metadata.json", "model.weights.h5"]
    loaded = FSQVAE.from_preset(tmp_path / "mine")
    images = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(loaded.encode(images), model.encode(images))
    assert loaded.preset == presets.DEFAULT_PRESET and not loaded.compiled  # from_preset only loads
    with pytest.raises(ValueError, match="already holds a preset"):
        model.save_to_preset(tmp_path / "mine")
    with pytest.raises(ValueError, match="is not a keras_fsq preset folder: it lacks config.json"):
        FSQVAE.from_preset(tmp_path)
    with pytest.raises(ValueError, match="`load_weights` must be True or False"):
        FSQVAE.from_preset(presets.DEFAULT_PRESET, load_weights="yes")


def test_compress_takes_a_preset_folder(tmp_path):
    from PIL import Image

    from keras_fsq import data
    from keras_fsq.cli import main
    from tests.conftest import SHARED_DATA

    FSQVAE.from_preset(presets.DEFAULT_PRESET).save_to_preset(tmp_path / "codec")
    photo = tmp_path / "photo.png"  # a crop: the conv model codes it as any size, in seconds
    Image.fromarray(data.to_uint8(data.read_image(SHARED_DATA / "bsd68" / "101085.png")[:72, :100])).save(photo)
    assert main(["compress", str(photo), str(tmp_path / "x.fsq"), "--model", str(tmp_path / "codec")]) == 0
    assert (
        main(["decompress", str(tmp_path / "x.fsq"), str(tmp_path / "x.png"), "--model", str(tmp_path / "codec")]) == 0
    )
    assert (tmp_path / "x.png").is_file()


def test_train_continues_a_preset_folder(tmp_path, capsys):
    from keras_fsq.cli import main
    from tests.conftest import SHARED_DATA

    keras.utils.set_random_seed(0)
    FSQVAE.from_preset(presets.DEFAULT_PRESET).save_to_preset(tmp_path / "mine")
    out = tmp_path / "run"
    arguments = ["train", "--preset", str(tmp_path / "mine"), "--data", str(SHARED_DATA), "--limit", "96"]
    arguments += ["--train-size", "64", "--epochs", "1"]
    assert main([*arguments, "--out", str(out)]) == 0
    trained = keras.saving.load_model(out / "model.keras")
    assert trained.quantizer.levels == [8, 5, 5, 5] and trained.preset is None  # its own weights now
    # Architecture options cannot change a saved model: one line, exit 2.
    assert main([*arguments, "--levels", "5,5,5", "--out", str(tmp_path / "other")]) == 2
    assert "is a saved model" in capsys.readouterr().err


@pytest.mark.slow
def test_every_generator_preset_ships_its_weights():
    from keras_fsq import MaskGIT

    for name, preset in presets.GENERATORS.items():
        model = MaskGIT.from_preset(name)
        assert model.tokenizer.preset == preset["tokenizer"], name
        tokens = model.generate_tokens(4, steps=2, class_labels=[0, 1, 2, 3], seed=0)
        assert tokens.shape == (4, *model.grid_shape) and tokens.max() < model.vocabulary_size


def test_the_codec_commands_look_a_shipped_codec_up_once(monkeypatch, tmp_path):
    """``keras-fsq compress --quality 2`` and ``decompress``: the preset is resolved once per command and
    the record travels with the codec (the engine, its coding table, its filters)."""
    from keras_fsq import data
    from keras_fsq.cli import main

    data.write_image(np.random.default_rng(0).uniform(size=(24, 40, 3)).astype("float32"), tmp_path / "a.png")
    calls = []
    resolve = presets.resolve
    monkeypatch.setattr(presets, "resolve", lambda name: calls.append(name) or resolve(name))
    assert main(["compress", str(tmp_path / "a.png"), str(tmp_path / "a.fsq"), "--quality", "2"]) == 0
    assert calls == ["fsq_dct_q2"]
    calls.clear()
    assert main(["decompress", str(tmp_path / "a.fsq"), str(tmp_path / "b.png")]) == 0
    assert calls == ["fsq_dct_q2"]
