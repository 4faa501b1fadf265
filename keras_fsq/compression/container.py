"""The ``.fsq`` container: one ``Header`` that packs and unpacks, and the limits a file must keep.

Layout (little-endian)::

    b"KFSQ" | version u8 (5; 3 and 4 still read) | model fingerprint 8 B | prior fingerprint 8 B
    | images u16 | height u16 | width u16 | channels u8 | dims u8 | levels u8 x dims
    | model name length u8 | model name (UTF-8; a shipped preset's name, or empty)
    | CRC-32 of the symbols u32 | payload length u32 | payload (u32 words) | CRC-32 of all before u32

Imports no Keras: a file's header is read and checked without a model.
"""

import struct
import zlib
from collections import namedtuple
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

MAGIC = b"KFSQ"
VERSION = 5  # 5: online adaptation (``compression.online``); versions 3 and 4 still decode
READABLE_VERSIONS = (3, 4, 5)
ADAPTATION = {3: "none", 4: "powers", 5: "online"}  # how each version's payload adapts its table (``coder``)
FIXED_HEADER = struct.Struct("<4sB8s8sHHHBB")
_LENGTH = struct.Struct("<I")
MAX_SIDE = 16384
MAX_PIXELS = 2**25  # per file, as keras_fsq.data.MAX_IMAGE_PIXELS per image
MAX_SYMBOLS = 2**26  # per file: the decoded symbols are held (one byte each) and checked before any image


def weights_fingerprint(weights: "Iterable[ArrayLike]") -> bytes:
    """The header's model fingerprint: the first 8 bytes of SHA-256 over every weight array's shape and
    float32 bytes, in order (the same on every backend, and for the NumPy engine's copy of the weights)."""
    import hashlib

    import numpy as np

    digest = hashlib.sha256()
    for weight in weights:
        weight = np.ascontiguousarray(weight, dtype="float32")
        digest.update(str(weight.shape).encode())
        digest.update(weight.tobytes())
    return digest.digest()[:8]


class CodecError(ValueError):
    """A file that is not a valid keras_fsq file for this model and prior."""


class Header(
    namedtuple(
        "Header",
        "version model_fingerprint prior_fingerprint count height width channels levels model_name symbols_crc payload",
    )
):
    """A file's header fields and its payload (bytes); ``pack`` writes the whole file, ``unpack`` checks one."""

    def pack(self) -> bytes:
        """The bytes of the file: header, payload and the closing CRC-32."""
        name = self.model_name.encode("utf-8")
        body = (
            FIXED_HEADER.pack(
                MAGIC,
                self.version,
                self.model_fingerprint,
                self.prior_fingerprint,
                self.count,
                self.height,
                self.width,
                self.channels,
                len(self.levels),
            )
            + bytes(self.levels)
            + bytes([len(name)])
            + name
            + _LENGTH.pack(self.symbols_crc)
            + _LENGTH.pack(len(self.payload))
            + self.payload
        )
        return body + _LENGTH.pack(zlib.crc32(body))

    @classmethod
    def unpack(cls, data: bytes) -> "Header":
        """Check the container of a file's bytes (magic, version, checksum, lengths) -> its ``Header``.

        Needs no model: ``CodecError`` for anything that is not an intact keras_fsq file.
        """
        data = bytes(data)
        if data[:4] != MAGIC:
            raise CodecError("Not a keras_fsq file (no KFSQ magic bytes).")
        if len(data) < FIXED_HEADER.size + 3 * _LENGTH.size:
            raise CodecError("The file is truncated.")
        if zlib.crc32(data[:-4]) != _LENGTH.unpack(data[-4:])[0]:
            raise CodecError("The file is corrupted or truncated (checksum mismatch).")
        _, version, model_print, prior_print, count, height, width, channels, dims = FIXED_HEADER.unpack_from(data)
        if version not in READABLE_VERSIONS:
            raise CodecError(f"File format version {version}; this keras_fsq reads versions {READABLE_VERSIONS}.")
        levels_end = FIXED_HEADER.size + dims
        if len(data) < levels_end + 1 + 3 * _LENGTH.size:
            raise CodecError("The file is truncated.")
        levels = list(data[FIXED_HEADER.size : levels_end])
        empty = not (count and height and width and channels and dims)
        if empty or min(levels) < 2 or count * height * width > MAX_PIXELS:
            raise CodecError(f"Invalid header: {count} images of {height}x{width}x{channels}, levels {levels}.")
        name_end = levels_end + 1 + data[levels_end]
        if len(data) < name_end + 3 * _LENGTH.size:
            raise CodecError("The file is truncated.")
        try:
            model_name = data[levels_end + 1 : name_end].decode("utf-8")
        except UnicodeDecodeError:
            raise CodecError("Invalid header: the model name is not UTF-8.") from None
        symbols_crc, length = struct.unpack_from("<II", data, name_end)
        payload = data[name_end + 2 * _LENGTH.size : -4]
        if length != len(payload) or length % 4:
            raise CodecError("The payload length does not match the file size.")
        return cls(
            version, model_print, prior_print, count, height, width, channels, levels, model_name, symbols_crc, payload
        )
