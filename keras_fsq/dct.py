"""The block-DCT codecs' fixed math, in NumPy: JPEG's colour transform, quantisation tables and 8x8 DCT as
one linear map per block, and which FSQ dimension carries which coefficient.

Keras-free: the layers (``keras_fsq.block_transform``) start from these kernels, and the codec
commands' NumPy engine (``keras_fsq.compression.dct_engine``) runs the trained codecs with them.
"""

from collections.abc import Sequence

import numpy as np

BLOCK = 8
LUMA, CHROMA = 64, 16
COEFFICIENTS = LUMA + 2 * CHROMA
RGB_TO_YCBCR = np.array(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], dtype="float64"
)
# JPEG's (ITU T.81, Annex K) luminance and chrominance quantisation tables, quality 50.
JPEG_LUMA_TABLE = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ]
)
JPEG_CHROMA_TABLE = np.array([[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99]])


def block_analysis_kernel() -> tuple[np.ndarray, np.ndarray]:
    """``(8, 8, 3, 96)`` kernel and ``(96,)`` bias: RGB block -> 64 luma and 2 x 16 chroma DCT coefficients."""
    import scipy.fft

    d8 = scipy.fft.dct(np.eye(BLOCK), norm="ortho", axis=0)  # d8[u, y]
    d4 = scipy.fft.dct(np.eye(BLOCK // 2), norm="ortho", axis=0)
    luma = np.einsum("uy,vx->yxuv", d8, d8).reshape(BLOCK, BLOCK, LUMA)
    half = np.arange(BLOCK) // 2
    chroma = np.einsum("uy,vx->yxuv", d4[:, half], d4[:, half]).reshape(BLOCK, BLOCK, CHROMA) / 4  # 2x2 mean
    kernel = np.concatenate(
        [luma[:, :, None, :] * RGB_TO_YCBCR[0][None, None, :, None]]
        + [chroma[:, :, None, :] * RGB_TO_YCBCR[k][None, None, :, None] for k in (1, 2)],
        axis=-1,
    )
    bias = np.zeros(COEFFICIENTS)
    bias[0] = -0.5 * luma[:, :, 0].sum()  # luma centred on 0: Y - 1/2
    return kernel.astype("float32"), bias.astype("float32")


def block_synthesis_kernel() -> tuple[np.ndarray, np.ndarray]:
    """``(8, 8, 3, 96)`` Conv2DTranspose kernel and ``(3,)`` bias: the exact inverse of the analysis
    on 4:2:0 data (chroma replicated over 2x2 pixels)."""
    import scipy.fft

    d8 = scipy.fft.dct(np.eye(BLOCK), norm="ortho", axis=0)
    d4 = scipy.fft.dct(np.eye(BLOCK // 2), norm="ortho", axis=0)
    luma = np.einsum("uy,vx->yxuv", d8, d8).reshape(BLOCK, BLOCK, LUMA)
    half = np.arange(BLOCK) // 2
    chroma = np.einsum("uy,vx->yxuv", d4[:, half], d4[:, half]).reshape(BLOCK, BLOCK, CHROMA)
    inverse = np.linalg.inv(RGB_TO_YCBCR)  # rows: R, G, B; columns: Y, Cb, Cr
    kernel = np.concatenate(
        [luma[:, :, None, :] * inverse[:, 0][None, None, :, None]]
        + [chroma[:, :, None, :] * inverse[:, k][None, None, :, None] for k in (1, 2)],
        axis=-1,
    )
    return kernel.astype("float32"), (0.5 * inverse[:, 0]).astype("float32")


def jpeg_steps(quality: float = 50) -> np.ndarray:
    """Quantisation step of each of the 96 coefficients, in units of pixels in [0, 1], at JPEG ``quality``.

    JPEG's scaling (libjpeg): ``s = 5000 / q`` below 50, ``200 - 2 q`` above; step
    ``= max(1, (table s + 50) // 100) / 255``. Chroma: the 4x4 corner of the
    chrominance table, halved (a 4x4 DCT of half-resolution chroma has half the
    DC gain of JPEG's 8x8 one over the same pixels).
    """
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    luma = np.maximum(1, (JPEG_LUMA_TABLE * scale + 50) // 100).ravel()
    chroma = np.maximum(1, (JPEG_CHROMA_TABLE * scale + 50) // 100).ravel() / 2
    return (np.concatenate([luma, chroma, chroma]) / 255.0).astype("float32")


CODEBOOK_LEVELS = (255, 31, 15, 7)  # FSQ levels of one codebook; 24 codebooks hold the 96 coefficients


def coefficient_order(levels: Sequence[int] = CODEBOOK_LEVELS) -> np.ndarray:
    """Which coefficient each FSQ channel carries: ``order[4 j + i]`` goes to codebook ``j``, dimension ``i``.

    The coefficients sorted by how many steps their range spans at JPEG's tables
    (4 for the luma DC, 8 x a mean in [-1/2, 1/2]; 2 for the chroma DCs; 1.5
    for AC coefficients, larger ones saturate at the outer level), the widest
    ``C / d`` taking dimension 0 (``levels[0]`` levels) of every codebook, the
    next ones dimension 1, and so on: the largest levels go where the range is.
    """
    ranges = np.full(COEFFICIENTS, 1.5)
    ranges[0], ranges[LUMA], ranges[LUMA + CHROMA] = 4.0, 2.0, 2.0
    widest = np.argsort(-ranges / jpeg_steps(50), kind="stable")
    codebooks = COEFFICIENTS // len(levels)
    return widest.reshape(len(levels), codebooks).T.ravel()
