"""Checks of user-given values on the NumPy side, each a ``ValueError`` naming the argument.

Imports NumPy only, so data loading, presets and the command line can validate
without Keras.
"""

import math
import numbers

import numpy as np
from numpy.typing import ArrayLike


def positive_int(value: object, name: str, minimum: int = 1, maximum: int | None = None) -> int:
    """``value`` as an ``int`` in ``[minimum, maximum]`` (a bool is not an int here), else ``ValueError``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or int(value) < minimum
        or (maximum is not None and int(value) > maximum)
    ):
        if minimum == 1 and maximum is None:
            wanted = "a positive int"
        elif maximum is None:
            wanted = f"an int >= {minimum}"
        else:
            wanted = f"an int in [{minimum}, {maximum}]"
        raise ValueError(f"`{name}` must be {wanted}; received {value!r}.")
    return int(value)


def number_at_least(value: object, name: str, minimum: float = 0.0, strict: bool = False) -> float:
    """``value`` as a finite ``float`` ``>= minimum`` (``> minimum`` when ``strict``; a bool is not a number
    here), else ``ValueError`` naming ``name``: infinity and NaN are refused (one step at ``inf`` makes weights NaN)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not (value > minimum if strict else value >= minimum)
    ):
        raise ValueError(f"`{name}` must be a finite number {'>' if strict else '>='} {minimum:g}; received {value!r}.")
    return float(value)


def validate_images(images: ArrayLike, name: str = "images") -> np.ndarray:
    """Check a NumPy batch of images: (N, H, W, C) floats in [0, 1]."""
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"`{name}` must have shape (batch, height, width, channels); received shape {images.shape}.")
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(
            f"`{name}` must be floats in [0, 1]; received dtype {images.dtype}. Divide uint8 images by 255."
        )
    # min and max are NaN when any value is: no temporary the size of the images
    if images.size and not (images.min() >= 0 and images.max() <= 1):
        numbers_seen = images[~np.isnan(images)]
        seen = f"values in [{numbers_seen.min():.3g}, {numbers_seen.max():.3g}]" if numbers_seen.size else "no numbers"
        raise ValueError(
            f"`{name}` must lie in [0, 1]; received {seen}" + (" and NaN." if np.isnan(images).any() else ".")
        )
    return images


def error_summary(error: BaseException, limit: int = 300) -> str:
    """The first line of ``error``'s message that says something: Keras ends some first lines with a colon
    and gives the cause on the next ("... Example error message for object <Dense name=head>:")."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    summary = lines[0]
    if summary.endswith(":") and len(lines) > 1:
        summary = f"{summary} {lines[1]}"
    return summary[:limit]


def to_unit_float(images: ArrayLike, name: str = "images") -> np.ndarray:
    """uint8 images -> float32 / 255; float images are checked to lie in [0, 1]."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        images = images.astype("float32") / 255.0
    elif np.issubdtype(images.dtype, np.floating):
        images = images.astype("float32")
    else:
        raise ValueError(f"`{name}` must be uint8 or float; received dtype {images.dtype}.")
    return validate_images(images, name)
