"""MaskGIT: a generative prior over a tokenizer's token grid (Chang et al., 2022).

A bidirectional transformer reads a grid of ``T`` tokens, some replaced by a ``[MASK]``
token, plus a class token, and predicts every masked token. Three parts: the network
(``network``: the model, its masking and loss), the sampler (``sampler``: iterative
parallel decoding) and the sampling settings (``settings``: ``SamplingSettings``, the
one place their defaults live).
"""

from keras_fsq.maskgit.network import MaskGIT, TransformerBlock
from keras_fsq.maskgit.settings import SamplingSettings

__all__ = ["MaskGIT", "SamplingSettings", "TransformerBlock"]
