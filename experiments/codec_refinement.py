"""Encode-time refinement of a shipped codec's latents: what it gains on BSD68, and what it costs.

    KERAS_BACKEND=torch python experiments/codec_refinement.py --data-dir ../shared/data --quality 1 \
        --photos 8 --out experiments/results/codecs/refinement.md

With the decoder and the prior fixed, the encoder's grid values ``v`` (FSQ's
``h tanh(z)``, in level units) of one photo are moved by Adam (cosine-decayed
learning rate, ``--steps`` steps) to lower ``D + w lambda R~``: the MSE of the decoded
photo (rounding passed straight through) plus the rate weight ``lambda`` of the
quality (times ``w``) times the relaxed rate of the model's factorized prior in bits
per pixel, the loss the codec trained on. The refined latents are rounded and coded
as usual (the shipped neighbours table, per-image adaptation); bits per pixel from
the files, PSNR from the decoded photos, against the same photos coded without
refinement. PyTorch backend only (it steps a tensor with ``torch.optim.Adam``);
one thread.
"""

import argparse
import pathlib
import time

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--data-dir", help="the folder holding bsd68/ (default: $KERAS_FSQ_DATA)")
parser.add_argument("--quality", type=int, default=1)
parser.add_argument("--photos", type=int, default=8, help="the first N BSD68 photos")
parser.add_argument("--steps", type=int, default=30)
parser.add_argument("--settings", default="0.005:1,0.005:1.5,0.02:1.5", help="learning rate:rate weight factor, ...")
parser.add_argument("--out", type=pathlib.Path)
args = parser.parse_args()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from keras_fsq import FSQVAE, codec, data, presets  # noqa: E402
from keras_fsq.compression import images as codec_images  # noqa: E402

if keras.backend.backend() != "torch":
    raise SystemExit("experiments/codec_refinement.py runs on the PyTorch backend: KERAS_BACKEND=torch")
torch.set_num_threads(1)
model = FSQVAE.from_preset(presets.codec_preset(args.quality))
quantizer = model.quantizer
paths = data.image_paths(data.resolve_data_dir(args.data_dir) / "bsd68")[: args.photos]


def refined_indices(padded, height, width, learning_rate, weight):
    """The photo's indices after ``args.steps`` Adam steps on its grid values (see the module doc)."""
    target = torch.as_tensor(padded[None])
    latents = model.encoder(target, training=False).detach()
    values = quantizer._value(latents).detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([values], lr=learning_rate)

    def latents_of(v):  # v = h tanh(z + shift) + offset, inverted
        ratio = torch.clamp((v - quantizer._round_offset) / quantizer._half_l, -0.99999, 0.99999)
        return (torch.atanh(ratio) - quantizer._shift).reshape(latents.shape)

    for step in range(args.steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate * 0.5 * (1 + np.cos(np.pi * step / args.steps))
        z = latents_of(values)
        decoded = model.decoder(quantizer(z, training=False), training=False)
        distortion = ((decoded[:, :height, :width] - target[:, :height, :width]) ** 2).mean()
        positions = quantizer.symbol_positions(z).reshape(1, *latents.shape[1:3], -1)
        rate = model.prior(torch.round(positions).detach().int(), positions) / (padded.shape[0] * padded.shape[1])
        loss = distortion + weight * model.rate_weight * rate.mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return quantizer(latents_of(values), training=False, return_indices=True)[1].numpy()


def code(image, indices=None):
    """(bits, squared error sum) of ``image`` coded as usual, or with the given ``indices``."""
    if indices is None:
        data_bytes = codec.compress(model, image)
    else:  # the usual file, the encoder's indices replaced
        original = codec_images.encode_images
        codec_images.encode_images = lambda m, padded: indices
        try:
            data_bytes = codec.compress(model, image)
        finally:
            codec_images.encode_images = original
    decoded = codec.decompress(model, data_bytes)[0]
    return 8 * len(data_bytes), float(((decoded - image) ** 2).sum())


settings = [tuple(float(x) for x in pair.split(":")) for pair in args.settings.split(",")]
totals = np.zeros((1 + len(settings), 2))
seconds = np.zeros(len(settings))
pixels = 0
for path in paths:
    image = data.read_image(path)
    height, width = image.shape[:2]
    padded = codec.pad_images(model, image[None])[0]
    totals[0] += code(image)
    for k, (learning_rate, weight) in enumerate(settings):
        started = time.perf_counter()
        indices = refined_indices(padded, height, width, learning_rate, weight)
        seconds[k] += time.perf_counter() - started
        totals[1 + k] += code(image, indices)
    pixels += height * width * 3
lines = [
    f"BSD68, first {len(paths)} photos, --quality {args.quality}, {args.steps} Adam steps, one thread.",
    "",
    "| latents | bits / pixel | PSNR (dB) | refinement s per photo |",
    "|---|---|---|---|",
]
names = ["as encoded"] + [f"refined, learning rate {lr}, rate weight x {w}" for lr, w in settings]
for k, name in enumerate(names):
    bits, squared = totals[k]
    psnr_db = 10 * np.log10(pixels / squared)
    lines.append(
        f"| {name} | {3 * bits / pixels:.4f} | {psnr_db:.2f} | {seconds[k - 1] / len(paths) if k else 0:.1f} |"
    )
print("\n".join(lines))
if args.out:
    args.out.write_text("\n".join(lines) + "\n")
