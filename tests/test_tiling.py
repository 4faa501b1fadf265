"""Tiled encoding and decoding give the untiled result, and the codec uses them for large images."""

import numpy as np
import pytest

from keras_fsq import FSQ, FSQVAE, ConvDecoder, ConvEncoder, build_fsqvae, codec, data, tiling
from tests.conftest import SHARED_DATA, missing


@pytest.fixture(scope="module")
def photo():
    path = SHARED_DATA / "bsd68" / "101085.png"
    if not path.exists():
        missing(f"real photos not found at {path}")
    image = data.read_image(path)
    return image[:256, :320]


def models():
    return {
        "conv": FSQVAE(ConvEncoder(4, [8, 8, 8]), FSQ([7, 5, 5, 5], track_usage=True), ConvDecoder(3, [8, 8, 8])),
        "block_dct": build_fsqvae(preset="fsq_dct_base"),
    }


@pytest.mark.parametrize("name", ["conv", "block_dct"])
def test_tiles_with_the_measured_halo_give_the_untiled_result(name, photo):
    model = models()[name]
    model.build((None, 32, 32, 3))
    encoder_halo, decoder_halo = tiling.halos(model)
    assert 1 <= encoder_halo <= tiling.PROBE and 1 <= decoder_halo <= tiling.PROBE
    whole = model.encode(photo[None])[0]
    tiled = tiling.encode_tiled(model, photo, tile=16)
    np.testing.assert_array_equal(tiled, whole)
    np.testing.assert_allclose(tiling.decode_tiled(model, whole, tile=16), model.decode(whole[None])[0], atol=1e-5)


def test_the_codec_tiles_large_images_and_files_do_not_change(photo, monkeypatch):
    model = build_fsqvae(preset="fsq_dct_base")
    untiled = codec.compress(model, photo)
    expected = codec.decompress(model, untiled)[0]
    monkeypatch.setattr(tiling, "TILE", 16)  # 256x320 is 32x40 latents: 6 tiles
    assert codec.compress(model, photo) == untiled  # the same symbols, so the same bytes
    decoded = codec.decompress(model, untiled)[0]
    psnr = [10 * np.log10(1 / np.mean((image - photo) ** 2)) for image in (expected, decoded)]
    assert abs(psnr[0] - psnr[1]) < 0.05 and np.abs(decoded - expected).max() < 1e-4
    # What `keras-fsq decompress` uses: 8-bit tiles, the float image rounded as save_image rounds it.
    (eight_bit,) = list(codec.iter_decompress(model, untiled, dtype="uint8"))
    assert eight_bit.dtype == np.uint8
    assert np.abs(eight_bit.astype(int) - data.to_uint8(expected).astype(int)).max() <= 1  # float rounding at .5


def test_decoding_to_8_bits_refuses_other_dtypes(photo):
    model = build_fsqvae(preset="fsq_dct_base")
    with pytest.raises(ValueError, match="dtype"):
        tiling.decode_tiled(model, model.encode(photo[None, :64, :64])[0], dtype="float16")
    with pytest.raises(ValueError, match="dtype"):
        next(codec.iter_decompress(model, codec.compress(model, photo[:64, :64]), dtype="int8"))
