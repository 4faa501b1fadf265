"""FSQVAE training throughput, and the share of a training step spent in the quantizer.

    KERAS_BACKEND=jax python benchmarks/training_throughput.py [--steps 30]

Images/second of ``train_on_batch`` on 32x32x3 images, batch 64, for the paper's global
architecture (16 latent vectors per image) and the fully convolutional one (8x8 = 64),
each with FSQ [8,5,5,5] and with a pass-through quantizer (codes = latents) measured side
by side. The quantizer's share of a step is ``(t_FSQ - t_pass) / t_FSQ`` (target < 5%).
Prints which device Keras computes on.
"""

import argparse
import statistics
import time

import keras
import numpy as np
from keras import ops

from keras_fsq import FSQ, FSQVAE, ConvDecoder, ConvEncoder, Decoder, Encoder, Quantizer
from keras_fsq.tuning import accelerator


class PassThrough(Quantizer):
    """Codes = latents, index 0: an FSQVAE step without quantization."""

    def __init__(self, code_dim, **kwargs):
        super().__init__(**kwargs)
        self._code_dim = code_dim

    @property
    def code_dim(self):
        return self._code_dim

    @property
    def codebook_size(self):
        return 1000  # the same bits-per-image bookkeeping as FSQ [8,5,5,5]

    def quantize_latents(self, z, training=False):
        return z, ops.zeros(ops.shape(z)[:-1], dtype="int32")

    def indices_to_codes(self, indices):
        raise NotImplementedError


def build(architecture, quantizer):
    if architecture == "global":
        encoder, decoder = Encoder(16, 4), Decoder((32, 32, 3))
    else:
        encoder, decoder = ConvEncoder(4, [64, 128]), ConvDecoder(3, [128, 64])
    model = FSQVAE(encoder, quantizer, decoder)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model


def step_seconds(model, images, steps):
    for _ in range(3):  # compile and warm up
        model.train_on_batch(images)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        model.train_on_batch(images)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    images = np.random.default_rng(0).uniform(size=(64, 32, 32, 3)).astype("float32")
    print(f"backend {keras.backend.backend()} on {accelerator()}; median of {args.steps} steps, batch 64\n")
    print("| architecture | images/s, FSQ | images/s, pass-through | quantizer share of a step |")
    print("|---|---|---|---|")
    for architecture in ("global", "conv"):
        keras.utils.set_random_seed(0)
        fsq = step_seconds(build(architecture, FSQ([8, 5, 5, 5])), images, args.steps)
        passing = step_seconds(build(architecture, PassThrough(4)), images, args.steps)
        print(f"| {architecture} | {64 / fsq:.0f} | {64 / passing:.0f} | {100 * (fsq - passing) / fsq:.1f}% |")


if __name__ == "__main__":
    main()
