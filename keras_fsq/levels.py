"""FSQ level sets: their validation, the FSQ paper's recommended sets and the sets of a bit budget
(NumPy-free, Keras-free)."""

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


MAX_LEVEL_SETS = 5000  # more choices than a search can try; a wider space is refused


def level_sets_for_budget(
    bits: float, code_dims: Iterable[int], min_level: int = 3, max_level: int = 10, tolerance: float = 0.25
) -> list[list[int]]:
    """Non-increasing level lists whose codebook has ``2^bits`` codes within ``±tolerance`` bits.

    Only lists of a length in ``code_dims`` with every level in ``[min_level, max_level]``.
    The enumeration prunes every prefix whose product can no longer reach the
    budget, so its cost follows the number of answers; more than
    ``MAX_LEVEL_SETS`` answers is a ``ValueError`` (narrow the level range).
    """
    low, high = 2.0 ** (bits - tolerance), 2.0 ** (bits + tolerance)
    sets: list[list[int]] = []

    def extend(prefix: list[int], product: int, largest: int, remaining: int) -> None:
        if remaining == 0:
            if low <= product <= high:
                sets.append(list(prefix))
                if len(sets) > MAX_LEVEL_SETS:
                    raise ValueError(
                        f"more than {MAX_LEVEL_SETS} level sets of {sorted(code_dims)} levels in [{min_level}, "
                        f"{max_level}] have 2^{bits} codes; narrow the level range or the code dims."
                    )
            return
        for level in range(largest, min_level - 1, -1):
            if product * level * min_level ** (remaining - 1) > high:
                continue  # too large even with the smallest levels after it
            if product * level**remaining < low:
                break  # too small even if every later level equals this one; smaller levels too
            extend(prefix + [level], product * level, level, remaining - 1)

    for dims in sorted(code_dims):
        extend([], 1, max_level, dims)
    return sets
