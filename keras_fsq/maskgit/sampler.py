"""MaskGIT's iterative parallel decoding (Chang et al., 2022), in NumPy around the network's logits.

All ``T`` positions start masked; at step ``s = 1 .. S`` every masked position samples a
token from ``softmax(l / temperature)``, where, with guidance ``g`` (classifier-free),
``l = l_c + g (l_c - l_null)``; the positions sampled with the lowest confidence
``log p(token) + (1 - s / S) * choice_temperature * Gumbel`` are masked again so that
``floor(T cos(pi s / 2S))`` stay masked, and the rest are kept for good. After ``S`` steps
every token is fixed; the tokenizer's decoder makes the images. Sampling batches hold at
most ``ACTIVATION_BUDGET_BYTES`` of activations (a model's ``activation_bytes`` per image,
twice with guidance).
"""

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from keras_fsq.maskgit.settings import SamplingSettings
from keras_fsq.validation import positive_int

ACTIVATION_BUDGET_BYTES = 2**29  # sampling batches hold at most this much (``generate_tokens`` lowers batch_size)


def generate_tokens(
    model: Any,
    num_images: int,
    settings: SamplingSettings,
    class_labels: ArrayLike | int | None = None,
    seed: int = 0,
    batch_size: int = 250,
) -> np.ndarray:
    """Token grids ``(num_images, *model.grid_shape)`` sampled from ``model`` (a ``MaskGIT``) with
    ``settings`` (``SamplingSettings``); ``class_labels`` as ``check_labels`` takes them."""
    num_images, batch_size = positive_int(num_images, "num_images"), positive_int(batch_size, "batch_size")
    labels = check_labels(model, class_labels, num_images)
    if settings.guidance and labels is None:
        raise ValueError("`guidance` needs `class_labels` (it pushes samples towards their class).")
    per_image = model.activation_bytes() * (2 if settings.guidance else 1)  # guidance runs the null class beside
    batch_size = min(batch_size, max(1, ACTIVATION_BUDGET_BYTES // per_image))
    rng = np.random.default_rng(seed)
    batches = [
        decode_batch(
            model,
            None if labels is None else labels[start : start + batch_size],
            min(batch_size, num_images - start),
            settings,
            rng,
        )
        for start in range(0, num_images, batch_size)
    ]
    return np.concatenate(batches).reshape((num_images, *model.grid_shape))


def check_labels(model: Any, class_labels: ArrayLike | int | None, num_images: int) -> np.ndarray | None:
    """``class_labels`` (one per image, one for all, or None: unconditional) as int32 ``(num_images,)`` or
    None; ``ValueError`` for labels out of ``[0, num_classes)`` or an unconditional model."""
    if class_labels is None:
        return None
    if not model.num_classes:
        raise ValueError("`class_labels` needs a class-conditional model (num_classes > 0).")
    labels = np.asarray(class_labels)
    if not np.issubdtype(labels.dtype, np.integer) or labels.ndim > 1:
        raise ValueError(f"`class_labels` must be an int or a list of ints; received {class_labels!r}.")
    labels = np.broadcast_to(labels, (num_images,)) if labels.ndim == 0 else labels
    if len(labels) != num_images or labels.min() < 0 or labels.max() >= model.num_classes:
        raise ValueError(
            f"`class_labels` must hold {num_images} labels in [0, {model.num_classes}); received "
            f"{len(labels)} in [{labels.min()}, {labels.max()}]."
        )
    return labels.astype("int32")


def sample_tokens(
    model: Any, logits: np.ndarray, temperature: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Tokens ``(N, T)`` drawn from ``softmax(logits / temperature)`` (per symbol with factorized heads),
    and their log-probabilities."""
    sampled: Any = 0
    log_probability: Any = 0.0
    for offset, size, weight in model.symbol_groups():
        group = (logits[..., offset : offset + size] / temperature).astype("float32")
        group -= group.max(axis=-1, keepdims=True)
        probabilities = np.exp(group)
        probabilities /= probabilities.sum(axis=-1, keepdims=True)
        cumulative = np.cumsum(probabilities, axis=-1)
        draws = rng.uniform(size=(*group.shape[:-1], 1)) * cumulative[..., -1:]
        symbol = np.minimum((cumulative < draws).sum(axis=-1), size - 1)
        log_probability += np.log(np.take_along_axis(probabilities, symbol[..., None], -1)[..., 0] + 1e-30)
        sampled = sampled + weight * symbol
    return sampled, log_probability


def decode_batch(
    model: Any, labels: np.ndarray | None, count: int, settings: SamplingSettings, rng: np.random.Generator
) -> np.ndarray:
    """``count`` token sequences ``(count, T)`` by the ``settings.steps`` steps of the module doc."""
    length, steps = model.sequence_length, settings.steps
    null = np.full(count, model.null_class, "int32")
    tokens = np.full((count, length), model.mask_token, "int32")
    rows = np.arange(count)[:, None]
    for step in range(1, steps + 1):
        masked = tokens == model.mask_token
        if settings.guidance:  # the conditional and the null-class logits in one pass
            both = model.token_logits(np.concatenate([tokens, tokens]), np.concatenate([labels, null]))
            logits = both[:count] + settings.guidance * (both[:count] - both[count:])
        else:
            logits = model.token_logits(tokens, null if labels is None else labels)
        sampled, log_probability = sample_tokens(model, logits, settings.temperature, rng)
        sampled = np.where(masked, sampled, tokens)
        # How many stay masked after this step: T cos(pi s / 2S), and always one fewer than now.
        keep = min(int(math.floor(length * math.cos(math.pi / 2 * step / steps))), length)
        keep = np.minimum(keep, masked.sum(axis=1) - 1)
        noise = (1 - step / steps) * settings.choice_temperature * rng.gumbel(size=(count, length))
        confidence = np.where(masked, log_probability + noise, np.inf)
        order = np.argsort(confidence, axis=1)
        remask = np.arange(length)[None, :] < keep[:, None]
        again = np.zeros_like(masked)
        again[rows, order] = remask
        tokens = np.where(again, model.mask_token, sampled).astype("int32")
    return tokens
