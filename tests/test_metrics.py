import keras
import numpy as np
import pytest
from keras import ops

from keras_fsq.metrics import CodebookPerplexity, CodebookUsage, psnr, ssim
from tests.conftest import SHARED_DATA, missing


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
        missing("real photos not found")
    clean = np.stack([read_image(p)[:256, :256] for p in image_paths(folder)[:2]])
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 0.1, clean.shape), 0, 1).astype("float32")
    ours = np.asarray(keras.ops.convert_to_numpy(ms_ssim(clean, noisy)))
    np.testing.assert_allclose(ours, tf.image.ssim_multiscale(clean, noisy, 1.0).numpy(), atol=5e-4)
    assert np.asarray(keras.ops.convert_to_numpy(ms_ssim(clean, clean))) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="at least 16"):
        ms_ssim(clean[:, :8, :8], noisy[:, :8, :8])


def test_frechet_distance_on_known_gaussians():
    import scipy.linalg

    from keras_fsq.fid import frechet_distance

    # 1-D: (m1 - m2)^2 + (s1 - s2)^2
    assert frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(4.0 + 1.0)
    # Diagonal covariances: |mu_a - mu_b|^2 + sum (sqrt(a_i) - sqrt(b_i))^2
    a, b = np.array([1.0, 2.0, 0.5]), np.array([3.0, 0.5, 0.5])
    expected = 1.0 + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(np.zeros(3), np.diag(a), np.array([1.0, 0, 0]), np.diag(b)) == pytest.approx(expected)
    # Full covariances against scipy's matrix square root written out
    rng = np.random.default_rng(0)
    m = rng.normal(size=(5, 5))
    cov_a, cov_b = m @ m.T + np.eye(5), np.cov(rng.normal(size=(50, 5)), rowvar=False)
    mu_a, mu_b = rng.normal(size=5), rng.normal(size=5)
    reference = np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * scipy.linalg.sqrtm(cov_a @ cov_b).real)
    assert frechet_distance(mu_a, cov_a, mu_b, cov_b) == pytest.approx(reference, rel=1e-9)
    assert frechet_distance(mu_a, cov_a, mu_a, cov_a) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="do not match"):
        frechet_distance(mu_a, cov_a, mu_b[:4], cov_b[:4, :4])


def test_frechet_distance_of_rank_deficient_covariances_matches_sqrtm():
    """Fewer samples than dimensions, as FID's 2,048 features of a few hundred images."""
    import scipy.linalg

    from keras_fsq.fid import frechet_distance

    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(100, 256)), rng.normal(0.1, 1.2, size=(120, 256)) ** 2
    cov_x, cov_y = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = scipy.linalg.sqrtm(cov_x @ cov_y).real
    reference = np.sum((x.mean(0) - y.mean(0)) ** 2) + np.trace(cov_x + cov_y - 2 * root)
    assert frechet_distance(x.mean(0), cov_x, y.mean(0), cov_y) == pytest.approx(reference, rel=1e-6)


def test_fid_and_kid_from_sampled_features():
    from keras_fsq.fid import fid_from_features, frechet_distance, kid_from_features

    rng = np.random.default_rng(1)
    cov = np.diag([1.0, 2.0, 0.5, 1.0])
    x = rng.multivariate_normal(np.zeros(4), cov, size=20000)
    y = rng.multivariate_normal(np.array([1.0, 0, 0, 0]), 4 * cov, size=20000)
    analytic = frechet_distance(np.zeros(4), cov, [1.0, 0, 0, 0], 4 * cov)
    assert fid_from_features(x, y) == pytest.approx(analytic, rel=0.05)
    same, _ = kid_from_features(x[:1000], x[1000:2000], subsets=5, subset_size=500)
    different, spread = kid_from_features(x[:1000], y[:1000], subsets=5, subset_size=500)
    assert abs(same) < 0.05 * different and different > 0 and 0 < spread < 0.5 * different
    # Unbiased MMD^2 written out as loops on a tiny set
    small_x, small_y = x[:4], y[:4]
    k = lambda p, q: (p @ q / 4 + 1) ** 3  # noqa: E731
    xx = sum(k(small_x[i], small_x[j]) for i in range(4) for j in range(4) if i != j) / 12
    yy = sum(k(small_y[i], small_y[j]) for i in range(4) for j in range(4) if i != j) / 12
    xy = sum(k(small_x[i], small_y[j]) for i in range(4) for j in range(4)) / 16
    assert kid_from_features(small_x, small_y, subsets=1, subset_size=4) == pytest.approx((xx + yy - 2 * xy, 0.0))
    with pytest.raises(ValueError, match="real"):
        fid_from_features(x[:1], y)


def test_fid_with_a_user_supplied_feature_extractor(cifar_images):
    from keras_fsq.fid import fid, kid

    network = keras.Sequential(
        [keras.layers.Conv2D(8, 3, strides=2, activation="relu"), keras.layers.GlobalAveragePooling2D()]
    )

    def extract(images):
        return keras.ops.convert_to_numpy(network(np.asarray(images, "float32")))

    images = cifar_images[:400].astype("float32") / 255
    noisy = np.clip(images + np.random.default_rng(0).normal(0, 0.2, images.shape), 0, 1)
    assert fid(images[:200], images[200:], extract) < fid(images[:200], noisy[200:], extract)
    assert (
        kid(images[:200], images[200:], extract, subset_size=100)[0]
        < kid(images[:200], noisy[200:], extract, subset_size=100)[0]
    )


def test_bd_rate_of_a_codec_needing_four_fifths_of_the_bits_is_minus_20_percent():
    from keras_fsq.comparisons import bd_rate

    rates = np.array([0.1, 0.25, 0.5, 1.0, 1.6])
    quality = 30 + 6 * np.log2(rates)  # any monotone curve
    assert bd_rate(rates, quality, 0.8 * rates, quality) == pytest.approx(-20.0, abs=1e-6)
    assert bd_rate(rates, quality, rates, quality + 1.0) < 0  # better quality at the same rate: fewer bits
    with pytest.raises(ValueError, match="overlap"):
        bd_rate(rates, quality, rates, quality + 100)


def test_nearest_rmse_is_the_distance_to_the_closest_reference_image():
    from keras_fsq.comparisons import nearest_rmse

    rng = np.random.default_rng(0)
    reference, images = rng.uniform(size=(40, 4, 4, 3)), rng.uniform(size=(7, 4, 4, 3))
    images[2] = reference[13]  # an exact copy
    brute = np.sqrt(((images[:, None] - reference[None]) ** 2).mean(axis=(2, 3, 4))).min(axis=1)
    np.testing.assert_allclose(nearest_rmse(images, reference, batch_size=3), brute, atol=1e-6)
    assert nearest_rmse(images[2:3], reference)[0] < 1e-6
