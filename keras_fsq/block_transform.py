"""Codec transforms that start where JPEG is: YCbCr 4:2:0 and an 8x8 DCT, refined by learned residuals.

``BlockDCTEncoder`` maps an image ``(H, W, 3)`` in [0, 1] (sides multiples of 8)
to 96 coefficients per 8x8 block, ``(H/8, W/8, 96)``:

* colour: ``Y = 0.299 R + 0.587 G + 0.114 B``, ``Cb``, ``Cr`` (JPEG's full-range
  matrix ``M``, chroma centred on 0, luma centred by ``-1/2``);
* luma: the orthonormal 8x8 DCT-II of the block, 64 coefficients
  ``c_uv = sum_yx D8[u, y] D8[v, x] Y[y, x]`` (``D_N = scipy.fft.dct(I_N, norm="ortho")``);
* chroma at half resolution, as JPEG's 4:2:0: each of Cb, Cr averaged over 2x2
  pixels and transformed by the 4x4 DCT-II, 16 coefficients each.

All three steps are one linear map per block: a stride-8 8x8 convolution whose
kernel starts as exactly that map. A residual branch (3x3 conv, GELU, 1x1
conv with zero kernel) refines the coefficients; each coefficient ``c`` is then
scaled by a learned gain ``g`` (initialised to ``1 / step``, ``step`` from
JPEG's quantisation tables, ``quality`` 50 = the tables) so that ``FSQ`` rounds
``v = g c`` to an integer level: the encoder outputs ``z = atanh(v / h)``,
``h = (L - 1)(1 - eps) / 2``, which FSQ's ``h tanh(z)`` bound maps back to
``v`` (an odd ``L`` per coefficient, its zero level the "coefficient is 0" of
JPEG). ``BlockDCTDecoder`` inverts it: codes ``z_hat / (L // 2)`` times
``(L // 2) step`` (``step`` learned), a residual branch in the coefficient
domain, the transposed block transform (starting as the exact inverse:
orthonormal DCT, pixel replication of chroma, ``M^-1``), and a residual
pixel-domain filter (zero-initialised last layer) that learns to remove
blocking and ringing. Untrained, the pair is a JPEG-like transform coder;
training only improves on it.
"""

import keras
import numpy as np
import scipy.fft
from keras import ops

from keras_fsq.blocks import ImageEncoder, LayerStack
from keras_fsq.levels import validate_levels

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


def block_analysis_kernel():
    """``(8, 8, 3, 96)`` kernel and ``(96,)`` bias: RGB block -> 64 luma and 2 x 16 chroma DCT coefficients."""
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


def block_synthesis_kernel():
    """``(8, 8, 3, 96)`` Conv2DTranspose kernel and ``(3,)`` bias: the exact inverse of the analysis
    on 4:2:0 data (chroma replicated over 2x2 pixels)."""
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


def jpeg_steps(quality=50):
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


def coefficient_order(levels=CODEBOOK_LEVELS):
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


def _residual_branch(width, out_channels, kernel_size, name):
    return [
        keras.layers.Conv2D(width, kernel_size, padding="same", activation="gelu", name=f"{name}_in"),
        keras.layers.Conv2D(out_channels, 1, kernel_initializer="zeros", name=f"{name}_out"),
    ]


def _check_levels(levels):
    levels = validate_levels(levels, max_codebook_size=None)
    if COEFFICIENTS % len(levels) or any(level % 2 == 0 for level in levels):
        raise ValueError(f"`levels` must be odd ints, as many as divide {COEFFICIENTS}; received {levels!r}.")
    return levels


