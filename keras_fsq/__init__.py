"""keras_fsq: finite scalar quantization autoencoders for Keras 3."""

from keras_fsq.quantizers import FSQ, Quantizer, straight_through_round

__version__ = "0.1.0"
