"""Labelled image sets: one subfolder per class, in a folder or in a ``.tar``/``.tar.gz`` archive read as it is.

    images, labels, classes = read_class_folders("cifar10_train_50000_jpeg_q75.tar.gz")
    images, labels, classes = load_cifar10_jpeg(data_dir)          # the 50,000 training images, held-out ones left out

A file ``.../<class>/<name>.<image suffix>`` is an image of class ``<class>``; classes are
numbered in sorted order of their names (CIFAR-10's names sort into its own label order:
airplane 0 ... truck 9), images within a class in sorted order of their paths. An archive is
streamed member by member (nothing is unpacked to disk). Every image must have the size of the
first, and loading is bounded before the pixels pile up: at most ``MAX_IMAGES`` images and
``array_files.MAX_ARRAY_BYTES`` of uint8 pixels, each image's pixels checked from its header.

``load_cifar10_jpeg`` reads the shared data's 50,000 CIFAR-10 training images (JPEG quality
75) and leaves out the JPEG versions of the lossless images held out for evaluation
(``lossless_subset_in_jpeg50k.csv`` maps each lossless image, ``(batch, row)``, to its JPEG):
by default those that ``load_shared_cifar10``'s split holds out (its images from
``HELD_OUT_START`` on), so no held-out image trains in either form.
"""

import csv
import math
import pathlib
import tarfile

import numpy as np

from keras_fsq import array_files, data

MAX_IMAGES = 200_000
MAX_ARCHIVE_ENTRIES = 2 * MAX_IMAGES  # listing an archive holds every entry's header (about 1 KiB each)
CIFAR10_JPEG = "cifar10/cifar10_train_50000_jpeg_q75.tar.gz"
CIFAR10_JPEG_MAP = "cifar10/lossless_subset_in_jpeg50k.csv"
SHARED_PER_BATCH = 1017  # the shared lossless file: the first 1,017 images of each training batch
HELD_OUT_START = 4000  # its images from here on are held out (the README's 4,000 / 1,085 split)
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz")


def is_archive(path):
    return str(path).lower().endswith(ARCHIVE_SUFFIXES)


def _members(source):
    """``(relative path, opener)`` of every image file of a class folder tree or an archive, sorted."""
    source = pathlib.Path(source)
    if source.is_dir():
        paths = [p for p in source.rglob("*") if p.suffix.lower() in data.IMAGE_SUFFIXES and p.is_file()]
        yield from ((p.relative_to(source).as_posix(), p) for p in sorted(paths))
        return
    if not is_archive(source) or not source.is_file():
        raise ValueError(f"{source} is neither a folder nor a .tar/.tar.gz archive of class folders.")
    try:
        with tarfile.open(source) as archive:
            suffixes = data.IMAGE_SUFFIXES
            members = []
            for count, member in enumerate(archive, 1):  # every entry costs its header's memory: bounded by count
                if count > MAX_ARCHIVE_ENTRIES:
                    raise ValueError(f"{source} holds more than {MAX_ARCHIVE_ENTRIES} entries; split it.")
                if member.isfile() and pathlib.PurePosixPath(member.name).suffix.lower() in suffixes:
                    members.append(member)
            for member in sorted(members, key=lambda m: m.name):
                yield member.name, archive.extractfile(member)
    except (tarfile.TarError, OSError, EOFError) as error:
        raise ValueError(f"{source} is not a readable archive: {error}") from None


def read_class_folders(source, limit=None, exclude=(), max_bytes=array_files.MAX_ARRAY_BYTES):
    """``(images uint8 (N, H, W, 3), labels int64 (N,), class names)`` of a class folder tree or archive.

    ``limit``: at most this many images (the first in sorted order); ``exclude``: relative paths
    (``<...>/<class>/<name>``, as listed by the archive) left out. ``ValueError`` for a source with
    fewer than one class or image, images of different sizes, or more than ``MAX_IMAGES`` images or
    ``max_bytes`` of pixels.
    """
    excluded = {pathlib.PurePosixPath(name).as_posix() for name in exclude}
    images, classes, shape = [], [], None
    for name, opened in _members(source):
        parts = pathlib.PurePosixPath(name).parts
        if any("/".join(parts[start:]) in excluded for start in range(len(parts))):  # a path or its tail
            continue
        if limit is not None and len(images) >= limit:
            break
        if len(parts) < 2:
            raise ValueError(f"{source}: {name} is not inside a class folder.")
        image = data.to_uint8(data.decode_image(opened, f"{source}:{name}"))
        shape = shape or image.shape
        if image.shape != shape:
            raise ValueError(
                f"{source}: {name} is {image.shape[1]}x{image.shape[0]}; the first image is {shape[1]}x{shape[0]}."
            )
        if len(images) >= MAX_IMAGES or (len(images) + 1) * math.prod(shape) > max_bytes:
            raise ValueError(
                f"{source} holds more images than the {MAX_IMAGES} or {max_bytes} bytes allowed; pass limit."
            )
        images.append(image)
        classes.append(parts[-2])
    if not images:
        raise ValueError(f"{source} holds no images in class folders.")
    names = sorted(set(classes))
    labels = np.searchsorted(names, classes).astype("int64")
    return np.stack(images), labels, names


def held_out_jpegs(data_dir=None, start=HELD_OUT_START):
    """``{index in the shared lossless file: path of its JPEG}`` (paths as the map gives them, ``train/...``)
    for the lossless images from ``start`` on (index ``(batch - 1) * 1017 + row``)."""
    path = data.resolve_data_dir(data_dir) / CIFAR10_JPEG_MAP
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    held = {}
    for row in rows:
        index = (int(row["batch"]) - 1) * SHARED_PER_BATCH + int(row["row"])
        if index >= start:
            held[index] = row["jpeg_path"]
    return dict(sorted(held.items()))


def load_cifar10_jpeg(data_dir=None, limit=None, held_out_start=HELD_OUT_START):
    """The 50,000 CIFAR-10 training images of the shared data (JPEG q75), without the JPEG versions of the
    lossless images held out from ``held_out_start`` on: ``(images uint8, labels, class names)``."""
    archive = data.resolve_data_dir(data_dir) / CIFAR10_JPEG
    if not archive.is_file():
        raise FileNotFoundError(f"{archive} not found; it holds the 50,000 CIFAR-10 training images as JPEGs.")
    return read_class_folders(archive, limit=limit, exclude=held_out_jpegs(data_dir, held_out_start).values())
