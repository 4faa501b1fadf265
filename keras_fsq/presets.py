"""Named FSQ-VAE configurations, kept as data the way keras-hub keeps presets.

``PRESETS[name]`` holds:

- ``description``: one line;
- ``model``: the arguments of ``build_fsqvae`` (architecture, levels, loss);
- ``recipe``: how it is trained (epochs, batch size, peak learning rate with
  linear warmup over ``warmup_fraction`` of the steps and cosine decay to 0,
  horizontal flips, temperature annealing or none);
- ``weights``: the file under ``keras_fsq/weights/`` with its trained weights,
  or ``None`` when none ship (build it and train it with the recipe).

``FSQVAE.from_preset(name)`` and ``build_fsqvae(preset=name)`` read them;
``keras-fsq train --preset NAME`` trains one with its recipe.
"""

import copy
import importlib.resources
import io
import math

from keras_fsq.quantizers.fsq import RECOMMENDED_LEVELS

DEFAULT_PRESET = "fsq_cifar10"

_MSE_RECIPE = {
    "epochs": 30, "batch_size": 64, "learning_rate": 2e-3, "warmup_fraction": 0.05, "schedule": "cosine",
    "flip": True, "anneal": None,
}

PRESETS = {
    "fsq_cifar10": {
        "description": "Conv FSQ-VAE for 32x32 images: an 8x8 grid of FSQ [8,5,5,5] codes (638 bits per image).",
        "model": {
            "architecture": "conv", "levels": [8, 5, 5, 5], "widths": [64, 128],
            "image_shape": [32, 32, 3], "reconstruction_loss": "mse",
        },
        "recipe": dict(_MSE_RECIPE),
        "weights": "fsq_cifar10.npz",
    },
    "fsq_cifar10_paper": {
        "description": "The seed paper's global model: 16 FSQ [8,5,5,5] codes per 32x32 image, BCE, its quantization "
        "loss, temperature annealed 1.0 -> 0.1.",
        "model": {
            "architecture": "global", "levels": [8, 5, 5, 5], "widths": [32, 64, 128, 256], "latent_dim": 64,
            "image_shape": [32, 32, 3], "reconstruction_loss": "binary_crossentropy", "quantizer_loss_weight": 1.0,
        },
        "recipe": {
            "epochs": 50, "batch_size": 64, "learning_rate": 1e-3, "warmup_fraction": 0.0, "schedule": "constant",
            "flip": False, "anneal": {"start": 1.0, "end": 0.1, "schedule": "exponential"},
        },
        "weights": None,
    },
}

# Conv models at the FSQ paper's codebook sizes, one code per 4x4 or 8x8 pixels.
for _grid, _widths in ((8, [64, 128]), (4, [64, 128, 128])):
    for _bits, _levels in RECOMMENDED_LEVELS.items():
        PRESETS[f"fsq_conv{_grid}x{_grid}_{_bits}bit"] = {
            "description": f"Conv FSQ-VAE for 32x32 images: a {_grid}x{_grid} grid of FSQ {_levels} codes "
            f"({_grid * _grid * math.log2(math.prod(_levels)):.0f} bits per image).",
            "model": {
                "architecture": "conv", "levels": list(_levels), "widths": list(_widths),
                "image_shape": [32, 32, 3], "reconstruction_loss": "mse",
            },
            "recipe": dict(_MSE_RECIPE),
            "weights": None,
        }


# Learned image codecs for photos: stride-16 conv transforms, 24 FSQ codebooks of
# [15,15,15,15] (96 symbols per 16x16 pixels) under a checkerboard context prior,
# rate-distortion trained (MSE + rate_weight * bits per pixel) on random 128x128
# crops of the 229 photos in shared/data/photos. ``fsq_photo_base`` is trained from
# scratch (its weights are an intermediate, not shipped); every quality starts from
# it (``recipe["init"]``) and is fine-tuned with its own rate weight.
CODEC_RATE_WEIGHTS = {1: 0.04, 2: 0.016, 3: 0.006, 4: 0.0025, 5: 0.001, 6: 0.0003}
_CODEC_MODEL = {
    "architecture": "conv", "levels": [15, 15, 15, 15], "num_codebooks": 24, "widths": [64, 64, 96, 128],
    "image_shape": [128, 128, 3], "reconstruction_loss": "mse", "prior": "checkerboard",
}
_CODEC_RECIPE = {
    "data": "photos", "crop": 128, "batch_size": 8, "steps_per_epoch": 500, "schedule": "cosine", "flip": True, "anneal": None,
}
PRESETS["fsq_photo_base"] = {
    "description": "The photo codecs' common starting point: trained from scratch at rate weight 0.006 (no shipped weights).",
    "model": {**_CODEC_MODEL, "rate_weight": 0.006},
    "recipe": {**_CODEC_RECIPE, "epochs": 12, "learning_rate": 1e-3, "warmup_fraction": 0.02, "init": None},
    "weights": None,
}
for _quality, _rate_weight in CODEC_RATE_WEIGHTS.items():
    PRESETS[f"fsq_photo_q{_quality}"] = {
        "description": f"Image codec for photos, quality {_quality} of {len(CODEC_RATE_WEIGHTS)}: conv transforms, "
        f"stride 16, 24 x FSQ [15,15,15,15], checkerboard prior, rate weight {_rate_weight}.",
        "model": {**_CODEC_MODEL, "rate_weight": _rate_weight},
        "recipe": {**_CODEC_RECIPE, "epochs": 4, "learning_rate": 3e-4, "warmup_fraction": 0.0, "init": "fsq_photo_base"},
        "weights": f"fsq_photo_q{_quality}.npz",
    }


