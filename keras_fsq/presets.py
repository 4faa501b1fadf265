"""Named FSQ-VAE configurations, kept as data the way keras-hub keeps presets.

``PRESETS[name]`` holds:

- ``description``: one line;
- ``model``: the arguments of ``build_fsqvae`` (architecture, levels, loss);
- ``recipe``: how it is trained (epochs, batch size, peak learning rate with
  linear warmup over ``warmup_fraction`` of the steps and cosine decay to 0,
  horizontal flips, temperature annealing or none);
- ``weights``: the file under ``keras_fsq/weights/`` with its trained weights,
  or ``None`` when none ship (build it and train it with the recipe).

Every loader reads a preset through ``resolve(name)``: one look-up into a typed ``Preset``
record, its recipe checked against ``RECIPE_FIELDS``. ``FSQVAE.from_preset(name)`` and
``build_fsqvae(preset=name)`` build from it; ``keras-fsq train --preset NAME`` trains one
with its recipe.
"""

import copy
import dataclasses
import importlib.resources
import math
import pathlib
from typing import Any

from keras_fsq.levels import RECOMMENDED_LEVELS

DEFAULT_PRESET = "fsq_cifar10"

_MSE_RECIPE = {
    "epochs": 30,
    "batch_size": 64,
    "learning_rate": 2e-3,
    "warmup_fraction": 0.05,
    "schedule": "cosine",
    "flip": True,
    "anneal": None,
}

_CIFAR10_MODEL = {  # fsq_cifar10's: conv (64, 128), an 8x8 grid of FSQ [8,5,5,5], MSE
    "architecture": "conv",
    "levels": [8, 5, 5, 5],
    "widths": [64, 128],
    "image_shape": [32, 32, 3],
    "reconstruction_loss": "mse",
}

