"""Reference points for reported numbers: the block-average baseline at a bit budget, BD-rate, and the
nearest training image (memorization checks)."""

import numpy as np


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


def nearest_rmse(images, reference, batch_size=256):
    """Per image of ``images``, the RMSE (in pixel units) to its nearest image of ``reference`` (same shape).

    ``||x - r||^2 = |x|^2 + |r|^2 - 2 x.r``, ``batch_size`` images at a time against all of ``reference``.
    """
    flat_reference = np.asarray(reference, "float64").reshape(len(reference), -1)
    norms = (flat_reference**2).sum(1)
    result = []
    for start in range(0, len(images), batch_size):
        batch = np.asarray(images[start : start + batch_size], "float64").reshape(-1, flat_reference.shape[1])
        distances = (batch**2).sum(1)[:, None] + norms[None] - 2 * batch @ flat_reference.T
        result.append(np.sqrt(np.maximum(distances.min(1), 0) / flat_reference.shape[1]))
    return np.concatenate(result)
