"""Quantizer layers: FSQ and its extensions, LFQ and BSQ, and the VQ-VAE baseline."""

from keras_fsq.quantizers.adaptive import AdaptiveFSQ
from keras_fsq.quantizers.base import Quantizer, straight_through_round
from keras_fsq.quantizers.fsq import FSQ
from keras_fsq.quantizers.hierarchical import HierarchicalFSQ
from keras_fsq.quantizers.lfq import BSQ, LFQ
from keras_fsq.quantizers.vq import VectorQuantizer

__all__ = [
    "AdaptiveFSQ",
    "BSQ",
    "FSQ",
    "HierarchicalFSQ",
    "LFQ",
    "Quantizer",
    "VectorQuantizer",
    "straight_through_round",
]
