"""FID and KID: distances between the Inception feature distributions of two image sets.

``fid_from_features``/``kid_from_features`` take features (``inception.inception_features``
makes them with the reference TF-Inception network); ``fid``/``kid`` take images.
"""

import numpy as np

from keras_fsq.inception import inception_features


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
