"""Images from ``.npy``/``.npz`` files, bounded by what loading them costs, checked from their headers.

Nothing is inflated before the headers say what it will cost: a few compressed bytes of an
``.npz`` member can claim gigabytes, and a float128 array at a value limit is 4x the memory of
float32.
"""

import math
import pathlib

import numpy as np

from keras_fsq.validation import to_unit_float

# Array files (.npy/.npz) are bounded by what loading them costs, checked from their headers
# before anything is inflated: the values kept (after --limit) times their bytes plus the 4 of
# float32 images, at most 1 GiB (the whole of CIFAR-10 as uint8: 0.9 GiB), in dtypes images come in.
MAX_ARRAY_BYTES = 2**30
ARRAY_DTYPES = ("uint8", "float16", "float32", "float64")


def _npy_header(stream):
    """``(shape, dtype)`` of the ``.npy`` data in ``stream``, from its header alone."""
    version = np.lib.format.read_magic(stream)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read(stream)
    return shape, dtype


def array_file_headers(path):
    """``{name: (shape, dtype)}`` of the arrays of a ``.npy``/``.npz`` file, read from the headers only.

    Nothing is inflated: a few compressed bytes of an ``.npz`` member can claim gigabytes.
    """
    import zipfile

    if not zipfile.is_zipfile(path):
        with open(path, "rb") as stream:
            return {"": _npy_header(stream)}
    with zipfile.ZipFile(path) as archive:
        headers = {}
        for member in archive.namelist():
            with archive.open(member) as stream:
                headers[member.removesuffix(".npy")] = _npy_header(stream)
        return headers


def _read_rows(stream, rows=None):
    """The first ``rows`` entries (all if ``None``) of the ``.npy`` array in ``stream``, reading no more bytes
    than they take (a C-ordered array; a Fortran-ordered one is read whole)."""
    version = np.lib.format.read_magic(stream)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read(stream)
    if fortran or not shape:
        array = np.frombuffer(stream.read(math.prod(shape) * dtype.itemsize), dtype)
        return array.reshape(shape, order="F" if fortran else "C")[: rows if shape else None]
    rows = shape[0] if rows is None else min(rows, shape[0])
    count = rows * math.prod(shape[1:])
    data = stream.read(count * dtype.itemsize)
    if len(data) != count * dtype.itemsize:
        raise ValueError("the array data ends early")
    return np.frombuffer(data, dtype).reshape((rows, *shape[1:]))


def load_array_file(path, limit=None, max_bytes=MAX_ARRAY_BYTES):
    """Images from a ``.npy`` file, or a ``.npz`` (its first array; the shared CIFAR-10 file whole), at most
    ``limit`` of them (only those are read).

    The headers are checked first: a dtype not in ``ARRAY_DTYPES``, or more than ``max_bytes`` to load the
    images kept and convert them to float32, is a ``ValueError`` before anything is read.
    """
    import zipfile

    path = pathlib.Path(path)
    try:
        headers = array_file_headers(path)
    except Exception as error:  # ValueError, zipfile and OS errors of a damaged file
        raise ValueError(f"{path} is not a readable .npy/.npz file: {error}") from None
    if not headers:
        raise ValueError(f"{path} holds no arrays.")
    shared = "data_batch_1_x" in headers  # the shared CIFAR-10 file: every batch's images
    wanted = sorted(name for name in headers if name.endswith("_x")) if shared else [next(iter(headers))]
    dtypes = sorted({str(headers[name][1]) for name in wanted})
    if not set(dtypes) <= set(ARRAY_DTYPES):
        raise ValueError(f"{path} holds arrays of dtype {dtypes}; images are {', '.join(ARRAY_DTYPES)}.")
    cost, left = 0, limit
    for name in wanted:
        shape, dtype = headers[name]
        rows = shape[0] if shape else 1
        kept = rows if left is None else min(rows, left)
        cost += kept * math.prod(shape[1:]) * (dtype.itemsize + 4)
        left = None if left is None else left - kept
    if cost > max_bytes:
        raise ValueError(
            f"{path}: loading its images takes {cost / 2**20:,.0f} MiB, over the {max_bytes / 2**20:,.0f} MiB allowed; "
            "pass --limit or a subset."
        )
    try:
        arrays, left = [], limit
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                for name in wanted:
                    if left == 0:
                        break
                    with archive.open(name + ".npy") as stream:
                        arrays.append(_read_rows(stream, left))
                    left = None if left is None else left - len(arrays[-1])
        else:
            with open(path, "rb") as stream:
                arrays.append(_read_rows(stream, limit))
    except Exception as error:  # ValueError, zipfile and OS errors of a damaged file
        raise ValueError(f"{path} is not a readable .npy/.npz file: {error}") from None
    images = np.concatenate(arrays) if len(arrays) > 1 else arrays[0]
    if images.ndim == 3:  # one channel without its axis
        images = images[..., None]
    return to_unit_float(images, str(path))
