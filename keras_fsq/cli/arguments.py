"""What every ``keras-fsq`` subcommand shares: argument types that fail in one line, the data options, ``--overwrite``.

Imports nothing heavy: ``keras-fsq --help`` and argument errors answer before Keras is imported.
"""

import argparse
import math


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with a usage error in one line (and exit status 2) instead of the whole usage text."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _number(text, kind, test, what):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}; got {text!r}") from None
    if not test(value):
        raise argparse.ArgumentTypeError(f"expected {what}; got {text!r}")
    return value


def positive_int(text):
    return _number(text, int, lambda v: v >= 1, "an integer >= 1")


def non_negative_int(text):
    return _number(text, int, lambda v: v >= 0, "an integer >= 0")


def positive_float(text):
    return _number(text, float, lambda v: 0 < v < math.inf, "a finite number > 0")


def codec_quality(text):
    """A shipped codec's quality: a number from the lowest to the highest (``presets.codec_preset``: between two,
    their blend)."""
    from keras_fsq.presets import DCT_QUALITIES

    low, high = min(DCT_QUALITIES), max(DCT_QUALITIES)
    return _number(text, float, lambda v: low <= v <= high, f"a number in [{low}, {high}]")


def non_negative_float(text):
    return _number(text, float, lambda v: 0 <= v < math.inf, "a finite number >= 0")


def parse_ints(text, minimum=1, what="comma-separated integers"):
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, e.g. 8,5,5,5; got {text!r}") from None
    if not values or min(values) < minimum:
        raise argparse.ArgumentTypeError(f"expected {what}, each >= {minimum}; got {text!r}")
    return values


def parse_levels(text):
    return parse_ints(text, 2, "comma-separated levels")


def parse_words(text):
    return [part.strip() for part in text.split(",") if part.strip()]


DEFAULT_TRAIN_SIZE = 4000  # the README's split of the bundled images: 4,000 train, 1,085 held out


def add_data_arguments(parser, train_size=None, batch_size=64):
    parser.add_argument(
        "--data",
        default="shared-cifar10",
        help="a folder of images (centre crops), a .npy/.npz file of images, the shared data folder "
        "(its cifar10/ images), shared-cifar10 (the same, found through --data-dir), shared-cifar10-jpeg50k (its "
        "50,000 JPEG training images, held-out ones left out), a folder or .tar.gz of class subfolders, "
        "or cifar10 (tensorflow-datasets)",
    )
    parser.add_argument("--data-dir", help="where shared/data or the tfds data lives (default: $KERAS_FSQ_DATA)")
    parser.add_argument(
        "--train-size",
        type=non_negative_int,
        default=train_size,
        help="the first N images train; the rest are held out (default: 4,000; with shared-cifar10-jpeg50k every "
        "JPEG trains and the 1,085 lossless images it leaves out are held out)",
    )
    parser.add_argument("--limit", type=positive_int, help="use at most this many images in all")
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=batch_size,
        help="images per step" + (" (default: the preset's)" if batch_size is None else ""),
    )


def add_overwrite(parser, what="existing output files"):
    parser.add_argument("--overwrite", action="store_true", help=f"replace {what}")


def load_split(args, load_images=None):
    """``(training images, held-out images)`` for ``--data``: the first ``--train-size`` images and the rest;
    for ``shared-cifar10-jpeg50k``, its JPEGs (the first ``--train-size`` if given) and, held out, the lossless
    images whose JPEGs it leaves out (``class_folders.HELD_OUT_START`` on), so no held-out image trains in
    either form and the held-out metrics are measured against lossless originals."""
    from keras_fsq import class_folders, data, sources

    load = load_images or (lambda: sources.load_images(args.data, args.data_dir, args.limit))
    if args.data == sources.SHARED_CIFAR10_JPEG_NAME:
        images = load()
        held_out = data.load_shared_cifar10(args.data_dir)[0][class_folders.HELD_OUT_START :]
        return images[: args.train_size or len(images)], held_out
    return split(load(), DEFAULT_TRAIN_SIZE if args.train_size is None else args.train_size)


def split(images, train_size):
    if not train_size < len(images):
        raise ValueError(f"--train-size {train_size} must leave held-out images among the {len(images)} loaded.")
    return images[:train_size], images[train_size:]
