"""The codecs that ship inside the package: each loads offline, names itself in its files, and codes a real
photo, a higher quality spending more bits for more PSNR; the command line picks them by quality."""

import keras
import numpy as np
import pytest

from keras_fsq import codec
from keras_fsq.cli import main
from tests.conftest import SHARED_DATA


@pytest.fixture(scope="module")
def bsd_photo():
    from keras_fsq.data import image_paths, read_image

    return read_image(image_paths(SHARED_DATA / "bsd68")[0])[:100, :150]  # a real photo crop of odd size


def test_every_shipped_codec_loads_offline_and_round_trips_a_photo(bsd_photo):
    from keras_fsq import FSQVAE, presets

    rates = []
    for quality in sorted(presets.CODEC_RATE_WEIGHTS):
        model = FSQVAE.from_preset(presets.codec_preset(quality, family="fsq_photo"))
        data = codec.compress(model, bsd_photo)
        assert codec.read_header(data).model_name == f"fsq_photo_q{quality}"
        restored = codec.decompress(model, data)[0]
        assert restored.shape == bsd_photo.shape
        psnr = 10 * np.log10(1 / np.mean((restored - bsd_photo) ** 2))
        rates.append((8 * len(data) / (100 * 150), psnr))
        assert psnr > 18, (quality, psnr)
    bits = [rate for rate, _ in rates]
    assert bits[0] < bits[-1], rates  # quality 1 writes smaller files than the best quality


def test_every_block_dct_quality_ships_and_beats_the_one_below(bsd_photo):
    """The codecs --quality picks: each loads offline, names itself in its files, and a higher
    quality spends more bits for a higher PSNR on a real photo."""
    from keras_fsq import FSQVAE, presets

    points = []
    for quality in sorted(presets.DCT_QUALITIES):
        model = FSQVAE.from_preset(presets.codec_preset(quality))
        data = codec.compress(model, bsd_photo)
        assert codec.read_header(data).model_name == f"fsq_dct_q{quality}"
        # its shipped neighbours table codes the photo smaller than the factorized prior it trained with
        assert len(data) < 0.95 * len(codec.compress(model, bsd_photo, codec.EntropyModel.from_prior(model)))
        restored = codec.decompress(model, data)[0]
        points.append((8 * len(data) / (100 * 150), 10 * np.log10(1 / np.mean((restored - bsd_photo) ** 2))))
    for (bits, psnr), (next_bits, next_psnr) in zip(points, points[1:]):
        assert next_bits > bits and next_psnr > psnr, points


def test_compress_by_quality_and_decompress_without_a_model(bsd_photo, tmp_path, capsys):
    from keras_fsq.data import read_image, write_image

    write_image(bsd_photo, tmp_path / "photo.png")
    assert main(["compress", str(tmp_path / "photo.png"), str(tmp_path / "photo.fsq"), "--quality", "1"]) == 0
    assert main(["decompress", str(tmp_path / "photo.fsq"), str(tmp_path / "back.png")]) == 0
    assert read_image(tmp_path / "back.png").shape == bsd_photo.shape
    assert codec.read_header((tmp_path / "photo.fsq").read_bytes()).model_name == "fsq_dct_q1"
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main(["compress", str(tmp_path / "photo.png"), str(tmp_path / "x.fsq"), "--quality", "9"])
    assert exit_.value.code == 2 and "--quality" in capsys.readouterr().err


def test_a_shipped_codec_keeps_its_name_through_saving_and_loses_it_by_training(bsd_photo, tmp_path):
    from keras_fsq import FSQVAE

    model = FSQVAE.from_preset("fsq_photo_q1")
    model.save(tmp_path / "q1.keras")
    restored = keras.saving.load_model(tmp_path / "q1.keras")
    restored.compile(optimizer="adam")
    assert restored.preset == "fsq_photo_q1"
    assert codec.read_header(codec.compress(restored, bsd_photo[:64, :64])).model_name == "fsq_photo_q1"
    restored.fit(bsd_photo[None, :64, :64], epochs=1, verbose=0)
    assert restored.preset is None
    assert codec.read_header(codec.compress(restored, bsd_photo[:64, :64])).model_name == ""


