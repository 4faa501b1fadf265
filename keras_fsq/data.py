"""Image data as float32 in [0, 1]: CIFAR-10 (tfds), image files and folders, and crops of them.

``.npy``/``.npz`` files are read by ``keras_fsq.array_files``, batches for ``fit`` made by
``keras_fsq.batches``.

The offline real images (``shared/data`` beside a checkout) are found through
a ``data_dir`` argument or the ``KERAS_FSQ_DATA`` environment variable.
"""

import os
import pathlib
import socket

import numpy as np

from keras_fsq import files
from keras_fsq.array_files import load_array_file
from keras_fsq.validation import positive_int, to_unit_float

DATA_DIR_VARIABLE = "KERAS_FSQ_DATA"
SHARED_CIFAR10 = pathlib.Path("cifar10") / "cifar10_train_first1017_of_each_batch.npz"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
# Larger images are refused before any pixel is decoded: 2^25 pixels (e.g. 8192x4096)
# take 384 MiB as float32 RGB. Pillow's own bomb limit (89 megapixels) would let a
# 236 KB PNG of 9000x9000 cost 2.7 GB.
MAX_IMAGE_PIXELS = 2**25
CIFAR10_HOST = ("www.cs.toronto.edu", 443)  # where tensorflow-datasets downloads CIFAR-10 from


class DatasetUnavailableError(RuntimeError):
    """The dataset cannot be read from disk nor downloaded."""


def resolve_data_dir(data_dir=None):
    """``data_dir``, else ``$KERAS_FSQ_DATA``; raise ``FileNotFoundError`` if neither exists."""
    candidate = data_dir or os.environ.get(DATA_DIR_VARIABLE)
    if not candidate:
        raise FileNotFoundError(
            f"No data directory given: pass `data_dir` or set {DATA_DIR_VARIABLE} "
            "(in a checkout of keras_fsq it is ../shared/data)."
        )
    path = pathlib.Path(candidate).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"Data directory {path} does not exist.")
    return path


def load_shared_cifar10(data_dir=None):
    """The 5,085 real CIFAR-10 images shipped offline: (images float32 [0,1], labels int)."""
    path = resolve_data_dir(data_dir) / SHARED_CIFAR10
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; it holds the offline CIFAR-10 images.")
    with np.load(path) as archive:
        images = np.concatenate([archive[f"data_batch_{i}_x"] for i in range(1, 6)])
        labels = np.concatenate([archive[f"data_batch_{i}_y"] for i in range(1, 6)])
    return to_unit_float(images), labels.astype("int64")


def is_image_folder(path):
    """A folder of images, as opposed to the shared data folder (which holds cifar10/)."""
    path = pathlib.Path(path)
    return path.is_dir() and not (path / SHARED_CIFAR10).is_file()


def image_set(path):
    """A folder's images (``ImageFiles``: read one by one when needed) or the images of a .npy/.npz file."""
    path = pathlib.Path(path)
    if path.is_dir():
        return ImageFiles(image_paths(path))
    if path.suffix in (".npy", ".npz") and path.is_file():
        return load_array_file(path)
    raise ValueError(f"{path} is neither a folder of images nor a .npy/.npz file.")


def load_cifar10(split="train", data_dir=None, download=True):
    """CIFAR-10 from tensorflow-datasets as a ``tf.data.Dataset`` of float32 images / 255.

    Raises ``DatasetUnavailableError`` when the data is neither in ``data_dir``
    nor downloadable (e.g. offline); ``load_shared_cifar10`` is the offline path.
    """
    import tensorflow as tf
    import tensorflow_datasets as tfds

    def load(download):
        return tfds.load("cifar10", split=split, data_dir=data_dir, download=download, as_supervised=True)

    try:
        try:
            dataset = load(download=False)
        except Exception:  # not in data_dir yet
            if not download:
                raise
            _check_reachable(CIFAR10_HOST)
            dataset = load(download=True)
    except Exception as error:  # tfds raises assertion, import and network errors alike
        raise DatasetUnavailableError(
            f"CIFAR-10 could not be loaded from tensorflow-datasets (data_dir={data_dir!r}, "
            f"download={download}): {error}. Offline, use load_shared_cifar10(data_dir)."
        ) from error
    return dataset.map(lambda image, label: tf.cast(image, tf.float32) / 255.0, num_parallel_calls=tf.data.AUTOTUNE)


def _check_reachable(address, timeout=5.0):
    """Fail in seconds, not after minutes of download retries, when the download host cannot be reached."""
    try:
        socket.create_connection(address, timeout=timeout).close()
    except OSError as error:
        raise DatasetUnavailableError(f"cannot reach {address[0]} to download CIFAR-10 ({error}); offline?") from None


def _unit_rgb(image):
    """A loaded Pillow image of any mode -> float32 (H, W, 3) in [0, 1].

    16-bit and 32-bit integer greyscale (``I;16*``, ``I``) is scaled by 1/65535,
    float greyscale (``F``) must already lie in [0, 1] (``ValueError`` otherwise:
    a float TIFF of 0..255 values is not silently clipped to white); every other mode (palette, alpha,
    grey, CMYK, YCbCr, ...) goes through Pillow's RGB conversion, which drops alpha.
    """
    if image.mode.startswith("I;16") or image.mode == "I":
        grey = np.clip(np.asarray(image, dtype="float32") / 65535.0, 0.0, 1.0)
    elif image.mode == "F":
        grey = np.asarray(image, dtype="float32")
        if not np.isfinite(grey).all() or grey.min(initial=0.0) < 0 or grey.max(initial=0.0) > 1:
            finite = grey[np.isfinite(grey)]
            seen = f"[{finite.min():.4g}, {finite.max():.4g}]" if finite.size else "no finite values"
            raise ValueError(
                f"a float image must hold values in [0, 1]; this one holds {seen}"
                + ("" if finite.size == grey.size else " and NaN/inf")
                + " (scale it first)"
            )
    else:
        rgb = np.asarray(image if image.mode == "RGB" else image.convert("RGB"), dtype="float32")
        rgb /= 255.0  # in place: a 2^25-pixel photo is 384 MiB as float32, twice that with a temporary
        return rgb
    return np.repeat(grey[..., None], 3, axis=-1)


