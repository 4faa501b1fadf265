"""Batches for ``fit``: each epoch's order (and mirrors, and crops) a function of the seed and the epoch alone,
so a resumed run sees the batches an uninterrupted one would.
"""

import functools

import numpy as np

from keras_fsq.data import patches
from keras_fsq.validation import positive_int, to_unit_float


def make_dataset(images, batch_size=64, shuffle=False, seed=0, drop_remainder=False, flip=False):
    """A batched, prefetched ``tf.data.Dataset`` of float images (uint8 is scaled by 1/255).

    ``flip=True`` mirrors each image left-right with probability 1/2 every epoch.
    """
    import tensorflow as tf

    batch_size = positive_int(batch_size, "batch_size")
    images = to_unit_float(images)
    dataset = tf.data.Dataset.from_tensor_slices(images)
    if shuffle:
        dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    if flip:
        dataset = dataset.map(
            lambda image: tf.image.random_flip_left_right(image, seed=seed), num_parallel_calls=tf.data.AUTOTUNE
        )
    return dataset.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def epoch_order(count, seed, epoch, flip=False):
    """Epoch ``epoch``'s order of ``count`` items and which are mirrored (all ``False`` without ``flip``),
    drawn from ``numpy.random.default_rng((seed, epoch))``: known without running the epochs before it."""
    rng = np.random.default_rng((seed, epoch))
    order = rng.permutation(count)
    return order, (rng.random(count) < 0.5 if flip else np.zeros(count, bool))


def shuffled_batches(images, batch_size, seed=0, flip=False):
    """A ``keras.utils.PyDataset`` of ``images`` in batches, in a new order every epoch.

    Epoch ``e`` takes the permutation (and, with ``flip``, the left-right mirrors, each with
    probability 1/2) of ``epoch_order(len(images), seed, e, flip)``, so a resumed run
    (``dataset.epoch = e``) sees the same batches as an uninterrupted one.
    """
    if len(images) == 0:
        raise ValueError("`images` must hold at least one image.")

    def batch(chosen, mirror):
        batch = to_unit_float(np.asarray(images)[chosen])
        batch[mirror] = batch[mirror][:, :, ::-1]
        return batch

    return epoch_batches(len(images), batch_size, seed, flip, batch)


def shuffled_records(arrays, batch_size, seed=0):
    """A ``keras.utils.PyDataset`` of dicts of rows of ``arrays`` (``{name: array}``, equal lengths), in
    batches in a new order every epoch (``epoch_order``), e.g. ``{"tokens": ..., "labels": ...}`` for
    ``MaskGIT.fit``; as ``shuffled_batches``, a resumed run sees the same batches."""
    lengths = {len(array) for array in arrays.values()}
    if len(lengths) != 1 or 0 in lengths:
        raise ValueError(f"`arrays` must hold rows of one non-zero length; got lengths {sorted(lengths)}.")
    return epoch_batches(
        lengths.pop(), batch_size, seed, False, lambda chosen, _: {n: a[chosen] for n, a in arrays.items()}
    )


def epoch_batches(count, batch_size, seed, flip, batch):
    """A ``PyDataset`` of ``ceil(count / batch_size)`` batches per epoch, batch ``i`` of epoch ``e`` being
    ``batch(rows, mirrored)`` for its rows of ``epoch_order(count, seed, e, flip)``."""
    import keras

    batch_size = positive_int(batch_size, "batch_size")
    draw = functools.lru_cache(maxsize=2)(lambda epoch: epoch_order(count, seed, epoch, flip))  # read and prefetched

    class EpochBatches(keras.utils.PyDataset):
        epoch = 0

        def __len__(self):
            return -(-count // batch_size)

        def __getitem__(self, index):
            order, mirror = draw(self.epoch)
            chosen = order[index * batch_size : (index + 1) * batch_size]
            return batch(chosen, mirror[chosen])

        def on_epoch_end(self):
            self.epoch += 1

    return EpochBatches()


def random_crop_batches(images, size, batch_size, steps, seed=0, flip=True):
    """A ``keras.utils.PyDataset`` of ``steps`` batches of random ``size``x``size`` crops of ``images``.

    ``images``: a list of (H, W, C) arrays of any sizes (uint8, or floats in [0, 1]),
    each at least ``size`` on both sides. Batch ``i`` of epoch ``e`` draws
    ``batch_size`` images uniformly, a crop of each and (``flip``) a left-right
    mirror with probability 1/2, from ``numpy.random.default_rng((seed, e, i))``:
    fresh crops every epoch, the same ones on every run.
    """
    import keras

    for name, value in (("size", size), ("batch_size", batch_size), ("steps", steps)):
        positive_int(value, name)
    small = [image.shape[:2] for image in images if min(image.shape[:2]) < size]
    if len(images) == 0 or small:
        raise ValueError(
            f"`images` must be a non-empty list of images of at least {size}x{size}; received sizes {small}."
        )

    class RandomCrops(keras.utils.PyDataset):
        epoch = 0

        def __len__(self):
            return steps

        def __getitem__(self, index):
            rng = np.random.default_rng((seed, self.epoch, index))
            batch = []
            for choice in rng.integers(0, len(images), batch_size):
                crop = patches(images[choice], size, "random_crop", 1, rng)[0]
                batch.append(crop[:, ::-1] if flip and rng.random() < 0.5 else crop)
            return to_unit_float(np.stack(batch))

        def on_epoch_end(self):
            self.epoch += 1

    return RandomCrops()