def test_committed_files_pin_the_format_byte_for_byte_and_the_earlier_tables_still_decode(tmp_path):
    """Files in tests/files pin the format: the shipped codecs still write these exact bytes (any change to
    the coder, the tables or the engine shows here); files of format 4 (per-image powers) decode to the
    same images as the format-5 files of the same symbols; and a file written before the band tables (by
    the codec's earlier "neighbours" tables) decodes from the command line, as a user who kept one has it."""
    import pathlib

    from keras_fsq import data
    from keras_fsq.compression.dct_engine import DCTEngine

    files = pathlib.Path(__file__).parent / "files"
    photo = data.read_image(SHARED_DATA / "bsd68" / "101085.png")[:48, :64]
    for quality in (1, 4):
        engine = DCTEngine(f"fsq_dct_q{quality}")
        written = codec.compress(engine, photo)
        assert written == (files / f"bsd68_101085_crop_online_q{quality}.fsq").read_bytes(), quality
        earlier = (files / f"bsd68_101085_crop_bands_v4_q{quality}.fsq").read_bytes()
        assert (codec.read_header(earlier).version, codec.read_header(written).version) == (4, 5)
        np.testing.assert_array_equal(codec.decompress(engine, earlier), codec.decompress(engine, written))
    earlier = files / "bsd68_101085_crop_neighbours_q3.fsq"
    assert main(["decompress", str(earlier), str(tmp_path / "back.png")]) == 0
    back = data.read_image(tmp_path / "back.png")
    assert back.shape == photo.shape
    assert 10 * np.log10(1 / np.mean((back - photo) ** 2)) > 24  # quality 3 of a 64x48 crop


def test_a_quality_between_two_shipped_ones_is_their_blend_in_the_engine_and_in_keras(bsd_photo, tmp_path, capsys):
    """--quality 2.5 codes with qualities 2 and 3 blended (weights, table, rate weight, filters): its files
    fall between theirs, the NumPy engine and the Keras model are the same codec (fingerprint, symbols,
    bytes), and the file names the blend, so decompress finds it without --model."""
    from keras_fsq import FSQVAE, preset_weights, presets
    from keras_fsq.compression.dct_engine import DCTEngine

    assert presets.codec_preset(2.5) == "fsq_dct_q2.5" and presets.codec_preset(3.0) == "fsq_dct_q3"
    assert presets.codec_preset(2.504) == "fsq_dct_q2.5"  # hundredths
    for bad in (0.99, 6.01, float("nan")):
        with pytest.raises(ValueError, match="`quality` must be in"):
            presets.codec_preset(bad)
    assert not presets.is_shipped("fsq_dct_q2.50") and not presets.is_shipped("fsq_dct_q6.5")
    record = presets.resolve("fsq_dct_q2.5")
    low, high = presets.resolve("fsq_dct_q2"), presets.resolve("fsq_dct_q3")
    assert record.blend == (presets.resolve("fsq_dct_q3"), 0.5) and record.post_filter[1] == 1.5
    assert np.isclose(record.model["rate_weight"], np.sqrt(low.model["rate_weight"] * high.model["rate_weight"]))

    engines = {name: DCTEngine(name) for name in ("fsq_dct_q2", "fsq_dct_q2.5", "fsq_dct_q3")}
    key = "fsqvae/decoder/log_step"
    np.testing.assert_array_equal(
        engines["fsq_dct_q2.5"].weights[key],
        preset_weights.blend_arrays(engines["fsq_dct_q2"].weights[key], engines["fsq_dct_q3"].weights[key], 0.5),
    )
    sizes = {name: len(codec.compress(engine, bsd_photo)) for name, engine in engines.items()}
    assert sizes["fsq_dct_q2"] < sizes["fsq_dct_q2.5"] < sizes["fsq_dct_q3"]

    model = FSQVAE.from_preset("fsq_dct_q2.5")
    engine = engines["fsq_dct_q2.5"]
    assert codec.model_fingerprint(model) == engine.fingerprint
    assert codec.EntropyModel.for_model(model).fingerprint == codec.EntropyModel.for_model(engine).fingerprint
    plain = codec.compress(engine, bsd_photo, rdo_lambda=0.0)  # Keras rounds; the engine's RDOQ is its own
    assert codec.compress(model, bsd_photo) == plain
    assert codec.read_header(plain).model_name == "fsq_dct_q2.5"
    np.testing.assert_allclose(codec.decompress(model, plain), codec.decompress(engine, plain), atol=2e-3)

    path = tmp_path / "photo.fsq"
    path.write_bytes(codec.compress(engine, bsd_photo))
    assert main(["decompress", str(path), str(tmp_path / "back.png")]) == 0
    with pytest.raises(SystemExit) as exit:
        main(["compress", str(tmp_path / "back.png"), str(tmp_path / "x.fsq"), "--quality", "6.5"])
    assert exit.value.code == 2
    assert "--quality: expected a number in [1, 6]; got '6.5'" in capsys.readouterr().err
