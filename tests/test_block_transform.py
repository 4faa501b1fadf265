"""The block-DCT codec transforms: exact 4:2:0 DCT at initialisation, JPEG's distortion untrained, files."""

import io

import keras
import numpy as np
import pytest

from keras_fsq import build_fsqvae, codec, data
from keras_fsq.block_transform import (
    CODEBOOK_LEVELS,
    COEFFICIENTS,
    BlockDCTDecoder,
    BlockDCTEncoder,
    block_analysis_kernel,
    block_synthesis_kernel,
    coefficient_order,
    jpeg_steps,
    rescale_quality,
)
from tests.conftest import SHARED_DATA, missing


def four_two_zero(images):
    """Reference: YCbCr with Cb, Cr averaged over 2x2 pixels and replicated back, in RGB."""
    matrix = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
    ycc = images @ matrix.T
    n, h, w, _ = images.shape
    chroma = ycc[..., 1:].reshape(n, h // 2, 2, w // 2, 2, 2).mean(axis=(2, 4)).repeat(2, 1).repeat(2, 2)
    return np.concatenate([ycc[..., :1], chroma], -1) @ np.linalg.inv(matrix).T


def test_the_initial_kernels_are_the_420_dct_and_its_inverse():
    kernel, bias = block_analysis_kernel()
    inverse_kernel, inverse_bias = block_synthesis_kernel()
    analysis = keras.layers.Conv2D(
        COEFFICIENTS,
        8,
        strides=8,
        kernel_initializer=keras.initializers.Constant(kernel),
        bias_initializer=keras.initializers.Constant(bias),
    )
    synthesis = keras.layers.Conv2DTranspose(
        3,
        8,
        strides=8,
        kernel_initializer=keras.initializers.Constant(inverse_kernel),
        bias_initializer=keras.initializers.Constant(inverse_bias),
    )
    images = np.random.default_rng(0).uniform(size=(2, 16, 24, 3)).astype("float32")
    coefficients = keras.ops.convert_to_numpy(analysis(images))
    # the luma DC of a block is 8 x its mean luma, centred: 8 (Y - 1/2)
    luma = images[0, :8, :8] @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(coefficients[0, 0, 0, 0], 8 * (luma.mean() - 0.5), atol=1e-5)
    restored = keras.ops.convert_to_numpy(synthesis(coefficients))
    np.testing.assert_allclose(restored, four_two_zero(images), atol=2e-6)


def test_coefficient_order_and_steps():
    order = coefficient_order()
    assert sorted(order) == list(range(COEFFICIENTS))
    assert order[0] == 0  # the luma DC has the most levels
    steps = jpeg_steps(50)
    assert steps[0] == pytest.approx(16 / 255) and steps[63] == pytest.approx(99 / 255)
    assert (jpeg_steps(20) > jpeg_steps(50)).all() and (jpeg_steps(90) <= jpeg_steps(50)).all()
    with pytest.raises(ValueError, match="levels"):
        BlockDCTEncoder(levels=[255, 31, 15, 8])
    with pytest.raises(ValueError, match="quality"):
        BlockDCTEncoder(quality=0)


@pytest.fixture(scope="module")
def photo():
    path = SHARED_DATA / "bsd68" / "101085.png"
    if not path.exists():
        missing(f"real photos not found at {path}")
    image = data.read_image(path)
    return image[: image.shape[0] // 8 * 8, : image.shape[1] // 8 * 8]


def jpeg_psnr(image, quality):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray((image * 255).round().astype("uint8")).save(buffer, "JPEG", quality=quality)
    decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())), dtype="float32") / 255
    return 10 * np.log10(1 / np.mean((decoded - image) ** 2))


@pytest.mark.parametrize("quality", [20, 50])
def test_untrained_it_quantises_like_jpeg(photo, quality):
    """With its initial weights the model is a JPEG-like coder: PSNR within 0.5 dB of JPEG at that quality."""
    model = build_fsqvae(preset="fsq_dct_base", dct_quality=quality)
    reconstruction = model.reconstruct(photo[None])[0]
    ours = 10 * np.log10(1 / np.mean((np.round(reconstruction * 255) / 255 - photo) ** 2))
    assert abs(ours - jpeg_psnr(photo, quality)) < 0.5, (ours, jpeg_psnr(photo, quality))


def test_rescale_quality_moves_the_steps(photo):
    model = build_fsqvae(preset="fsq_dct_base", dct_quality=30)
    finer = build_fsqvae(preset="fsq_dct_base", dct_quality=30)
    finer.set_weights(model.get_weights())
    rescale_quality(finer, 30, 60)
    np.testing.assert_allclose(np.exp(keras.ops.convert_to_numpy(finer.decoder.log_step)), jpeg_steps(60), rtol=1e-5)
    psnr = [10 * np.log10(1 / np.mean((m.reconstruct(photo[None])[0] - photo) ** 2)) for m in (model, finer)]
    assert psnr[1] > psnr[0] + 1.5


def test_a_block_dct_codec_round_trips_files_and_saves(photo, tmp_path):
    model = build_fsqvae(preset="fsq_dct_base")
    crop = photo[:64, :96]
    file_bytes = codec.compress(model, crop)
    decoded = codec.decompress(model, file_bytes)[0]
    np.testing.assert_allclose(decoded, model.reconstruct(crop[None])[0], atol=1e-5)
    assert 8 * len(file_bytes) / crop[..., 0].size < 8  # the untrained prior is uniform: at most log2 L bits a symbol
    model.save(tmp_path / "dct.keras")
    restored = keras.saving.load_model(tmp_path / "dct.keras")
    assert isinstance(restored.encoder, BlockDCTEncoder) and isinstance(restored.decoder, BlockDCTDecoder)
    assert restored.encoder.levels == list(CODEBOOK_LEVELS)
    np.testing.assert_array_equal(codec.decompress(restored, file_bytes), codec.decompress(model, file_bytes))
