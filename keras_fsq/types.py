"""Names for the types the package's signatures share (no Keras at import)."""

from typing import Any, TypeAlias

Tensor: TypeAlias = Any
"""A backend tensor (``tf.Tensor``, ``jax.Array``, ``torch.Tensor``) or anything ``keras.ops`` takes, NumPy
arrays included: Keras ships no common tensor type to annotate with."""

Shape: TypeAlias = tuple[Any, ...]
"""A tensor's shape as Keras gives it to ``build`` and ``compute_output_shape``: ints, None where unknown
(``Any``: a layer builds with its known sizes)."""

Config: TypeAlias = dict[str, Any]
"""What ``get_config`` returns and ``from_config`` takes."""
