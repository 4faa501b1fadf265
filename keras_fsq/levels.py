"""FSQ level sets: their validation and the FSQ paper's recommended sets (NumPy-free, Keras-free)."""

import math
import numbers
from collections.abc import Iterable

MAX_INDEX = 2**31 - 1  # indices are int32 on every backend


def validate_levels(
    levels: Iterable[int], name: str = "levels", max_codebook_size: int | None = MAX_INDEX
) -> list[int]:
    """``levels`` as a list of ints >= 2 whose product is at most ``max_codebook_size``, else ``ValueError``."""
    if isinstance(levels, (str, bytes)) or not hasattr(levels, "__iter__"):
        raise ValueError(f"`{name}` must be a list of integers >= 2; received {levels!r}.")
    levels = list(levels)
    if not levels:
        raise ValueError(f"`{name}` must not be empty.")
    for level in levels:
        if isinstance(level, bool) or not isinstance(level, numbers.Integral):
            raise ValueError(f"`{name}` must hold integers; received {levels!r}.")
        if level < 2:
            raise ValueError(f"Every entry of `{name}` must be >= 2; received {levels!r}.")
    if max_codebook_size is not None and math.prod(levels) > max_codebook_size:
        raise ValueError(
            f"`{name}`={levels!r} gives a codebook of {math.prod(levels)} codes, "
            f"more than int32 indices can address ({max_codebook_size})."
        )
    return [int(level) for level in levels]


# The FSQ paper's recommended level sets (Mentzer et al. 2023, Table 1), by codebook bits.
RECOMMENDED_LEVELS: dict[int, list[int]] = {
    8: [8, 6, 5],
    10: [8, 5, 5, 5],
    12: [7, 5, 5, 5, 5],
    14: [8, 8, 8, 6, 5],
    16: [8, 8, 8, 5, 5, 5],
}


def levels_for_codebook_size(bits: int) -> list[int]:
    """The FSQ paper's level set for a codebook of about ``2^bits`` codes (bits in 8, 10, 12, 14, 16)."""
    if bits not in RECOMMENDED_LEVELS:
        raise ValueError(
            f"`bits` must be one of {sorted(RECOMMENDED_LEVELS)} (the FSQ paper's sets); received {bits!r}."
        )
    return list(RECOMMENDED_LEVELS[bits])
