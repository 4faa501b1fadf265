"""What every quantizer layer of keras_fsq shares.

A quantizer maps latents ``z`` of shape ``(..., d)`` to codes of the same
shape, optionally returning integer indices into its (implicit or explicit)
codebook. Its training objective terms are added with ``add_loss`` so they
reach ``Model.losses`` on every backend.
"""

import math
from collections.abc import Callable
from typing import Any, Optional

import keras
import numpy as np
from keras import ops

from keras_fsq.types import Config, Shape, Tensor


def straight_through_round(x: Tensor) -> Tensor:
    """``round(x)`` forward, identity backward: d round_ste(x)/dx := 1.

    Written with ``keras.ops.custom_gradient`` so the backward pass returns
    exactly the upstream gradient on TensorFlow, JAX and PyTorch.
    """

    @ops.custom_gradient
    def _round(x: Tensor) -> tuple[Tensor, Callable[..., Tensor]]:
        def grad(*args: Tensor, upstream: Tensor | None = None) -> Tensor:
            if upstream is None:
                (upstream,) = args
            return upstream

        return ops.round(x), grad

    return _round(x)


def histogram(ids: Tensor, num_bins: int, weights: Tensor | None = None) -> Tensor:
    """float32 counts (or sums of float ``weights``) of each value of the int tensor ``ids`` in ``[0, num_bins)``.

    Ids outside that range (e.g. the index of a NaN latent) are not counted.
    ``segment_sum`` has a static output size, so it compiles under jax.jit and
    XLA; on torch it sorts and scans (about 5x slower than ``bincount``), so
    torch counts with ``bincount``.
    """
    ids = ops.reshape(ids, (-1,))
    weights = ops.ones_like(ids, dtype="float32") if weights is None else ops.reshape(weights, (-1,))
    in_range = ops.logical_and(ops.greater_equal(ids, 0), ops.less(ids, num_bins))
    ids, weights = ops.where(in_range, ids, 0), ops.where(in_range, weights, 0.0)
    if keras.backend.backend() == "torch":
        return ops.cast(ops.bincount(ids, weights=weights, minlength=num_bins), "float32")
    return ops.segment_sum(weights, ids, num_segments=num_bins)


def finite_rows(flat: Tensor) -> Tensor:
    """float32 ``(n,)``: 1 where row ``i`` of ``flat`` ``(n, d)`` is all finite, else 0.

    Statistics kept across batches (level usage, EMA codebooks) weight each
    row by it, so one NaN latent in training cannot poison them for good.
    """
    return ops.cast(ops.all(ops.isfinite(flat), axis=-1), "float32")


def backend_constant(array: np.ndarray) -> Tensor:
    """A NumPy constant as a torch tensor on the torch backend; unchanged elsewhere.

    Keras ops convert NumPy operands on every call, which eager torch pays for
    each op (~20 us). ``tf.function`` and ``jax.jit`` embed NumPy constants once,
    at trace time, and a TensorFlow tensor made outside a graph may not belong to
    it, so the other backends keep NumPy.
    """
    if keras.backend.backend() == "torch":
        return ops.convert_to_tensor(array)
    return array


def _torch_compiling() -> bool:
    """True while torch.compile traces (``jit_compile`` on the torch backend).

    Reading a tensor's value there breaks the graph (and slows every step), so
    the NaN check is skipped like under ``tf.function`` and ``jax.jit``.
    """
    if keras.backend.backend() != "torch":
        return False
    import torch

    return torch.compiler.is_compiling()


def concrete(flag: Tensor) -> bool | None:
    """A scalar boolean tensor as a Python bool when it has a value (eager), else ``None`` (traced).

    Inside a traced graph (``tf.function``, ``jax.jit``, ``torch.compile``) the
    tensor has no value yet and no Python error can be raised there.
    """
    if _torch_compiling():
        return None
    try:
        return bool(flag)
    except TypeError:  # a tracer or graph tensor: nothing to check yet
        return None


def raise_if_nan(x: Tensor, name: str = "inputs") -> None:
    """Raise a ``ValueError`` if a concrete tensor holds NaN (skipped while traced)."""
    if concrete(ops.any(ops.isnan(x))):
        raise ValueError(f"`{name}` contains NaN; quantizers need finite values.")


