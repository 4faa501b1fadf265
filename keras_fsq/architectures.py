"""What ``build_fsqvae`` builds, by name: registries of architectures and quantizers, and their defaults.

An architecture is a function ``(config, code_dim) -> (encoder, decoder)`` and a quantizer a
function ``(config, levels, seed) -> layer``, each registered under its name with a decorator;
``config`` is the model's resolved settings (a preset's ``model`` entry with any argument in
its place). Adding one is one function and one line::

    @architecture("mine")
    def mine(config, code_dim):
        from keras_fsq.blocks import MyDecoder, MyEncoder

        return MyEncoder(code_dim, config["widths"]), MyDecoder(config["image_shape"][-1], config["widths"][::-1])

The names (``ARCHITECTURES``, ``QUANTIZERS``) are read without Keras: every builder imports its
layers when it runs, so the command line offers exactly the registered names and starts fast.
"""

import math
from collections.abc import Callable
from typing import Any

Config = dict[str, Any]
Architecture = Callable[[Config, int], tuple[Any, Any]]  # (config, code_dim) -> (encoder, decoder)
QuantizerBuilder = Callable[[Config, list[int], "int | None"], Any]  # (config, levels, seed) -> layer
ARCHITECTURES: dict[str, Architecture] = {}
QUANTIZERS: dict[str, QuantizerBuilder] = {}


def architecture(name: str) -> Callable[[Architecture], Architecture]:
    """Register ``function(config, code_dim) -> (encoder, decoder)`` as architecture ``name``."""

    def register(function: Architecture) -> Architecture:
        ARCHITECTURES[name] = function
        return function

    return register


def quantizer(name: str) -> Callable[[QuantizerBuilder], QuantizerBuilder]:
    """Register ``function(config, levels, seed) -> quantizer layer`` as quantizer ``name``."""

    def register(function: QuantizerBuilder) -> QuantizerBuilder:
        QUANTIZERS[name] = function
        return function

    return register


def build_parts(config: Config, seed: int | None = None) -> tuple[Any, Any, Any]:
    """``(encoder, quantizer, decoder)`` of the registered builders ``config`` names; ``ValueError`` for
    an unknown name, listing the registered ones."""
    from keras_fsq.levels import validate_levels

    for key, registry in (("quantizer", QUANTIZERS), ("architecture", ARCHITECTURES)):
        if config[key] not in registry:
            raise ValueError(f"Unknown `{key}` {config[key]!r}; choose one of {tuple(registry)}.")
    levels = validate_levels(config["levels"])
    quantizer_layer = QUANTIZERS[config["quantizer"]](config, levels, seed)
    encoder, decoder = ARCHITECTURES[config["architecture"]](config, quantizer_layer.code_dim)
    return encoder, quantizer_layer, decoder


@quantizer("fsq")
def fsq(config: Config, levels: list[int], seed: int | None) -> Any:
    """``FSQ(levels)`` with ``num_codebooks`` codebooks, level usage tracked (the codec's default prior reads it)."""
    from keras_fsq.quantizers import FSQ

    return FSQ(
        levels,
        num_codebooks=config["num_codebooks"],
        loss_weight=config["quantizer_loss_weight"],
        track_usage=True,
        name="quantizer",
    )


@quantizer("vq")
def vq(config: Config, levels: list[int], seed: int | None) -> Any:
    """The VQ-VAE baseline: ``codebook_size`` codes (default ``prod(levels)``) of dimension ``len(levels)``."""
    from keras_fsq.quantizers import VectorQuantizer

    return VectorQuantizer(config["codebook_size"] or math.prod(levels), len(levels), seed=seed, name="quantizer")


@architecture("global")
def global_(config: Config, code_dim: int) -> tuple[Any, Any]:
    """The seed paper's 32x32 model: ``latent_dim // code_dim`` codes for the whole image."""
    from keras_fsq.blocks import Decoder, Encoder

    widths, momentum = list(config["widths"]), config["norm_momentum"]
    encoder = Encoder(max(1, config["latent_dim"] // code_dim), code_dim, widths, momentum, name="encoder")
    return encoder, Decoder(tuple(config["image_shape"]), widths[::-1], momentum, name="decoder")


@architecture("conv")
def conv(config: Config, code_dim: int) -> tuple[Any, Any]:
    """Strided convolutions: one code vector per ``2^len(widths)`` pixels square, any image size."""
    from keras_fsq.blocks import ConvDecoder, ConvEncoder

    widths, momentum = list(config["widths"]), config["norm_momentum"]
    encoder = ConvEncoder(code_dim, widths, momentum, name="encoder")
    return encoder, ConvDecoder(config["image_shape"][-1], widths[::-1], momentum, name="decoder")


@architecture("residual")
def residual(config: Config, code_dim: int) -> tuple[Any, Any]:
    """Residual stages (``depth`` blocks each, optional attention at the lowest resolution)."""
    from keras_fsq.blocks import ResidualDecoder, ResidualEncoder

    widths = list(config["widths"])
    blocks = {key: config[key] for key in ("depth", "attention", "normalization", "norm_momentum")}
    encoder = ResidualEncoder(code_dim, widths, name="encoder", **blocks)
    return encoder, ResidualDecoder(config["image_shape"][-1], widths[::-1], name="decoder", **blocks)


@architecture("gdn")
def gdn(config: Config, code_dim: int) -> tuple[Any, Any]:
    """GDN transforms, the first learned photo codecs'."""
    from keras_fsq.blocks import GDNDecoder, GDNEncoder

    widths = list(config["widths"])
    return GDNEncoder(code_dim, widths, name="encoder"), GDNDecoder(
        config["image_shape"][-1], widths[::-1], name="decoder"
    )


@architecture("block_dct")
def block_dct(config: Config, code_dim: int) -> tuple[Any, Any]:
    """YCbCr 4:2:0 and an 8x8 DCT with learned residuals (``keras_fsq.block_transform``): ``widths`` is
    [residual width, pixel filter width], ``dct_quality`` the JPEG quality of its initial gains."""
    from keras_fsq.block_transform import BlockDCTDecoder, BlockDCTEncoder

    levels, quality, widths = list(config["levels"]), config["dct_quality"], list(config["widths"])
    encoder = BlockDCTEncoder(levels, quality, width=widths[0], name="encoder")
    return encoder, BlockDCTDecoder(levels, quality, width=widths[0], filter_width=widths[-1], name="decoder")


# What an argument means when neither it nor the preset sets it.
DEFAULTS = {
    "quantizer": "fsq",
    "dct_quality": 50,
    "codebook_size": None,
    "latent_dim": 64,
    "depth": 1,
    "attention": False,
    "normalization": "batch",
    "quantizer_loss_weight": 0.0,
    "norm_momentum": 0.99,
    "num_codebooks": 1,
    "prior": None,
    "rate_weight": 0.0,
    "adversarial_weight": 0.0,
    "adversarial_start": 0,
    "discriminator_widths": [32, 64, 128],
}
