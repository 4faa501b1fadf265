"""Files from an FSQVAE: FSQ indices range-coded under a prior learned from code statistics.

    data = compress(model, images)            # bytes
    images = decompress(model, data)          # float32 (N, H, W, C) in [0, 1]
    prior = EntropyModel.fit(model, training_images, context="left")   # optional, better rate
    data = compress(model, images, prior)

Each FSQ dimension ``i`` of each latent vector (of every codebook) is one
symbol, its level index in ``[0, L_i)``, coded with constriction's range coder
under ``P_i(level | context)``. The prior, by default:

* a shipped codec (``keras-fsq compress --quality``): the ``"neighbours"`` table
  counted on its training photos (``EntropyModel.shipped``): each symbol given its
  left and upper neighbours, coded along anti-diagonals, the DC coefficients as
  residuals of a median prediction (``keras_fsq.compression.neighbours``);
* the model's learned ``CategoricalPrior`` (``keras_fsq.priors.learned``; rate-distortion
  trained models): ``context="none"`` (factorized) or ``"checkerboard"``
  (anchors first, then every other position given its decoded neighbours);
* else the FSQ layer's EMA level usage (factorized).

``EntropyModel.fit`` counts levels on images instead, factorized, with
``context="left"`` (the same dimension's level in the latent to the left) or
``context="neighbours"``.
Probabilities come from integer counts (``counts + 1``; a learned prior's
probabilities are floored to counts out of ``2^16`` once, in NumPy), so every
backend codes with the same numbers, mixed with a uniform floor of weight
``2^-8``: no symbol is ever more likely than ``1 - 2^-9``, so each costs at
least ``MIN_SYMBOL_BITS`` (0.0028) bits.

Online adaptation (format version 5, ``keras_fsq.compression.online``): a prior
learned on many photos is too flat for a smooth one and too sharp for a busy one,
and differs region by region, so each symbol is coded under
``(W P_i(s | c) + n_i(c, s)) / (W + t_i(c))``, the table mixed with the counts of
what the same images have shown so far in that context (``W = 64``), then a floor of
``2^-12`` (``ONLINE_MIN_SYMBOL_BITS``: at most 5,678 symbols per payload bit). The
encoder and the decoder update the counts after every ``ONLINE_SLICE`` symbols. On
BSD68 the shipped codecs' files are 1.4-4.8% smaller than under version 4's
per-image powers (each image's dimension coded under ``P_i^t / Z``, ``t = k / 4``,
its choices written first; ``EntropyModel.power_rows``). Files of versions 3
(the table as it is) and 4 still decode.

Container (little-endian)::

    b"KFSQ" | version u8 (5; 3 and 4 still read) | model fingerprint 8 B | prior fingerprint 8 B
    | images u16 | height u16 | width u16 | channels u8 | dims u8 | levels u8 x dims
    | model name length u8 | model name (UTF-8; a shipped preset's name, or empty)
    | CRC-32 of the symbols u32 | payload length u32 | payload (u32 words) | CRC-32 of all before u32

Memory bound: a file holds at most ``MAX_PIXELS`` (2^25) pixels in all and
``MAX_SYMBOLS`` (2^26) symbols, and its header may only claim as many symbols
as its payload can carry (``8 * payload bytes + 64`` bits at
``ONLINE_MIN_SYMBOL_BITS`` each for version 5, at most ~5,678 symbols per payload
bit; ``MIN_SYMBOL_BITS``, ~355, for versions 3 and 4); a header
claiming more is refused before any decoding. Every symbol is then decoded
(in chunks of at most ``CHUNK_SYMBOLS`` symbols, 64 MiB of symbols at most)
and checked before the decoder network sees any of them, so a forged or
garbled file costs at most the decoding of its symbols and no image is
produced from it. A payload that decodes to other symbols than were coded
(garbled, too short, too long) fails the symbols' CRC or the check that it
is exactly the coding of the symbols it decodes to (they are coded again
while decoding): ``CodecError``.

This module is the codec's public API; its parts live in ``keras_fsq.compression``,
one job each, in pipeline order: ``symbols`` (a model's indices as symbols, through
the quantizer contract), ``priors`` (the learned prior a model trains with),
``tables`` (the coding tables, ``EntropyModel``), ``coder`` (range coding),
``container`` (the file's ``Header``) and ``images`` (the model glue: images to
files and back).
"""

from keras_fsq.compression.coder import (
    ADAPTATIONS,
    CHUNK_PIXELS,
    CHUNK_SYMBOLS,
    CODER_SLICE,
    SLACK_BITS,
    decode_symbol_chunks,
    encode_symbols,
    images_per_chunk,
)
from keras_fsq.compression.container import (
    FIXED_HEADER,
    MAGIC,
    MAX_PIXELS,
    MAX_SIDE,
    MAX_SYMBOLS,
    READABLE_VERSIONS,
    VERSION,
    CodecError,
    Header,
)
from keras_fsq.compression.images import (
    compress,
    decompress,
    encode_images,
    image_symbols,
    iter_decompress,
    iter_indices,
    pad_images,
    padded_size,
    read_indices,
)
from keras_fsq.compression.online import ONLINE_FLOOR, ONLINE_MIN_SYMBOL_BITS, PRIOR_WEIGHT
from keras_fsq.compression.symbols import (
    coded_quantizer,
    indices_of,
    model_fingerprint,
    symbol_grid,
    symbol_levels,
)
from keras_fsq.compression.tables import (
    ADAPTIVE_CHOICE_BITS,
    ADAPTIVE_POWERS,
    CONTEXTS,
    MIN_SYMBOL_BITS,
    PRIOR_TOTAL,
    UNIFORM_FLOOR,
    EntropyModel,
)

read_header = Header.unpack

__all__ = [
    "ADAPTATIONS",
    "ADAPTIVE_CHOICE_BITS",
    "ADAPTIVE_POWERS",
    "CHUNK_PIXELS",
    "CHUNK_SYMBOLS",
    "CODER_SLICE",
    "CONTEXTS",
    "FIXED_HEADER",
    "MAGIC",
    "MAX_PIXELS",
    "MAX_SIDE",
    "MAX_SYMBOLS",
    "MIN_SYMBOL_BITS",
    "ONLINE_FLOOR",
    "ONLINE_MIN_SYMBOL_BITS",
    "PRIOR_WEIGHT",
    "PRIOR_TOTAL",
    "READABLE_VERSIONS",
    "SLACK_BITS",
    "UNIFORM_FLOOR",
    "VERSION",
    "CodecError",
    "EntropyModel",
    "Header",
    "coded_quantizer",
    "compress",
    "decode_symbol_chunks",
    "decompress",
    "encode_images",
    "encode_symbols",
    "image_symbols",
    "images_per_chunk",
    "indices_of",
    "iter_decompress",
    "iter_indices",
    "model_fingerprint",
    "pad_images",
    "padded_size",
    "read_header",
    "read_indices",
    "symbol_grid",
    "symbol_levels",
]
