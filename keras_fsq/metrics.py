"""Image-quality functions and codebook metrics, in ``keras.ops``; FID and KID."""

import contextlib
import sys

import keras
import numpy as np
from keras import ops

from keras_fsq.inception import InceptionWeightsUnavailable  # noqa: F401  (raised by inception_features)
from keras_fsq.quantizers.base import histogram


def psnr(y_true, y_pred, max_val=1.0):
    """Peak signal-to-noise ratio per image: ``10 log10(max_val^2 / MSE)`` dB."""
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    axes = tuple(range(1, len(y_true.shape)))
    mse = ops.mean(ops.square(y_true - y_pred), axis=axes)
    return 10.0 * ops.log10(max_val**2 / ops.maximum(mse, 1e-10))


def _gaussian_window(size, sigma, channels):
    coords = np.arange(size, dtype="float64") - (size - 1) / 2
    g = np.exp(-(coords**2) / (2 * sigma**2))
    g /= g.sum()
    window = np.outer(g, g).astype("float32")
    return np.tile(window[:, :, None, None], (1, 1, channels, 1))


def _ssim_maps(y_true, y_pred, max_val, filter_size, filter_sigma, k1, k2):
    """SSIM's luminance term ``l`` and contrast-structure term ``cs`` per window position."""
    height, width, channels = y_true.shape[1:]
    size = min(filter_size, height, width)
    window = _gaussian_window(size, filter_sigma, channels)

    def blur(x):
        return ops.depthwise_conv(x, window, strides=1, padding="valid")

    mu_x, mu_y = blur(y_true), blur(y_pred)
    var_x = blur(y_true * y_true) - mu_x * mu_x
    var_y = blur(y_pred * y_pred) - mu_y * mu_y
    cov = blur(y_true * y_pred) - mu_x * mu_y
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    luminance = (2 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    contrast_structure = (2 * cov + c2) / (var_x + var_y + c2)
    return luminance, contrast_structure


def _as_image_batch(y_true, y_pred, name):
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    if len(y_true.shape) != 4:
        raise ValueError(f"`{name}` expects (batch, H, W, C) images; received shape {y_true.shape}.")
    return y_true, y_pred


def ssim(y_true, y_pred, max_val=1.0, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03):
    """Structural similarity per image (Wang et al. 2004), Gaussian window.

    ``SSIM = (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2))``
    averaged over the valid window positions and channels, with
    ``C1 = (k1 max_val)^2`` and ``C2 = (k2 max_val)^2``. Images are
    ``(batch, H, W, C)``; the window shrinks to ``min(H, W)`` for small images.
    """
    y_true, y_pred = _as_image_batch(y_true, y_pred, "ssim")
    luminance, contrast_structure = _ssim_maps(y_true, y_pred, max_val, filter_size, filter_sigma, k1, k2)
    return ops.mean(luminance * contrast_structure, axis=(1, 2, 3))


MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def ms_ssim(
    y_true, y_pred, max_val=1.0, weights=MS_SSIM_WEIGHTS, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03, floor=0.0
):
    """Multi-scale SSIM per image (Wang, Simoncelli & Bovik 2003).

    ``MS-SSIM = prod_{j<M} mean(cs_j)^{w_j} * mean(l_M cs_M)^{w_M}``, scale ``j+1``
    being scale ``j`` average-pooled 2x2; means below ``floor`` are raised to it (0:
    negative means clipped to 0 as in TensorFlow's ``ssim_multiscale``; a loss uses a
    small positive floor so the power's gradient stays finite). Images must keep >= 1
    pixel at the coarsest scale.
    """
    y_true, y_pred = _as_image_batch(y_true, y_pred, "ms_ssim")
    if min(y_true.shape[1:3]) < 2 ** (len(weights) - 1):
        raise ValueError(
            f"`ms_ssim` with {len(weights)} scales needs images of at least {2 ** (len(weights) - 1)} pixels a side."
        )
    result = 1.0
    for scale, weight in enumerate(weights):
        luminance, contrast_structure = _ssim_maps(y_true, y_pred, max_val, filter_size, filter_sigma, k1, k2)
        last = scale == len(weights) - 1
        value = ops.mean(luminance * contrast_structure if last else contrast_structure, axis=(1, 2, 3))
        result = result * ops.power(ops.maximum(value, floor), weight)
        if not last:
            y_true = ops.average_pool(y_true, 2, strides=2, padding="valid")
            y_pred = ops.average_pool(y_pred, 2, strides=2, padding="valid")
    return result


class CodeHistogram(keras.metrics.Metric):
    """Counts how often each of ``codebook_size`` indices occurs since reset."""

    def __init__(self, codebook_size, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if not isinstance(codebook_size, int) or codebook_size < 1:
            raise ValueError(f"`codebook_size` must be a positive int; received {codebook_size!r}.")
        self.codebook_size = codebook_size
        self.counts = self.add_variable(shape=(codebook_size,), initializer="zeros", dtype="float32", name="counts")

    def update_state(self, indices, sample_weight=None):
        self.counts.assign(self.counts + histogram(ops.cast(indices, "int32"), self.codebook_size))

    def reset_state(self):
        self.counts.assign(ops.zeros((self.codebook_size,), dtype="float32"))

    def get_config(self):
        return {**super().get_config(), "codebook_size": self.codebook_size}


@keras.saving.register_keras_serializable(package="keras_fsq")
class CodebookUsage(CodeHistogram):
    """Fraction of the codebook's codes seen at least once since reset."""

    def __init__(self, codebook_size, name="codebook_usage", **kwargs):
        super().__init__(codebook_size, name=name, **kwargs)

    def result(self):
        return ops.mean(ops.cast(self.counts > 0, "float32"))


@keras.saving.register_keras_serializable(package="keras_fsq")
class CodebookPerplexity(CodeHistogram):
    """``exp(H(p))`` of the code distribution since reset (1 … codebook_size)."""

    def __init__(self, codebook_size, name="perplexity", **kwargs):
        super().__init__(codebook_size, name=name, **kwargs)

    def result(self):
        p = self.counts / ops.maximum(ops.sum(self.counts), 1.0)
        return ops.exp(-ops.sum(ops.where(p > 0, p * ops.log(p + 1e-12), 0.0)))


def frechet_distance(mean_a, cov_a, mean_b, cov_b):
    """``|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))`` between two Gaussians (the FID formula).

    ``Tr((S_a S_b)^(1/2))`` is the sum of the square roots of the eigenvalues of
    ``S_a S_b``, which are those of the symmetric ``S_a^(1/2) S_b S_a^(1/2)``: two
    symmetric eigendecompositions instead of a general matrix square root (the
    reference code's ``scipy.linalg.sqrtm``, several times slower at 2,048
    dimensions); eigenvalues that round-off makes slightly negative count as 0.
    """
    mean_a, mean_b = np.asarray(mean_a, "float64"), np.asarray(mean_b, "float64")
    cov_a, cov_b = np.atleast_2d(cov_a).astype("float64"), np.atleast_2d(cov_b).astype("float64")
    if mean_a.shape != mean_b.shape or cov_a.shape != cov_b.shape or cov_a.shape != (mean_a.size, mean_a.size):
        raise ValueError(
            f"Means {mean_a.shape}, {mean_b.shape} and covariances {cov_a.shape}, {cov_b.shape} do not match."
        )
    values, vectors = np.linalg.eigh(cov_a)
    root_a = (vectors * np.sqrt(np.maximum(values, 0.0))) @ vectors.T
    trace_root = np.sqrt(np.maximum(np.linalg.eigvalsh(root_a @ cov_b @ root_a), 0.0)).sum()
    return float(np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root)


def _feature_matrix(features, name):
    features = np.asarray(features, dtype="float64")
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"`{name}` must be (n >= 2, dims) features; received shape {features.shape}.")
    return features


def fid_from_features(real, generated):
    """Fréchet distance between Gaussians fitted to two feature sets ``(n, dims)``."""
    real, generated = _feature_matrix(real, "real"), _feature_matrix(generated, "generated")
    return frechet_distance(
        real.mean(0), np.cov(real, rowvar=False), generated.mean(0), np.cov(generated, rowvar=False)
    )


def kid_from_features(real, generated, subsets=100, subset_size=1000, seed=0):
    """Kernel inception distance: ``(mean, std)`` of the unbiased MMD^2 with ``k(x, y) = (x.y / dims + 1)^3``
    over ``subsets`` random subsets of ``min(subset_size, n)`` rows of each set (the reference KID's defaults)."""
    real, generated = _feature_matrix(real, "real"), _feature_matrix(generated, "generated")
    rng = np.random.default_rng(seed)
    size, dims = min(subset_size, len(real), len(generated)), real.shape[1]
    values = []
    for _ in range(subsets):
        x = real[rng.choice(len(real), size, replace=False)]
        y = generated[rng.choice(len(generated), size, replace=False)]
        k_xx, k_yy, k_xy = ((a @ b.T / dims + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
        off_diagonal = size * (size - 1)
        values.append(
            (k_xx.sum() - np.trace(k_xx)) / off_diagonal
            + (k_yy.sum() - np.trace(k_yy)) / off_diagonal
            - 2 * k_xy.mean()
        )
    return float(np.mean(values)), float(np.std(values))


def _rgb_batch(images, name):
    """A batch of same-size images as float32 ``(n, H, W, 3)`` in [0, 1] (grey repeated over 3 channels)."""
    from keras_fsq.data import to_unit_float

    batch = to_unit_float(np.stack([np.asarray(image) for image in images]), name)
    if batch.ndim != 4 or batch.shape[-1] not in (1, 3):
        raise ValueError(f"`{name}` must hold (H, W, 1 or 3) images; received {batch.shape[1:]}.")
    return np.repeat(batch, 3, axis=-1) if batch.shape[-1] == 1 else batch


def inception_features(batch_size=50, progress=False, source=None):
    """A function: images -> their ``(n, 2048)`` TF-Inception pool3 features, the network of the reference FID.

    The images are any sequence (an array ``(n, H, W, C)``, a list of arrays of
    different sizes, or anything with ``len`` and indexing that reads them on
    demand) of uint8 or [0, 1] float images; each run of equal sizes is cut into
    batches of ``batch_size``, resized to 299x299 with TensorFlow 1's bilinear resize
    (``keras_fsq.inception``). ``progress`` shows a Keras progress bar (on stderr).
    Raises ``InceptionWeightsUnavailable`` naming the extra to install when the
    weights are missing.
    """
    from keras_fsq import inception

    network = inception.load_fid_weights(inception.fid_inception_network(), source)

    def extract(images, name="images"):
        count = len(images)
        if count == 0:
            raise ValueError(f"`{name}` holds no images.")
        bar = keras.utils.Progbar(count, unit_name="image") if progress else None
        outputs, start = [], 0
        while start < count:
            first = np.asarray(images[start])
            batch = [first]
            while len(batch) < batch_size and start + len(batch) < count:
                image = np.asarray(images[start + len(batch)])
                if image.shape != first.shape:
                    break
                batch.append(image)
            inputs = inception.inception_inputs(_rgb_batch(batch, name))
            outputs.append(np.asarray(network.predict_on_batch(inputs), dtype="float64"))
            start += len(batch)
            if bar:
                with contextlib.redirect_stdout(sys.stderr):
                    bar.update(start)
        return np.concatenate(outputs)

    return extract


def fid(real_images, generated_images, feature_extractor=None):
    """FID between two image sets: the Fréchet distance of Gaussians fitted to their Inception features.

    ``feature_extractor`` (images -> ``(n, dims)``) defaults to ``inception_features()``.
    """
    extract = feature_extractor or inception_features()
    return fid_from_features(extract(real_images), extract(generated_images))


def kid(real_images, generated_images, feature_extractor=None, **kwargs):
    """KID ``(mean, std)`` between two image sets; arguments as ``fid`` and ``kid_from_features``."""
    extract = feature_extractor or inception_features()
    return kid_from_features(extract(real_images), extract(generated_images), **kwargs)


def block_average(images, cell, bits):
    """The trivial codec: each ``cell``x``cell`` block's mean per channel, quantized to ``bits`` bits.

    Block means ``m`` in [0, 1] are coded as ``k = min(floor(m 2^b), 2^b - 1)`` and
    rebuilt at the bin centre ``(k + 1/2) / 2^b``, repeated over the block.
    Returns ``(reconstructions, bits_per_image)``; sides must be multiples of ``cell``.
    """
    images = np.asarray(images, dtype="float32")
    count, height, width, channels = images.shape
    if height % cell or width % cell:
        raise ValueError(f"`cell` {cell} must divide the image sides {height}x{width}.")
    means = images.reshape(count, height // cell, cell, width // cell, cell, channels).mean(axis=(2, 4))
    steps = 2**bits
    coded = (np.minimum(np.floor(means * steps), steps - 1) + 0.5) / steps
    rebuilt = np.repeat(np.repeat(coded, cell, axis=1), cell, axis=2)
    return rebuilt, (height // cell) * (width // cell) * channels * bits


def best_block_average(images, max_bits_per_image):
    """The ``block_average`` of highest mean PSNR within ``max_bits_per_image``: ``(psnr, bits, cell, bits_per_value)``.

    Cells of 2, 4, 8, ... pixels that divide both sides, 1 to 8 bits per value; ``None`` if none fits.
    """
    images = np.asarray(images, dtype="float32")
    best = None
    cell = 2
    while images.shape[1] % cell == 0 and images.shape[2] % cell == 0:
        for bits in range(1, 9):
            rebuilt, total = block_average(images, cell, bits)
            if total <= max_bits_per_image:
                mse = np.maximum(((images - rebuilt) ** 2).mean(axis=(1, 2, 3)), 1e-10)
                score = float(np.mean(10 * np.log10(1 / mse)))
                if best is None or score > best[0]:
                    best = (score, total, cell, bits)
        cell *= 2
    return best


def bd_rate(rates_reference, psnr_reference, rates_test, psnr_test):
    """Bjøntegaard delta rate: the test codec's average bit-rate change at equal PSNR, in percent.

    Fits ``log(rate)`` as a cubic polynomial of PSNR for each codec (least
    squares when more than 4 points) and averages the difference over the PSNR
    range both cover: ``100 (exp(mean(log R_test - log R_ref)) - 1)``. Negative:
    the test codec needs fewer bits. ``ValueError`` when the ranges do not overlap.
    """
    curves = []
    for rates, quality in ((rates_reference, psnr_reference), (rates_test, psnr_test)):
        rates, quality = np.asarray(rates, dtype="float64"), np.asarray(quality, dtype="float64")
        if len(rates) < 2 or rates.shape != quality.shape or (rates <= 0).any():
            raise ValueError("Each codec needs at least 2 points of positive rate and PSNR of the same length.")
        curves.append(
            (np.polyint(np.polyfit(quality, np.log(rates), min(3, len(rates) - 1))), quality.min(), quality.max())
        )
    low, high = max(curves[0][1], curves[1][1]), min(curves[0][2], curves[1][2])
    if not low < high:
        raise ValueError(
            f"The PSNR ranges do not overlap ({curves[0][1]:.2f}-{curves[0][2]:.2f} dB and "
            f"{curves[1][1]:.2f}-{curves[1][2]:.2f} dB)."
        )
    (reference, *_), (test, *_) = curves
    mean_difference = (
        (np.polyval(test, high) - np.polyval(test, low)) - (np.polyval(reference, high) - np.polyval(reference, low))
    ) / (high - low)
    return float(100 * (np.exp(mean_difference) - 1))