def codec_preset(quality):
    """The preset name of codec quality ``quality`` (1: smallest files ... 6: best quality)."""
    if isinstance(quality, bool) or quality not in CODEC_RATE_WEIGHTS:
        raise ValueError(f"`quality` must be one of {sorted(CODEC_RATE_WEIGHTS)}; received {quality!r}.")
    return f"fsq_photo_q{quality}"


def preset_names():
    """The names of every preset."""
    return sorted(PRESETS)


def get_preset(name):
    """A copy of preset ``name``; ``ValueError`` listing the names for an unknown one."""
    if name not in PRESETS:
        raise ValueError(f"Unknown `preset` {name!r}; choose one of {preset_names()}.")
    return copy.deepcopy(PRESETS[name])


def _weights_file(name):
    return importlib.resources.files("keras_fsq") / "weights" / PRESETS[name]["weights"]


def load_preset_weights(model, name):
    """Load preset ``name``'s shipped weights into ``model`` (built from the same preset).

    ``ValueError`` when the preset ships no weights or they do not match the model.
    """
    preset = get_preset(name)
    if not preset["weights"]:
        raise ValueError(
            f"Preset {name!r} ships no trained weights; build it with `load_weights=False` "
            f"and train it (`keras-fsq train --preset {name}`)."
        )
    with _weights_file(name).open("rb") as file:
        read_weights(model, file)


def write_weights(model, file, dtype="float16"):
    """Save ``model``'s variables into an ``.npz`` keyed by variable path; float variables as ``dtype``.

    float16 halves the file; ``experiments/train_presets.py`` measures what it costs.
    """
    import numpy as np
    from keras import ops

    arrays = {}
    for variable in model.variables:
        value = ops.convert_to_numpy(variable)
        arrays[variable.path] = value.astype(dtype) if np.issubdtype(value.dtype, np.floating) else value
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    file.write(buffer.getvalue())


def read_weights(model, file):
    """Assign the arrays of an ``.npz`` from ``write_weights`` to ``model``'s variables, matched by path."""
    import numpy as np

    with np.load(file) as stored:
        stored_paths = set(stored.files)
        model_paths = {variable.path for variable in model.variables}
        if stored_paths != model_paths:
            missing, extra = sorted(model_paths - stored_paths), sorted(stored_paths - model_paths)
            raise ValueError(
                f"The weights do not match the model: missing {missing[:3]}{'...' if len(missing) > 3 else ''}, "
                f"unexpected {extra[:3]}{'...' if len(extra) > 3 else ''}."
            )
        for variable in model.variables:
            value = stored[variable.path]
            if tuple(value.shape) != tuple(variable.shape):
                raise ValueError(f"The weights of {variable.path} have shape {value.shape}; the model's {variable.shape}.")
            variable.assign(value.astype(variable.dtype))


def recipe_optimizer(recipe, steps):
    """Adam whose learning rate warms up linearly over ``warmup_fraction`` of ``steps``, then follows ``schedule``.

    ``cosine``: ``lr(t) = peak (1 + cos(pi t / decay_steps)) / 2`` after warmup; ``constant``: ``peak``.
    """
    import keras

    peak, warmup = recipe["learning_rate"], int(recipe["warmup_fraction"] * steps)
    if recipe["schedule"] == "constant":
        rate = peak if not warmup else keras.optimizers.schedules.PolynomialDecay(
            peak / warmup, warmup, end_learning_rate=peak, power=1.0)
        return keras.optimizers.Adam(rate)
    rate = keras.optimizers.schedules.CosineDecay(
        0.0 if warmup else peak, max(steps - warmup, 1), alpha=0.0,
        warmup_target=peak if warmup else None, warmup_steps=warmup,
    )
    return keras.optimizers.Adam(rate)


def recipe_callbacks(recipe):
    """The callbacks a recipe trains with: its temperature annealing, if any."""
    from keras_fsq.callbacks import TemperatureAnnealing

    anneal = recipe.get("anneal")
    return [TemperatureAnnealing(anneal["start"], anneal["end"], schedule=anneal["schedule"])] if anneal else []


def fit_with_recipe(model, recipe, images, validation_images=None, seed=0, verbose="auto", callbacks=()):
    """Compile ``model`` with ``recipe``'s optimizer and ``fit`` it on ``images``; the History.

    Whole images (an array, float in [0, 1]): shuffled every epoch, flipped when
    the recipe says so, ``recipe["epochs"]`` epochs of ``recipe["batch_size"]``.
    A recipe with ``crop`` (the codecs') trains on ``steps_per_epoch`` batches of
    fresh random ``crop``-pixel crops of ``images`` (a list of any sizes) per epoch.
    ``validation_images`` are evaluated after each epoch; ``callbacks`` run beside the recipe's own.
    """
    from keras_fsq import data

    batch_size = recipe["batch_size"]
    if recipe.get("crop"):
        steps_per_epoch = recipe["steps_per_epoch"]
        dataset = data.random_crop_batches(images, recipe["crop"], batch_size, steps_per_epoch, seed, recipe["flip"])
    else:
        steps_per_epoch = -(-len(images) // batch_size)
        dataset = data.make_dataset(images, batch_size, shuffle=True, seed=seed, flip=recipe["flip"])
    model.compile(optimizer=recipe_optimizer(recipe, recipe["epochs"] * steps_per_epoch))
    validation = None if validation_images is None else data.make_dataset(validation_images, 256)
    return model.fit(dataset, validation_data=validation, epochs=recipe["epochs"], shuffle=False,  # the dataset shuffles
                     callbacks=recipe_callbacks(recipe) + list(callbacks), verbose=verbose)