PRESETS = {
    "fsq_cifar10": {
        "description": "Conv FSQ-VAE for 32x32 images: an 8x8 grid of FSQ [8,5,5,5] codes (638 bits per image); "
        "weights trained on the 50,000 CIFAR-10 training images.",
        "model": dict(_CIFAR10_MODEL),
        "recipe": dict(_MSE_RECIPE),
        "weights": "fsq_cifar10.npz",
    },
    "fsq_cifar10_gan": {
        "description": "fsq_cifar10 fine-tuned with an adversarial loss (a patch discriminator, hinge): sharper "
        "reconstructions for a generative prior, at the same 638 bits per image.",
        "model": {**_CIFAR10_MODEL, "adversarial_weight": 0.1, "adversarial_start": 0},
        "recipe": {**_MSE_RECIPE, "epochs": 40, "learning_rate": 2e-4, "warmup_fraction": 0.0, "init": "fsq_cifar10"},
        # No weights ship: at the budgets measured here (experiments/gan_tokenizer_sweep.py) the adversarial
        # fine-tune did not lower rFID below fsq_cifar10's, so there is nothing better to ship yet.
        "weights": None,
    },
    "fsq_cifar10_paper": {
        "description": "The seed paper's global model: 16 FSQ [8,5,5,5] codes per 32x32 image, BCE, its quantization "
        "loss, temperature annealed 1.0 -> 0.1.",
        "model": {
            "architecture": "global",
            "levels": [8, 5, 5, 5],
            "widths": [32, 64, 128, 256],
            "latent_dim": 64,
            "image_shape": [32, 32, 3],
            "reconstruction_loss": "binary_crossentropy",
            "quantizer_loss_weight": 1.0,
        },
        "recipe": {
            "epochs": 50,
            "batch_size": 64,
            "learning_rate": 1e-3,
            "warmup_fraction": 0.0,
            "schedule": "constant",
            "flip": False,
            "anneal": {"start": 1.0, "end": 0.1, "schedule": "exponential"},
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
                "architecture": "conv",
                "levels": list(_levels),
                "widths": list(_widths),
                "image_shape": [32, 32, 3],
                "reconstruction_loss": "mse",
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
    "architecture": "conv",
    "levels": [15, 15, 15, 15],
    "num_codebooks": 24,
    "widths": [64, 64, 96, 128],
    "image_shape": [128, 128, 3],
    "reconstruction_loss": "mse",
    "prior": "checkerboard",
}
_CODEC_RECIPE = {
    "crop": 128,
    "batch_size": 8,
    "steps_per_epoch": 500,
    "schedule": "cosine",
    "flip": True,
    "anneal": None,
}
PRESETS["fsq_photo_base"] = {
    "description": "The photo codecs' common starting point: trained from scratch at rate weight 0.006 (no shipped "
    "weights).",
    "model": {**_CODEC_MODEL, "rate_weight": 0.006},
    "recipe": {**_CODEC_RECIPE, "epochs": 12, "learning_rate": 1e-3, "warmup_fraction": 0.02, "init": None},
    "weights": "fsq_photo_base.npz",
}
for _quality, _rate_weight in CODEC_RATE_WEIGHTS.items():
    PRESETS[f"fsq_photo_q{_quality}"] = {
        "description": f"Image codec for photos, quality {_quality} of {len(CODEC_RATE_WEIGHTS)}: conv transforms, "
        f"stride 16, 24 x FSQ [15,15,15,15], checkerboard prior, rate weight {_rate_weight}.",
        "model": {**_CODEC_MODEL, "rate_weight": _rate_weight},
        "recipe": {
            **_CODEC_RECIPE,
            "epochs": 4,
            "learning_rate": 3e-4,
            "warmup_fraction": 0.0,
            "init": "fsq_photo_base",
        },
        "weights": f"fsq_photo_q{_quality}.npz",
    }


# Block-transform codecs: YCbCr 4:2:0 and an 8x8 DCT as a stride-8 convolution, refined by
# learned residuals (keras_fsq.block_transform); 24 FSQ codebooks of [255, 31, 15, 7] carry
# the 96 coefficients of each 8x8 block under a factorized learned prior. Untrained they
# are a JPEG-like coder at quality ``dct_quality``; rate-distortion training improves on it.
_DCT_MODEL = {
    "architecture": "block_dct",
    "levels": [255, 31, 15, 7],
    "num_codebooks": 24,
    "widths": [128, 16],
    "image_shape": [128, 128, 3],
    "reconstruction_loss": "mse",
    "prior": "none",
    "dct_quality": 30,
}
PRESETS["fsq_dct_base"] = {
    "description": "Block-DCT photo codec (YCbCr 4:2:0, 8x8 DCT, learned residuals and gains), rate weight 0.004.",
    "model": {**_DCT_MODEL, "rate_weight": 0.004},
    "recipe": {**_CODEC_RECIPE, "epochs": 12, "learning_rate": 3e-4, "warmup_fraction": 0.02, "init": None},
    "weights": "fsq_dct_base.npz",
}
# Each quality starts from fsq_dct_base with its steps moved to JPEG quality ``dct_quality``'s
# tables (``block_transform.rescale_quality``) and is fine-tuned 1,500 steps at its rate weight.
DCT_QUALITIES = {1: (8, 0.012), 2: (15, 0.006), 3: (25, 0.0028), 4: (40, 0.0016), 5: (55, 0.001), 6: (75, 0.0005)}
# Decoder-side deblocking (alpha, beta, tc) per quality, chosen on the training photos by
# experiments/codec_deblock.py (experiments/results/codecs/deblock_train.json).
DCT_DEBLOCK = {
    1: (0.15, 0.12, 0.02),
    2: (0.15, 0.12, 0.02),
    3: (0.15, 0.12, 0.01),
    4: (0.15, 0.12, 0.01),
    5: (0.1, 0.12, 0.01),
    6: (0.15, 0.12, 0.005),
}
# Decoder-side learned post-filter (keras_fsq.compression.post_filter), one for the six qualities (its
# quality index q - 1), trained on their decoded training photos by experiments/codec_postfilter.py.
DCT_POST_FILTER = "fsq_dct_postfilter.npz"
# Encoder-side rate-distortion optimized quantization: lambda = this x 3 x the rate weight, chosen on
# the training photos by experiments/codec_rdoq.py (experiments/results/codecs/rdoq_train.json).
DCT_RDO_MULTIPLIER = 0.6
for _quality, (_dct_quality, _rate_weight) in DCT_QUALITIES.items():
    PRESETS[f"fsq_dct_q{_quality}"] = {
        "description": f"Image codec for photos, quality {_quality} of {len(DCT_QUALITIES)}: block DCT (YCbCr 4:2:0) "
        f"with learned residuals, 24 x FSQ [255,31,15,7], factorized prior, rate weight {_rate_weight}.",
        "model": {**_DCT_MODEL, "dct_quality": _dct_quality, "rate_weight": _rate_weight},
        "recipe": {**_CODEC_RECIPE, "epochs": 3, "learning_rate": 3e-4, "warmup_fraction": 0.0, "init": "fsq_dct_base"},
        "weights": f"fsq_dct_q{_quality}.npz",
        # the coding table (EntropyModel "neighbours_bands"), counted on the training photos by
        # fit_codec_priors.py; files coded under the earlier one ("neighbours") still decode
        "coding_prior": f"fsq_dct_q{_quality}.bands.json.gz",
        "earlier_coding_prior": f"fsq_dct_q{_quality}.prior.json.gz",
        "deblock": DCT_DEBLOCK[_quality],
        "post_filter": (DCT_POST_FILTER, _quality - 1),
        "rdo_multiplier": DCT_RDO_MULTIPLIER,
    }


def codec_preset(quality: float, family: str = "fsq_dct") -> str:
    """The preset name of codec ``quality`` (1: smallest files ... 6: best quality) of a ``family``.

    ``"fsq_dct"``: the block-DCT codecs that ``keras-fsq compress --quality`` uses; any quality in
    ``[1, 6]``, rounded to hundredths: one between two shipped ones (``"fsq_dct_q2.5"``) is their blend
    (``blended_codec``). ``"fsq_photo"``: the first, convolutional ones (still shipped: their files decode),
    integers only.
    """
    qualities: dict[str, Any] = {"fsq_dct": DCT_QUALITIES, "fsq_photo": CODEC_RATE_WEIGHTS}
    if family not in qualities:
        raise ValueError(f"`family` must be one of {sorted(qualities)}; received {family!r}.")
    if family == "fsq_dct" and isinstance(quality, (int, float)) and not isinstance(quality, bool):
        lowest, highest = min(DCT_QUALITIES), max(DCT_QUALITIES)
        if not lowest <= quality <= highest:  # NaN fails too
            raise ValueError(f"`quality` must be in [{lowest}, {highest}]; received {quality!r}.")
        rounded = round(float(quality), 2)
        return f"{family}_q{int(rounded)}" if rounded.is_integer() else f"{family}_q{rounded:g}"
    if isinstance(quality, bool) or quality not in qualities[family]:
        raise ValueError(f"`quality` must be one of {sorted(qualities[family])}; received {quality!r}.")
    return f"{family}_q{quality}"


def blended_codec(name: str) -> "Preset | None":
    """The record of a block-DCT quality between two shipped ones (``"fsq_dct_q2.5"``: quality 2 and 3, half
    way), or None when ``name`` names none.

    Quality ``q + f`` (``0 < f < 1``, hundredths) is quality ``q``'s codec with every weight
    ``(1 - f) w_q + f w_(q+1)`` (both fine-tuned from one base, so the blend stays a codec), its coding
    table's counts blended alike, the rate weight (and so the RDOQ lambda) ``r_q^(1-f) r_(q+1)^f``, the
    deblocking settings and the post-filter's quality embedding blended linearly (``blend``)."""
    prefix = "fsq_dct_q"
    try:
        quality = float(name[len(prefix) :]) if name.startswith(prefix) else math.nan
    except ValueError:
        return None
    lower = math.floor(quality) if math.isfinite(quality) else None
    if quality == lower or lower not in DCT_QUALITIES or lower + 1 not in DCT_QUALITIES:
        return None
    if codec_preset(quality) != name:  # one name per quality: "fsq_dct_q2.5", not "fsq_dct_q2.50"
        return None
    fraction = round(quality - lower, 2)
    low, high = _record(f"{prefix}{lower}", PRESETS, "`preset`"), _record(f"{prefix}{lower + 1}", PRESETS, "`preset`")
    mix = lambda a, b: (1 - fraction) * a + fraction * b  # noqa: E731
    rate_weight = low.model["rate_weight"] ** (1 - fraction) * high.model["rate_weight"] ** fraction
    return dataclasses.replace(
        low,
        name=name,
        description=f"Image codec for photos, quality {quality:g}: qualities {lower} and {lower + 1} blended.",
        model={**low.model, "rate_weight": rate_weight},
        earlier_coding_prior=None,
        deblock=tuple(mix(a, b) for a, b in zip(low.deblock or (), high.deblock or ())),
        post_filter=(
            (low.post_filter[0], mix(low.post_filter[1], high.post_filter[1]))
            if low.post_filter and high.post_filter
            else None
        ),
        blend=(high, fraction),
    )


RECIPE_FIELDS: dict[str, tuple[Any, bool]] = {  # the recipe's schema: field -> (types, required)
    "epochs": (int, True),
    "batch_size": (int, True),
    "learning_rate": (float, True),
    "warmup_fraction": (float, True),
    "schedule": (str, True),
    "flip": (bool, True),
    "anneal": ((dict, type(None)), False),  # temperature annealing (keras_fsq.callbacks), or None
    "init": ((str, type(None)), False),  # the preset whose weights training starts from
    "crop": (int, False),  # photos: random crops of this side
    "steps_per_epoch": (int, False),  # photos: batches per epoch
}


@dataclasses.dataclass(frozen=True)
class Preset:
    """A preset resolved once (``resolve``): what every loader reads.

    ``model``: ``build_fsqvae``'s arguments (a generator's: ``MaskGIT``'s); ``recipe``: how it
    trains (``RECIPE_FIELDS``); ``weights``: its file under ``keras_fsq/weights/`` or None;
    a shipped codec's ``coding_prior`` (and the ``earlier_coding_prior`` older files were coded
    under), ``deblock``, ``post_filter`` (its weight file and quality index) and ``rdo_multiplier``;
    a generator's ``tokenizer`` preset and ``sampling`` settings. ``folder``: set for a codec folder
    (``keras_fsq.codec_folders``: a shipped codec fine-tuned by ``keras-fsq train``), whose ``weights`` and
    ``coding_prior`` files are read from it instead of the package. ``blend``: ``(upper record, fraction)``
    of a quality between two shipped ones (``blended_codec``): its weights and table are blended with the
    upper quality's.
    """

    name: str
    description: str
    model: dict
    recipe: dict
    weights: str | None
    coding_prior: str | None = None
    earlier_coding_prior: str | None = None
    deblock: tuple | None = None
    post_filter: tuple | None = None
    rdo_multiplier: float = 0.0
    tokenizer: str | None = None
    sampling: dict | None = None
    folder: str | None = None
    blend: "tuple[Preset, float] | None" = None

    weights_path: Any = dataclasses.field(init=False, repr=False, compare=False)
    file_name: str = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Resolve once what loaders read: ``weights_path`` (``file(weights)``, None when none ships) and
        ``file_name``, the model name a ``.fsq`` file of this codec records: a shipped preset's name; empty
        for a codec folder, whose files decode only with ``--model FOLDER``."""
        object.__setattr__(self, "weights_path", self.file(self.weights) if self.weights else None)
        object.__setattr__(self, "file_name", "" if self.folder is not None else self.name)

    def file(self, name: str) -> Any:
        """A file the preset names: in its codec ``folder``, else shipped in ``keras_fsq/weights``
        (an ``importlib.resources`` path)."""
        if self.folder is not None:
            return pathlib.Path(self.folder) / name
        return importlib.resources.files("keras_fsq") / "weights" / name

    def weights_file(self) -> Any:
        """The weight file (``weights_path``); ``ValueError`` when none ships."""
        if self.weights_path is None:
            raise ValueError(
                f"Preset {self.name!r} ships no trained weights; build it with `load_weights=False` "
                f"and train it (`keras-fsq train --preset {self.name}`)."
            )
        return self.weights_path


def record_of(model: Any) -> Preset | None:
    """The shipped preset whose weights ``model`` holds (its ``preset`` name): the record it keeps
    (``preset_record``, set when it loaded them), else the name resolved; None when it holds its own."""
    record = getattr(model, "preset_record", None)
    if record is not None and record.file_name == (model.preset or ""):  # the name its files record
        return record
    return resolve(model.preset) if model.preset else None


def check_recipe(recipe: dict, name: str) -> None:
    """``ValueError`` naming the field when ``recipe`` breaks ``RECIPE_FIELDS`` (unknown, missing, mistyped)."""
    for field, value in recipe.items():
        if field not in RECIPE_FIELDS:
            raise ValueError(f"Preset {name!r}: unknown recipe field {field!r}; known: {sorted(RECIPE_FIELDS)}.")
        types, _ = RECIPE_FIELDS[field]
        if isinstance(value, bool) != (types is bool) or not isinstance(value, types):
            raise ValueError(f"Preset {name!r}: recipe field {field!r} is {value!r}, not {types}.")
    missing = [field for field, (_, required) in RECIPE_FIELDS.items() if required and field not in recipe]
    if missing:
        raise ValueError(f"Preset {name!r}: its recipe lacks {missing}.")


def resolve(name: str) -> Preset:
    """Preset ``name`` of ``PRESETS`` (or a block-DCT quality between two of them, ``blended_codec``) as a
    ``Preset`` (one look-up, copies of its data); ``ValueError`` listing the names for an unknown one."""
    blended = blended_codec(name) if isinstance(name, str) and name not in PRESETS else None
    return blended if blended is not None else _record(name, PRESETS, "`preset`")


def is_shipped(name: str) -> bool:
    """Whether ``name`` names a shipped preset (a block-DCT quality between two included)."""
    return name in PRESETS or blended_codec(name) is not None


def resolve_generator(name: str) -> Preset:
    """Generator preset ``name`` of ``GENERATORS`` as a ``Preset``; ``ValueError`` listing the names."""
    return _record(name, GENERATORS, "generator preset")


def _record(name: Any, table: dict, what: str) -> Preset:
    entry = _entry(name, table, what)
    check_recipe(entry["recipe"], name)
    return Preset(name=name, **entry)


def _entry(name: Any, table: dict, what: str) -> dict:
    """A copy of ``table[name]``; ``ValueError`` listing the names for an unknown one."""
    if not isinstance(name, str) or name not in table:
        raise ValueError(f"Unknown {what} {name!r}; choose one of {sorted(table)}.")
    return copy.deepcopy(table[name])


def preset_names() -> list[str]:
    """The names of every preset."""
    return sorted(PRESETS)


def get_preset(name: str) -> dict:
    """A copy of preset ``name``'s entry, as data (the loaders read ``resolve``'s record); ``ValueError`` listing
    the names for an unknown one."""
    return _entry(name, PRESETS, "`preset`")


# Generative priors over a tokenizer preset's tokens (keras_fsq.maskgit.MaskGIT.from_preset): the
# tokenizer's weights come from its own preset, the file holds the transformer's.
GENERATORS = {
    "maskgit_cifar10": {
        "description": "Class-conditional MaskGIT over fsq_cifar10's 8x8 tokens (1,000 codes): a 4-block, "
        "128-wide transformer.",
        "tokenizer": "fsq_cifar10",
        "model": {
            "num_classes": 10,
            "width": 128,
            "depth": 4,
            "heads": 4,
            "mlp_ratio": 4,
            "dropout": 0.1,
            "class_dropout": 0.1,
        },
        "recipe": {  # over the 48,915 JPEGs of shared-cifar10-jpeg50k and their mirrors (97,830 sequences)
            "epochs": 6,
            "batch_size": 64,
            "learning_rate": 1e-3,
            "warmup_fraction": 0.02,
            "schedule": "cosine",
            "flip": True,
        },
        # Chosen by experiments/sampling_sweep.py --reference training: the lowest FID against 1,085 lossless
        # training images (129.3, against 137.4 at the earlier guidance 1.5, temperature 0.9), so that the
        # held-out images the report scores choose nothing
        # (experiments/results/generation/sampling_maskgit_cifar10_training.md).
        "sampling": {"steps": 8, "temperature": 1.2, "guidance": 1.0, "choice_temperature": 3.0},
        "weights": "maskgit_cifar10.npz",
    },
}


def get_generator(name: str) -> dict:
    """A copy of generator preset ``name`` (``GENERATORS``); ``ValueError`` listing the names for an unknown one."""
    return _entry(name, GENERATORS, "generator preset")
