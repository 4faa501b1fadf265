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

from collections.abc import Sequence
from typing import Any, Optional

import keras
import numpy as np
from keras import ops

from keras_fsq.blocks import ImageEncoder, LayerStack
from keras_fsq.dct import (
    BLOCK,
    CODEBOOK_LEVELS,
    COEFFICIENTS,
    block_analysis_kernel,
    block_synthesis_kernel,
    coefficient_order,
    jpeg_steps,
)
from keras_fsq.levels import validate_levels
from keras_fsq.types import Config, Shape, Tensor


def _residual_branch(width: int, out_channels: int, kernel_size: int, name: str) -> list[keras.layers.Layer]:
    return [
        keras.layers.Conv2D(width, kernel_size, padding="same", activation="gelu", name=f"{name}_in"),
        keras.layers.Conv2D(out_channels, 1, kernel_initializer="zeros", name=f"{name}_out"),
    ]


def _check_levels(levels: Sequence[int]) -> list[int]:
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

    @property
    def downsampling_factor(self) -> int:
        return BLOCK

    def __init__(
        self,
        levels: Sequence[int] = CODEBOOK_LEVELS,
        quality: int = 50,
        width: int = 128,
        eps: float = 1e-3,
        **kwargs: Any,
    ) -> None:
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

    def build(self, input_shape: Shape) -> None:
        super().build(input_shape)  # the stack: analysis, then the residual branch
        self.log_gain = self.add_weight(
            shape=(COEFFICIENTS,),
            initializer=keras.initializers.Constant(-np.log(jpeg_steps(self.quality))),
            name="log_gain",
        )

    def call(self, inputs: Tensor, training: Optional[bool] = None) -> Tensor:
        coefficients = self.analysis(inputs)
        refined = ops.add(coefficients, self.refine[1](self.refine[0](coefficients)))
        values = ops.take(ops.multiply(refined, ops.exp(self.log_gain)), self._order, axis=-1)
        return ops.arctanh(ops.clip(ops.divide(values, self._half), -0.9999, 0.9999))

    def get_config(self) -> Config:
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

    def __init__(
        self,
        levels: Sequence[int] = CODEBOOK_LEVELS,
        quality: int = 50,
        width: int = 128,
        filter_width: int = 16,
        **kwargs: Any,
    ) -> None:
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

    def build(self, input_shape: Shape) -> None:
        super().build(input_shape)  # the stack: residual branch, synthesis, pixel filter
        self.log_step = self.add_weight(
            shape=(COEFFICIENTS,),
            initializer=keras.initializers.Constant(np.log(jpeg_steps(self.quality))),
            name="log_step",
        )

    def call(self, inputs: Tensor, training: Optional[bool] = None) -> Tensor:
        values = ops.take(ops.multiply(inputs, self._half_levels), self._unorder, axis=-1)
        coefficients = ops.multiply(values, ops.exp(self.log_step))
        coefficients = ops.add(coefficients, self.refine[1](self.refine[0](coefficients)))
        image = self.synthesis(coefficients)
        filtered = ops.add(image, self.post[2](self.post[1](self.post[0](image))))
        return ops.clip(ops.cast(filtered, "float32"), 0.0, 1.0)

    def get_config(self) -> Config:
        return {
            **super().get_config(),
            "levels": self.levels,
            "quality": self.quality,
            "width": self.width,
            "filter_width": self.filter_width,
        }


def rescale_quality(model: Any, from_quality: float, to_quality: float) -> None:
    """Move a trained block-DCT model's quantisation steps from JPEG ``from_quality`` to ``to_quality``.

    Each coefficient's gain is multiplied, and its decoder step divided, by
    ``step_from / step_to`` of JPEG's tables: the learned shape of the table is
    kept and its scale moved, the starting point of fine-tuning another quality.
    """
    ratio = np.log(jpeg_steps(from_quality) / jpeg_steps(to_quality)).astype("float32")
    model.encoder.log_gain.assign(ops.add(model.encoder.log_gain, ratio))
    model.decoder.log_step.assign(ops.subtract(model.decoder.log_step, ratio))
