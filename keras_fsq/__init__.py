"""keras_fsq: finite scalar quantization autoencoders for Keras 3.

Importing ``keras_fsq`` imports no Keras (PEP 562 lazy names), so a program
may still choose the backend (``KERAS_BACKEND``) afterwards. The first public
name used imports Keras and registers every serializable class, so
``keras.saving.load_model`` then reads keras_fsq models; if Keras was already
imported, that happens at once.
"""

import importlib
import sys

__version__ = "0.4.0"

_PUBLIC = {
    "BlockDCTDecoder": "keras_fsq.block_transform",
    "BlockDCTEncoder": "keras_fsq.block_transform",
    "ConvDecoder": "keras_fsq.blocks",
    "ConvEncoder": "keras_fsq.blocks",
    "Decoder": "keras_fsq.blocks",
    "Encoder": "keras_fsq.blocks",
    "GDN": "keras_fsq.blocks",
    "GDNDecoder": "keras_fsq.blocks",
    "GDNEncoder": "keras_fsq.blocks",
    "ResidualBlock": "keras_fsq.blocks",
    "ResidualDecoder": "keras_fsq.blocks",
    "ResidualEncoder": "keras_fsq.blocks",
    "SpatialSelfAttention": "keras_fsq.blocks",
    "TemperatureAnnealing": "keras_fsq.callbacks",
    "CodebookPerplexity": "keras_fsq.metrics",
    "CodebookUsage": "keras_fsq.metrics",
    "FSQVAE": "keras_fsq.models",
    "build_fsqvae": "keras_fsq.models",
    "load_model": "keras_fsq.saving",
    "CategoricalPrior": "keras_fsq.priors.learned",
    "FSQ": "keras_fsq.quantizers",
    "AdaptiveFSQ": "keras_fsq.quantizers",
    "HierarchicalFSQ": "keras_fsq.quantizers",
    "LFQ": "keras_fsq.quantizers",
    "BSQ": "keras_fsq.quantizers",
    "levels_for_codebook_size": "keras_fsq.levels",
    "MaskGIT": "keras_fsq.maskgit",
    "PatchDiscriminator": "keras_fsq.adversarial",
    "Quantizer": "keras_fsq.quantizers",
    "VectorQuantizer": "keras_fsq.quantizers",
    "straight_through_round": "keras_fsq.quantizers",
}
__all__ = sorted(_PUBLIC)


def register_serializables():
    """Import every module that registers a Keras-serializable class (needs Keras)."""
    from keras_fsq import _backend

    _backend.require_backend()
    for module in sorted(set(_PUBLIC.values())):
        importlib.import_module(module)


def __getattr__(name):
    """Resolve a public name on first use, then keep it as a module attribute (no second lookup)."""
    if name not in _PUBLIC:
        raise AttributeError(f"module 'keras_fsq' has no attribute {name!r}")
    register_serializables()
    value = globals()[name] = getattr(importlib.import_module(_PUBLIC[name]), name)
    return value


def __dir__():
    return sorted(list(globals()) + __all__)


if "keras" in sys.modules:  # the backend is fixed already: register the classes now
    register_serializables()
