"""The codec's levers around its networks: rate-distortion optimized quantization and the deblocking filter."""

import numpy as np
import pytest

from keras_fsq import codec, data, presets
from keras_fsq.compression.dct_engine import DCTEngine
from keras_fsq.compression.deblock import deblock
from keras_fsq.compression.rdoq import rdo_symbols
from tests.conftest import SHARED_DATA


def test_deblocking_smooths_small_steps_at_block_edges_and_keeps_real_edges():
    image = np.full((16, 24, 3), 0.5, "float32")
    image[:, 8:16] = 0.52  # a coding step at the edges x = 8 and x = 16
    image[:, 16:] = 0.9  # a real edge at x = 16: far above alpha
    out = deblock(image, alpha=0.1, beta=0.05, tc=0.01)
    assert out[0, 7, 0] > 0.5 and out[0, 8, 0] < 0.52  # the step at x = 8 is split between its sides
    assert abs((out[0, 8, 0] - out[0, 7, 0]) - 0.02) > 0.005
    np.testing.assert_array_equal(out[:, 15:17], image[:, 15:17])  # the real edge stays
    np.testing.assert_array_equal(out[:, 3:5], image[:, 3:5])  # inside a block nothing moves
    np.testing.assert_array_equal(image[:, 8], np.float32(0.52))  # a copy, unless asked to work in place
    np.testing.assert_array_equal(deblock(image, alpha=0.0, beta=0.05, tc=0.01), image)
    assert deblock(image, 0.1, 0.05, 0.01, in_place=True) is image and image[0, 8, 0] < 0.52


@pytest.fixture(scope="module")
def photo():
    return data.read_image(SHARED_DATA / "bsd68" / "101085.png")


def test_rdoq_spends_fewer_bits_and_keeps_the_file_decodable(photo):
    engine = DCTEngine("fsq_dct_q2")
    prior = codec.EntropyModel.for_model(engine)
    positions = engine.positions(codec.pad_images(engine, photo[None]))
    np.testing.assert_array_equal(rdo_symbols(positions, prior, engine.step_errors(), 0.0), np.round(positions))
    lam = 3 * presets.get_preset("fsq_dct_q2")["model"]["rate_weight"]
    chosen = rdo_symbols(positions, prior, engine.step_errors(), lam)
    rounded = np.round(positions).astype("uint8")
    changed = chosen != rounded
    assert 0 < changed.mean() < 0.2
    assert (np.abs(chosen.astype(int) - rounded)[changed] == 1).all()  # one step ...
    centre = (np.asarray(prior.levels) - 1) // 2
    assert (np.abs(chosen.astype(int) - centre) <= np.abs(rounded.astype(int) - centre)).all()  # ... toward zero
    assert not changed[..., prior.predicted].any()  # predicted (DC) dimensions keep their rounding
    plain, optimized = codec.compress(engine, photo, rdo_lambda=0.0), codec.compress(engine, photo)  # the default
    assert engine.rdo_lambda == pytest.approx(presets.DCT_RDO_MULTIPLIER * lam)
    assert len(optimized) < 0.95 * len(plain)

    def psnr(file_bytes):
        return 10 * np.log10(1 / np.mean((codec.decompress(engine, file_bytes)[0] - photo) ** 2))

    assert psnr(plain) - 0.5 < psnr(optimized) < psnr(plain)
    with pytest.raises(ValueError, match="rdo_lambda"):
        codec.compress(codec_keras_model(), photo, rdo_lambda=lam)


def codec_keras_model():
    from keras_fsq import FSQVAE

    return FSQVAE.from_preset("fsq_dct_q2")