@keras.saving.register_keras_serializable(package="keras_fsq")
class BlockDCTEncoder(ImageEncoder):
    """Images ``(H, W, 3)`` in [0, 1] -> FSQ latents ``(H/8, W/8, 96)`` (see the module doc).

    Channel ``4 j + i`` (for 4 levels) is dimension ``i`` of FSQ codebook ``j``,
    carrying coefficient ``coefficient_order(levels)[4 j + i]``: use it
    with ``FSQ(levels, num_codebooks=96 // len(levels))``.

    Args:
        levels: odd FSQ levels of one codebook (default ``CODEBOOK_LEVELS``).
        quality: the JPEG quality whose tables initialise the gains.
        width: channels of the residual branch.
        eps: the FSQ layer's ``eps``.
    """

    downsampling_factor = BLOCK

    def __init__(self, levels=CODEBOOK_LEVELS, quality=50, width=128, eps=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.levels = _check_levels(levels)
        if isinstance(quality, bool) or not 1 <= quality <= 100:
            raise ValueError(f"`quality` must be in [1, 100]; received {quality!r}.")
        self.quality, self.width, self.eps = quality, int(width), float(eps)
        kernel, bias = block_analysis_kernel()
        self.analysis = keras.layers.Conv2D(
            COEFFICIENTS,
            BLOCK,
            strides=BLOCK,
            kernel_initializer=keras.initializers.Constant(kernel),
            bias_initializer=keras.initializers.Constant(bias),
            name="analysis",
        )
        self.refine = _residual_branch(self.width, COEFFICIENTS, 3, "refine")
        self.stack = [self.analysis, *self.refine]
        self._order = coefficient_order(self.levels).astype("int32")
        half = [(level - 1) * (1 - self.eps) / 2 for level in self.levels]
        self._half = np.tile(np.asarray(half, dtype="float32"), COEFFICIENTS // len(self.levels))

    def build(self, input_shape):
        super().build(input_shape)  # the stack: analysis, then the residual branch
        self.log_gain = self.add_weight(
            shape=(COEFFICIENTS,),
            initializer=keras.initializers.Constant(-np.log(jpeg_steps(self.quality))),
            name="log_gain",
        )

    def call(self, inputs, training=None):
        coefficients = self.analysis(inputs)
        refined = ops.add(coefficients, self.refine[1](self.refine[0](coefficients)))
        values = ops.take(ops.multiply(refined, ops.exp(self.log_gain)), self._order, axis=-1)
        return ops.arctanh(ops.clip(ops.divide(values, self._half), -0.9999, 0.9999))

    def get_config(self):
        return {
            **super().get_config(),
            "levels": self.levels,
            "quality": self.quality,
            "width": self.width,
            "eps": self.eps,
        }


@keras.saving.register_keras_serializable(package="keras_fsq")
class BlockDCTDecoder(LayerStack):
    """FSQ codes ``(H/8, W/8, 96)`` -> images ``(H, W, 3)`` in [0, 1] (see the module doc).

    Args:
        levels: as the encoder's.
        quality: as the encoder's (JPEG tables that initialise the decoder's steps).
        width: channels of the coefficient-domain residual branch.
        filter_width: channels of the pixel-domain residual filter (3 conv layers, 3x3).
    """

    def __init__(self, levels=CODEBOOK_LEVELS, quality=50, width=128, filter_width=16, **kwargs):
        super().__init__(**kwargs)
        self.levels = _check_levels(levels)
        self.quality, self.width, self.filter_width = quality, int(width), int(filter_width)
        kernel, bias = block_synthesis_kernel()
        self.refine = _residual_branch(self.width, COEFFICIENTS, 3, "refine")
        self.synthesis = keras.layers.Conv2DTranspose(
            3,
            BLOCK,
            strides=BLOCK,
            kernel_initializer=keras.initializers.Constant(kernel),
            bias_initializer=keras.initializers.Constant(bias),
            name="synthesis",
        )
        self.post = [
            keras.layers.Conv2D(self.filter_width, 3, padding="same", activation="gelu", name="post_in"),
            keras.layers.Conv2D(self.filter_width, 3, padding="same", activation="gelu", name="post_mid"),
            keras.layers.Conv2D(3, 3, padding="same", kernel_initializer="zeros", name="post_out"),
        ]
        self.stack = [*self.refine, self.synthesis, *self.post]
        order = coefficient_order(self.levels)
        self._unorder = np.argsort(order).astype("int32")
        half_levels = [level // 2 for level in self.levels]
        self._half_levels = np.tile(np.asarray(half_levels, dtype="float32"), COEFFICIENTS // len(self.levels))

    def build(self, input_shape):
        super().build(input_shape)  # the stack: residual branch, synthesis, pixel filter
        self.log_step = self.add_weight(
            shape=(COEFFICIENTS,),
            initializer=keras.initializers.Constant(np.log(jpeg_steps(self.quality))),
            name="log_step",
        )

    def call(self, inputs, training=None):
        values = ops.take(ops.multiply(inputs, self._half_levels), self._unorder, axis=-1)
        coefficients = ops.multiply(values, ops.exp(self.log_step))
        coefficients = ops.add(coefficients, self.refine[1](self.refine[0](coefficients)))
        image = self.synthesis(coefficients)
        filtered = ops.add(image, self.post[2](self.post[1](self.post[0](image))))
        return ops.clip(ops.cast(filtered, "float32"), 0.0, 1.0)

    def get_config(self):
        return {
            **super().get_config(),
            "levels": self.levels,
            "quality": self.quality,
            "width": self.width,
            "filter_width": self.filter_width,
        }


def rescale_quality(model, from_quality, to_quality):
    """Move a trained block-DCT model's quantisation steps from JPEG ``from_quality`` to ``to_quality``.

    Each coefficient's gain is multiplied, and its decoder step divided, by
    ``step_from / step_to`` of JPEG's tables: the learned shape of the table is
    kept and its scale moved, the starting point of fine-tuning another quality.
    """
    ratio = np.log(jpeg_steps(from_quality) / jpeg_steps(to_quality)).astype("float32")
    model.encoder.log_gain.assign(ops.add(model.encoder.log_gain, ratio))
    model.decoder.log_step.assign(ops.subtract(model.decoder.log_step, ratio))
