"""keras_fsq: finite scalar quantization autoencoders for Keras 3."""

from keras_fsq.blocks import ConvDecoder, ConvEncoder, Decoder, Encoder
from keras_fsq.callbacks import TemperatureAnnealing
from keras_fsq.metrics import CodebookPerplexity, CodebookUsage
from keras_fsq.models import FSQVAE, build_fsqvae
from keras_fsq.quantizers import (
    FSQ,
    AdaptiveFSQ,
    HierarchicalFSQ,
    Quantizer,
    VectorQuantizer,
    straight_through_round,
)

__version__ = "0.1.0"