def test_the_shipped_codecs_decode_with_their_deblocking_and_post_filter_on_every_path(photo):
    from keras_fsq import FSQVAE
    from keras_fsq.compression.post_filter import PostFilter

    name = "fsq_dct_q1"
    preset = presets.resolve(name)
    assert preset.deblock is not None and preset.post_filter == ("fsq_dct_postfilter.npz", 0)
    engine, model = DCTEngine(name), FSQVAE.from_preset(name)
    file_bytes = codec.compress(engine, photo, rdo_lambda=0.0)  # rounded symbols: the engine's own
    by_engine, by_keras = codec.decompress(engine, file_bytes), codec.decompress(model, file_bytes)
    np.testing.assert_allclose(by_engine, by_keras, atol=1e-4)
    engine.post_filter = None
    deblocked = codec.decompress(engine, file_bytes)
    padded = codec.pad_images(engine, photo[None])
    unfiltered = engine.decode_symbols(engine.symbols(padded))[:, : photo.shape[0], : photo.shape[1]]
    assert np.abs(unfiltered - deblocked).max() > 1e-3  # the deblocking moved pixels at block edges
    rows, columns = np.mgrid[: photo.shape[0], : photo.shape[1]]
    inside = (rows % 8 >= 2) & (rows % 8 <= 5) & (columns % 8 >= 2) & (columns % 8 <= 5)  # 2+ pixels from edges
    np.testing.assert_allclose(unfiltered[0][inside], deblocked[0][inside], atol=1e-6)
    # the post-filter runs last, on the deblocked padded image
    deblocked_padded = deblock(engine.decode_symbols(engine.symbols(padded)), *preset.deblock)
    expected = PostFilter.shipped(*preset.post_filter)(deblocked_padded)[:, : photo.shape[0], : photo.shape[1]]
    assert np.abs(expected - deblocked).max() > 1e-2
    np.testing.assert_allclose(by_engine, expected, atol=1e-6)


def test_band_contexts_code_busy_blocks_smaller_and_round_trip():
    """Blocks whose low band is busy have a busy high band: the ``neighbours_bands`` table, given the group
    coded before at the same position, codes new grids in fewer bits than the ``neighbours`` table."""
    rng = np.random.default_rng(0)

    def grids(count):
        busy = rng.uniform(size=(count, 12, 16, 1)) < 0.4  # which blocks are busy: no spatial pattern
        low = 7 + busy * rng.choice([-4, -2, 2, 4], size=(count, 12, 16, 2))  # L = 15, centre 7
        high = 3 + busy * rng.choice([-1, 0, 1], size=(count, 12, 16, 2))  # L = 7, centre 3
        return np.concatenate([low, high], axis=-1).astype("uint8")

    levels = [15, 15, 7, 7]
    train, test = grids(20), grids(5)
    tables = {
        context: codec.EntropyModel.count(levels, [train], context) for context in ("neighbours", "neighbours_bands")
    }
    assert [list(g) for g in tables["neighbours_bands"].dimension_groups()] == [[0, 1], [2, 3]]
    sizes = {name: len(codec.encode_symbols(test, table, 5, "none")) for name, table in tables.items()}
    # the high band costs 0.59 of its bits given the low one (counted on train); the file 0.84
    assert sizes["neighbours_bands"] < 0.9 * sizes["neighbours"], sizes
    table = tables["neighbours_bands"]
    for step, adaptation in ((2, "powers"), (5, "none"), (3, "online")):
        words = codec.encode_symbols(test, table, step, adaptation)
        decoded = np.concatenate(list(codec.decode_symbol_chunks(words, test.shape, table, step, adaptation)))
        np.testing.assert_array_equal(decoded, test)
    assert codec.EntropyModel.from_json(table.to_json()).fingerprint == table.fingerprint


def test_the_shipped_codecs_code_under_band_contexts_and_still_decode_files_of_their_earlier_tables(photo):
    from keras_fsq.compression.tables import shipped_table

    engine = DCTEngine("fsq_dct_q3")
    current = codec.EntropyModel.for_model(engine)
    earlier = shipped_table(presets.get_preset("fsq_dct_q3")["earlier_coding_prior"])
    assert (current.context, earlier.context) == ("neighbours_bands", "neighbours")
    now, before = codec.compress(engine, photo), codec.compress(engine, photo, prior=earlier)
    assert len(now) < 0.99 * len(before)  # the band contexts' gain on a photo never trained on
    # a file of the earlier table decodes without naming it: the header's prior fingerprint picks it
    np.testing.assert_array_equal(codec.decompress(engine, before), codec.decompress(engine, before, prior=earlier))
    with pytest.raises(codec.CodecError, match="different prior"):
        codec.decompress(engine, before, prior=current)