def checked_indices(indices: Tensor, size: int, name: str = "indices") -> Tensor:
    """``indices`` as int32 in ``[0, size)``: out-of-range values are a ``ValueError`` where they are
    visible (eager) and clipped to the range inside a compiled function, where nothing can be raised."""
    indices = ops.cast(indices, "int32")
    if 0 in tuple(indices.shape):
        return indices
    low, high = ops.min(indices), ops.max(indices)
    if concrete(ops.logical_or(ops.less(low, 0), ops.greater_equal(high, size))):
        raise ValueError(f"`{name}` must lie in [0, {size}); received values in [{int(low)}, {int(high)}].")
    return ops.clip(indices, 0, size - 1)


DATA_FORMATS = ("channels_last", "channels_first")


class Quantizer(keras.layers.Layer):
    """The contract every keras_fsq quantizer keeps; models, callbacks and the codec rely on nothing else.

    - ``code_dim``: the size of the channel axis it accepts; ``codebook_size``:
      how many values one index takes.
    - ``call(z, training=None, return_indices=False)`` -> ``codes`` (the shape and
      layout of ``z``, the layer's compute dtype; quantization runs in float32) or
      ``(codes, indices)``: int32, of ``indices_shape(channels-last shape of z)``.
    - ``indices_to_codes(indices)``: the codes ``call`` gives for those indices.
    - ``bits_per_example(indices)``: the fixed-rate bits of each example;
      ``flat_indices(indices)``: one index per latent vector in ``[0, codebook_size)``,
      for usage histograms.
    - ``alphabet_sizes``: for quantizers whose indices split into per-dimension
      symbols an entropy coder can code, the number of values of each symbol
      (``indices_to_symbols`` gives them, ``symbols_to_indices`` inverts it); ``None``
      otherwise. ``indices_per_position``: how many indices one latent position has
      (FSQ's codebooks, HierarchicalFSQ's stages), so ``position_alphabet`` lists the
      alphabet of every symbol of a position: what the codec codes (a quantizer whose
      indices have different alphabets, HierarchicalFSQ, overrides it).
    - ``schedule_variables()``: ``{name: keras.Variable}`` that a schedule (a
      callback) may assign during training, e.g. ``{"temperature": T}``.
    - ``num_stages``: ``None``, or the number of stages when a prefix of them
      decodes (``call(..., num_stages=k)``, ``indices[..., :k]``, ``stage_bits``).
    - ``learns_from_distortion``: ``True`` when the model must call
      ``update_gate(latents, distortion_fn)`` in each training step.
    - ``statistic_names`` / ``batch_statistics(indices)``: extra per-batch scalars a
      model reports.
    - ``data_format``: ``"channels_last"`` or ``"channels_first"``.

    Subclasses implement ``quantize_latents(z, training) -> (codes, indices)`` on a
    channels-last float32 tensor, ``code_dim``, ``codebook_size`` and
    ``indices_to_codes``, and override the rest where it applies.
    """

    def __init__(self, data_format: str = "channels_last", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if data_format not in DATA_FORMATS:
            raise ValueError(f"`data_format` must be one of {DATA_FORMATS}; received {data_format!r}.")
        self.data_format = data_format
        self.supports_masking = False

    @property
    def code_dim(self) -> int:
        """Size of the channel axis of the latents this quantizer accepts."""
        raise NotImplementedError

    @property
    def codebook_size(self) -> int:
        """Number of distinct codes one index can take."""
        raise NotImplementedError

    def quantize_latents(self, z: Tensor, training: bool = False) -> Any:
        raise NotImplementedError

    def indices_shape(self, input_shape: Shape) -> Shape:
        """Shape of the indices for channels-last latents of ``input_shape``."""
        return tuple(input_shape[:-1])

    def channels_last_shape(self, input_shape: Shape) -> Shape:
        """``input_shape`` with the channel axis last, whatever ``data_format``."""
        shape = tuple(input_shape)
        return shape[:1] + shape[2:] + shape[1:2] if self.data_format == "channels_first" else shape

    def _check_channels(self, shape: Shape) -> None:
        channels = self.channels_last_shape(shape)[-1]
        if channels not in (None, self.code_dim):  # another size would broadcast silently
            axis = "second" if self.data_format == "channels_first" else "last"
            raise ValueError(
                f"{self.__class__.__name__} expects inputs whose {axis} dimension is {self.code_dim}; "
                f"received input shape {tuple(shape)}."
            )

    def build(self, input_shape: Shape) -> None:
        self._check_channels(input_shape)

    def call(
        self, inputs: Tensor, training: Optional[bool] = None, return_indices: bool = False, **kwargs: Any
    ) -> Tensor:
        """``kwargs`` (e.g. HierarchicalFSQ's ``num_stages``) go to ``quantize_latents``."""
        self._check_channels(inputs.shape)
        if inputs.shape[0] == 0:
            raise ValueError(f"`inputs` is an empty batch (shape {tuple(inputs.shape)}); quantizers need at least one.")
        if not training:
            raise_if_nan(inputs)
        # Quantization arithmetic runs in float32 even under mixed precision:
        # bfloat16 cannot represent the grid reliably.
        z = inputs if keras.backend.standardize_dtype(inputs.dtype) == "float32" else ops.cast(inputs, "float32")
        if self.data_format == "channels_first":
            z = ops.moveaxis(z, 1, -1)
        codes, indices = self.quantize_latents(z, training=bool(training), **kwargs)
        if self.data_format == "channels_first":
            codes = ops.moveaxis(codes, -1, 1)
        if self.compute_dtype != "float32":
            codes = ops.cast(codes, self.compute_dtype)
        if return_indices:
            return codes, indices
        return codes

    def compute_output_shape(self, input_shape: Shape) -> Any:
        return tuple(input_shape)

    def compute_output_spec(
        self, inputs: Tensor, training: Optional[bool] = None, return_indices: bool = False, **kwargs: Any
    ) -> Any:
        codes = keras.KerasTensor(inputs.shape, dtype=self.compute_dtype)
        if not return_indices:
            return codes
        indices = keras.KerasTensor(self.indices_shape(self.channels_last_shape(inputs.shape), **kwargs), dtype="int32")
        return codes, indices

    def get_config(self) -> Config:
        config = super().get_config()
        config["data_format"] = self.data_format
        return config

    @property
    def alphabet_sizes(self) -> list[int] | None:
        """The alphabet size of each index of one position, or ``None`` (no fixed alphabet: VQ)."""
        return None

    @property
    def indices_per_position(self) -> int:
        """How many indices one latent position takes (FSQ's codebooks, HierarchicalFSQ's stages)."""
        return 1

    @property
    def num_stages(self) -> int | None:
        """HierarchicalFSQ's stage count; ``None`` for single-stage quantizers."""
        return None

    @property
    def learns_from_distortion(self) -> bool:
        """Whether the model trains it on the decoder's distortion (``AdaptiveFSQ.update_gate``)."""
        return False

    @property
    def position_alphabet(self) -> list[int] | None:
        """The alphabet size of every symbol of one latent position (``alphabet_sizes`` per index), or ``None``."""
        if self.alphabet_sizes is None:
            return None
        return list(self.alphabet_sizes) * self.indices_per_position

    def schedule_variables(self) -> dict:
        """``{name: keras.Variable}`` a schedule may assign (none by default)."""
        return {}

    def bits_per_example(self, indices: Tensor) -> Tensor:
        """Fixed-rate bits each example costs: #indices · log2(codebook size)."""
        per_example = math.prod(indices.shape[1:])
        batch = ops.shape(indices)[0]
        return ops.full((batch,), per_example * math.log2(self.codebook_size))

    def flat_indices(self, indices: Tensor) -> Tensor:
        """One index per latent vector in ``[0, codebook_size)``, for usage histograms."""
        return indices

    @property
    def statistic_names(self) -> tuple[str, ...]:
        """Names of the per-batch statistics ``batch_statistics`` returns."""
        return ()

    def batch_statistics(self, indices: Tensor) -> dict[str, Tensor]:
        """Extra per-batch scalars (name -> tensor) that a model reports as metrics."""
        return {}
