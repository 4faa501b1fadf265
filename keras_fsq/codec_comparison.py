"""Photos coded by a codec and by the formats people would pick instead, measured as files: bits and PSNR.

Bits per pixel come from the actual file sizes (headers and checksums included); PSNR
(dB) from the decoded 8-bit RGB image against the 8-bit original. A sweep of settings is
a rate-distortion curve; ``psnr_at`` and ``bits_at`` read a curve at a rate or a quality,
interpolating linearly in log rate (as BD-rate does, ``keras_fsq.comparisons.bd_rate``).
"""

import io
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

JPEG_QUALITIES = (1, 2, 3, 5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90)
WEBP_QUALITIES = (0, 1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90)
AVIF_QUALITIES = (1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90)
FEATURES = {"JPEG": "jpg", "WEBP": "webp", "AVIF": "avif"}  # Pillow's feature name of each format
Anchor = tuple[str, str, tuple[int, ...], dict[str, Any]]  # name, Pillow format, quality settings, options
ANCHORS: tuple[Anchor, ...] = (  # JPEG 4:2:0, WebP, AVIF (libaom, speed 6, 4:2:0)
    ("JPEG", "JPEG", JPEG_QUALITIES, {}),
    ("WebP", "WEBP", WEBP_QUALITIES, {}),
    ("AVIF", "AVIF", AVIF_QUALITIES, {"speed": 6, "subsampling": "4:2:0"}),
)

# code(photo uint8 (H, W, 3)) -> (file bytes, decoded uint8, (encode seconds, decode seconds))
Code = Callable[[np.ndarray], tuple[bytes, np.ndarray, tuple[float, float]]]


def to_8bit(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0, 1) * 255).round().astype("uint8")


def psnr_8bit(original: np.ndarray, decoded: np.ndarray) -> float:
    """PSNR (dB) of an 8-bit decoded image against the 8-bit original."""
    x, y = original.astype("float64"), decoded.astype("float64")
    return float(10 * np.log10(255.0**2 / max(np.mean((x - y) ** 2), 1e-12)))


def codec_code(model: Any) -> Code:
    """``code`` of a keras_fsq codec (``keras_fsq.codec``: a model or a ``DCTEngine``)."""
    from keras_fsq import codec

    def code(photo: np.ndarray) -> tuple[bytes, np.ndarray, tuple[float, float]]:
        started = time.perf_counter()
        file_bytes = codec.compress(model, photo.astype("float32") / 255)
        middle = time.perf_counter()
        decoded = to_8bit(codec.decompress(model, file_bytes)[0])
        return file_bytes, decoded, (middle - started, time.perf_counter() - middle)

    return code


def pillow_code(image_format: str, setting: int, options: dict) -> Code:
    """``code`` of Pillow's ``image_format`` at quality ``setting``."""
    from PIL import Image

    def code(photo: np.ndarray) -> tuple[bytes, np.ndarray, tuple[float, float]]:
        buffer = io.BytesIO()
        started = time.perf_counter()
        Image.fromarray(photo).save(buffer, format=image_format, quality=setting, **options)
        middle = time.perf_counter()
        decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
        return buffer.getvalue(), decoded, (middle - started, time.perf_counter() - middle)

    return code


def available_anchors() -> list[Anchor]:
    """``ANCHORS`` this Pillow can write (AVIF needs Pillow 11.3 or later)."""
    from PIL import features

    return [anchor for anchor in ANCHORS if features.check(FEATURES[anchor[1]])]


def rate_point(photos: Sequence[np.ndarray], code: Code) -> dict:
    """Mean bits per pixel, PSNR and seconds of ``code`` over 8-bit ``photos``, and each photo's
    (bits per pixel, PSNR)."""
    rows = []
    for photo in photos:
        file_bytes, decoded, seconds = code(photo)
        rows.append((8 * len(file_bytes) / (photo.shape[0] * photo.shape[1]), psnr_8bit(photo, decoded), *seconds))
    bits, psnr_db, encode_s, decode_s = np.mean(rows, axis=0)
    return {
        "bits_per_pixel": float(bits),
        "psnr": float(psnr_db),
        "encode_seconds": float(encode_s),
        "decode_seconds": float(decode_s),
        "per_photo": [(float(row[0]), float(row[1])) for row in rows],
    }


def anchor_sweeps(photos: Sequence[np.ndarray]) -> dict[str, list[dict]]:
    """Each available anchor's ``rate_point`` at every setting of its sweep, by name."""
    return {
        name: [
            {**rate_point(photos, pillow_code(image_format, setting, options)), "setting": f"quality {setting}"}
            for setting in settings
        ]
        for name, image_format, settings, options in available_anchors()
    }


def _curve(rows: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Log rates and PSNRs of a sweep, in order of rate."""
    rows = sorted(rows, key=lambda r: r["bits_per_pixel"])
    return np.log([r["bits_per_pixel"] for r in rows]), np.array([r["psnr"] for r in rows])


def psnr_at(rows: Sequence[dict], bits: float) -> float | None:
    """PSNR of a sweep ``rows`` at ``bits`` per pixel, interpolated linearly in log rate (None outside it)."""
    rates, psnrs = _curve(rows)
    if not rates[0] <= np.log(bits) <= rates[-1]:
        return None
    return float(np.interp(np.log(bits), rates, psnrs))


def bits_at(rows: Sequence[dict], psnr_db: float) -> float | None:
    """Bits per pixel a sweep ``rows`` needs for ``psnr_db``, interpolated linearly in log rate (None outside
    its range; the sweep's PSNR must rise with its rate)."""
    rates, psnrs = _curve(rows)
    if np.any(np.diff(psnrs) <= 0) or not psnrs[0] <= psnr_db <= psnrs[-1]:
        return None
    return float(np.exp(np.interp(psnr_db, psnrs, rates)))
