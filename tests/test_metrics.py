import keras
import numpy as np
import pytest
from keras import ops

from keras_fsq.metrics import CodebookPerplexity, CodebookUsage, psnr, ssim
from tests.conftest import SHARED_DATA


def test_psnr_matches_definition():
    rng = np.random.default_rng(0)
    a = rng.uniform(size=(4, 8, 8, 3)).astype("float32")
    b = np.clip(a + rng.normal(scale=0.05, size=a.shape), 0, 1).astype("float32")
    expected = 10 * np.log10(1 / ((a - b) ** 2).mean(axis=(1, 2, 3)))
    np.testing.assert_allclose(ops.convert_to_numpy(psnr(a, b)), expected, rtol=1e-5)


def test_ssim_matches_tensorflow_reference(cifar_images):
    import tensorflow as tf

    a = cifar_images[:6].astype("float32") / 255
    b = np.clip(a + np.random.default_rng(1).normal(scale=0.1, size=a.shape), 0, 1).astype("float32")
    expected = tf.image.ssim(a, b, max_val=1.0).numpy()
    np.testing.assert_allclose(ops.convert_to_numpy(ssim(a, b)), expected, rtol=1e-4)
    np.testing.assert_allclose(ops.convert_to_numpy(ssim(a, a)), 1.0, rtol=1e-5)


def test_ssim_rejects_non_image_input():
    with pytest.raises(ValueError, match="batch, H, W, C"):
        ssim(np.zeros((4, 4), "float32"), np.zeros((4, 4), "float32"))


def test_codebook_usage_and_perplexity_count_since_reset():
    usage, perplexity = CodebookUsage(8), CodebookPerplexity(8)
    for metric in (usage, perplexity):
        metric.update_state(np.array([[0, 1], [1, 3]], "int32"))
        metric.update_state(np.array([3, 3], "int32"))
    assert float(usage.result()) == pytest.approx(3 / 8)
    p = np.array([1, 2, 3]) / 6
    assert float(perplexity.result()) == pytest.approx(np.exp(-(p * np.log(p)).sum()), rel=1e-5)
    usage.reset_state()
    assert float(usage.result()) == 0.0


def test_uniform_codes_reach_full_perplexity():
    perplexity = CodebookPerplexity(16)
    perplexity.update_state(np.arange(16, dtype="int32"))
    assert float(perplexity.result()) == pytest.approx(16, rel=1e-5)


def test_codebook_size_must_be_positive_int():
    with pytest.raises(ValueError, match="codebook_size"):
        CodebookUsage(0)


def test_ms_ssim_matches_tensorflows_on_real_photos():
    import tensorflow as tf

    from keras_fsq.data import image_paths, read_image
    from keras_fsq.metrics import ms_ssim

    folder = SHARED_DATA / "bsd68"
    if not folder.is_dir():
        pytest.skip("real photos not found")
    clean = np.stack([read_image(p)[:256, :256] for p in image_paths(folder)[:2]])
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 0.1, clean.shape), 0, 1).astype("float32")
    ours = np.asarray(keras.ops.convert_to_numpy(ms_ssim(clean, noisy)))
    np.testing.assert_allclose(ours, tf.image.ssim_multiscale(clean, noisy, 1.0).numpy(), atol=5e-4)
    assert np.asarray(keras.ops.convert_to_numpy(ms_ssim(clean, clean))) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="at least 16"):
        ms_ssim(clean[:, :8, :8], noisy[:, :8, :8])