def read_image(path, max_pixels=MAX_IMAGE_PIXELS):
    """One image file as float32 (H, W, 3) in [0, 1], upright, from any mode Pillow opens (see ``_unit_rgb``).

    The EXIF orientation tag (a phone's portrait photo is stored sideways with
    orientation 6) is applied, so the image comes back as viewers show it.
    Raises ``ValueError`` naming the file when it is not a readable image
    (corrupt, truncated, another format, a folder), holds several frames
    (animations, multi-page TIFFs), is a float image with values outside
    [0, 1], or has more than ``max_pixels`` pixels, which is checked from the
    header before decoding.
    """
    path = pathlib.Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not an image file.")
    return decode_image(path, path, max_pixels)


def decode_image(source, path, max_pixels=MAX_IMAGE_PIXELS):
    """``read_image`` of ``source``, a path or a binary file object (an archive's member); ``path`` names it
    in errors."""
    from PIL import Image, ImageOps

    try:
        image = Image.open(source)
    except FileNotFoundError:
        raise
    except Exception as error:  # Pillow raises OSError, SyntaxError, ValueError, its bomb error, ...
        raise ValueError(f"{path} is not a readable image: {error}") from None
    with image:
        if image.width * image.height > max_pixels:
            raise ValueError(
                f"{path} is {image.width}x{image.height}, over the {max_pixels} pixels allowed "
                "(a possible decompression bomb); pass a larger max_pixels to read it."
            )
        frames = getattr(image, "n_frames", 1)
        if frames > 1:
            raise ValueError(
                f"{path} holds {frames} frames (an animation or a multi-page file); save the frame to use as one image."
            )
        try:
            image.load()
            # Only a photo stored turned is transposed (a copy); an upright one is used as it is.
            upright = ImageOps.exif_transpose(image) if image.getexif().get(0x0112, 1) != 1 else image
        except Exception as error:
            raise ValueError(f"{path} is not a readable image: {error}") from None
        try:
            return _unit_rgb(upright)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None


def to_uint8(image):
    """Float pixels in [0, 1] -> uint8 ``round(255 clip(x, 0, 1))``, in strips of 256 rows (no float
    temporary the size of the image); uint8 pixels are returned as they are."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    pixels = np.empty(image.shape, dtype="uint8")
    for top in range(0, len(image), 256):
        pixels[top : top + 256] = (np.clip(image[top : top + 256], 0, 1) * 255).round()
    return pixels


def save_image(image, path):
    """Float (H, W, C) in [0, 1] (rounded to 8 bits, ``to_uint8``) or uint8 -> an image file (format from the
    suffix)."""
    from PIL import Image

    pixels = to_uint8(image)
    Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(path)


def write_image(image, path, overwrite=True):
    """``save_image`` through a temporary file, so ``path`` is never left half-written."""
    with files.replacing(path, overwrite) as temporary:
        save_image(image, temporary)


def image_paths(folder, recursive=False):
    """Sorted image files inside ``folder`` (and its subfolders if ``recursive``); ``ValueError`` if there are none."""
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise ValueError(f"`folder` {folder} is not a directory.")
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    paths = sorted(p for p in candidates if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        raise ValueError(f"`folder` {folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}).")
    return paths


class ImageFiles:
    """The images of ``paths`` as a sequence that reads each file when indexed (``read_image``).

    Any sizes, little memory.
    """

    def __init__(self, paths):
        self.paths = list(paths)

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        return read_image(self.paths[index])


PATCH_MODES = ("center_crop", "tile", "random_crop")


def patches(image, size, mode="center_crop", count=1, rng=None):
    """Cut ``size``x``size`` patches from one image: its centre, every tile of a grid, or ``count`` random crops.

    ``rng`` (a ``numpy.random.Generator``) places the random crops.
    """
    height, width = image.shape[:2]
    if height < size or width < size:
        raise ValueError(f"An image of {height}x{width} is smaller than the patch size {size}.")
    if mode == "center_crop":
        top, left = (height - size) // 2, (width - size) // 2
        return image[None, top : top + size, left : left + size]
    if mode == "tile":
        rows, cols = height // size, width // size
        tiles = image[: rows * size, : cols * size].reshape(rows, size, cols, size, -1)
        return tiles.transpose(0, 2, 1, 3, 4).reshape(rows * cols, size, size, -1)
    if mode == "random_crop":
        tops = rng.integers(0, height - size + 1, count)
        lefts = rng.integers(0, width - size + 1, count)
        return np.stack([image[top : top + size, left : left + size] for top, left in zip(tops, lefts)])
    raise ValueError(f"`mode` must be one of {PATCH_MODES}; received {mode!r}.")


def load_image_folder(folder, size=32, mode="center_crop", crops_per_image=1, seed=0):
    """Every image in ``folder`` as ``size``x``size`` patches, float32 (N, size, size, 3).

    ``mode="random_crop"`` takes ``crops_per_image`` crops of each image at places drawn with ``seed``.
    """
    crops_per_image = positive_int(crops_per_image, "crops_per_image")
    rng = np.random.default_rng(seed)
    return np.concatenate([patches(read_image(path), size, mode, crops_per_image, rng) for path in image_paths(folder)])
