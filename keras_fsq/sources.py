"""What a ``--data`` source names, and its images: the one place that dispatches on a source.

Sits above ``data`` (image files, arrays, CIFAR-10) and ``class_folders`` (class subfolders and
the 50,000 CIFAR-10 JPEGs), which it reads through.
"""

import pathlib

import numpy as np

from keras_fsq import class_folders
from keras_fsq.data import (
    IMAGE_SUFFIXES,
    is_image_folder,
    load_array_file,
    load_cifar10,
    load_image_folder,
    load_shared_cifar10,
    to_unit_float,
)

SHARED_CIFAR10_NAMES = ("shared-cifar10",)
SHARED_CIFAR10_JPEG_NAME = "shared-cifar10-jpeg50k"  # the 50,000 JPEG training images, held-out ones left out


def holds_class_folders(path: str | pathlib.Path) -> bool:
    """A folder with no images of its own and subfolders that hold some (``keras_fsq.class_folders``)."""
    path = pathlib.Path(path)
    entries = list(path.iterdir())
    if any(p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() for p in entries):
        return False
    return any(p.is_dir() and any(q.suffix.lower() in IMAGE_SUFFIXES for q in p.iterdir()) for p in entries)


def load_images(source: str, data_dir: str | pathlib.Path | None = None, limit: int | None = None) -> np.ndarray:
    """The images a ``source`` names, float32 (N, H, W, C) in [0, 1], at most ``limit`` of them.

    ``source``: ``"shared-cifar10"`` (the bundled images, found through
    ``data_dir``), ``"shared-cifar10-jpeg50k"`` (the 50,000 JPEG training images without the
    held-out ones, ``class_folders.load_cifar10_jpeg``), ``"cifar10"`` (tensorflow-datasets'
    training split), the shared data folder itself, a folder of images (centre crops of 32,
    ``load_image_folder``), a folder or ``.tar``/``.tar.gz`` archive of class subfolders
    (``class_folders.read_class_folders``) or a ``.npy``/``.npz`` file (``load_array_file``).
    """
    path = pathlib.Path(source)
    if source in SHARED_CIFAR10_NAMES:
        images, _ = load_shared_cifar10(data_dir)
    elif source == SHARED_CIFAR10_JPEG_NAME:
        images = to_unit_float(class_folders.load_cifar10_jpeg(data_dir, limit)[0])
    elif source == "cifar10":
        dataset = load_cifar10("train", data_dir=data_dir)
        images = np.stack(list(dataset.take(limit or -1).as_numpy_iterator()))
    elif path.is_dir() and not is_image_folder(path):
        images, _ = load_shared_cifar10(path)
    elif class_folders.is_archive(path) or (path.is_dir() and holds_class_folders(path)):
        images = to_unit_float(class_folders.read_class_folders(path, limit)[0])
    elif path.is_dir():
        images = load_image_folder(path)
    elif path.suffix in (".npy", ".npz") and path.is_file():
        images = load_array_file(path, limit=limit)
    else:
        raise ValueError(f"--data {source!r} is neither a known dataset, a folder nor a .npy/.npz file.")
    return images[:limit] if limit else images
