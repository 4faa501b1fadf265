"""Qualities between the shipped ones (``--quality 2.5``: qualities 2 and 3 blended) against the curve of
the six shipped qualities.

    python experiments/codec_blends.py --data-dir ../shared/data --split bsd68 \
        --out experiments/results/codecs/blends_bsd68.md

Codes every photo of the split (``bsd68``: all 68; ``train``: every 10th training photo) with the
NumPy engine at the integer qualities and at ``--qualities`` (default 1.5, 2.5, ..., 5.5), as
``keras-fsq compress --quality Q`` does, and prints mean bits per pixel (actual file sizes), mean
PSNR (8-bit RGB) and, for each blend, the PSNR of the integer qualities' curve at the blend's
rate (linear in log rate between its neighbours): how far the blend falls from the line.
Deterministic; no training.
"""

import argparse
import math
import pathlib

import numpy as np

from keras_fsq import codec, data, presets
from keras_fsq.codec_comparison import psnr_8bit
from keras_fsq.compression.dct_engine import DCTEngine


def photo_paths(data_dir, split):
    root = pathlib.Path(data_dir)
    return (
        data.image_paths(root / "bsd68")
        if split == "bsd68"
        else data.image_paths(root / "photos", recursive=True)[::10]
    )


def rate_point(photos, quality):
    """Mean bits per pixel and PSNR of ``photos`` at ``quality`` (a file each, decoded back)."""
    engine = DCTEngine(presets.codec_preset(quality))
    bits, psnr = [], []
    for photo in photos:
        payload = codec.compress(engine, photo.astype("float32") / 255)
        decoded = np.clip(np.round(codec.decompress(engine, payload)[0] * 255), 0, 255).astype("uint8")
        bits.append(8 * len(payload) / (photo.shape[0] * photo.shape[1]))
        psnr.append(psnr_8bit(photo, decoded))
    return float(np.mean(bits)), float(np.mean(psnr))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--split", choices=["train", "bsd68"], default="bsd68")
    parser.add_argument("--qualities", default="1.5,2.5,3.5,4.5,5.5")
    parser.add_argument("--out", type=pathlib.Path, help="a .md file for the table")
    args = parser.parse_args()
    photos = [(data.read_image(p) * 255).round().astype("uint8") for p in photo_paths(args.data_dir, args.split)]
    points = {q: rate_point(photos, q) for q in presets.DCT_QUALITIES}
    lines = [
        f"{len(photos)} photos of {args.split}",
        "",
        "| quality | bits / pixel | PSNR (dB) | the integer qualities' curve at that rate |",
        "|---|---|---|---|",
    ]
    for quality in sorted([*points, *(float(q) for q in args.qualities.split(","))]):
        bits, psnr = points[quality] if quality in points else rate_point(photos, quality)
        if quality in points:
            lines.append(f"| {quality} | {bits:.4f} | {psnr:.3f} | |")
        else:
            (r0, p0), (r1, p1) = points[math.floor(quality)], points[math.floor(quality) + 1]
            line = p0 + (p1 - p0) * math.log(bits / r0) / math.log(r1 / r0)
            lines.append(f"| {quality} | {bits:.4f} | {psnr:.3f} | {line:.3f} ({psnr - line:+.3f}) |")
        print(lines[-1], flush=True)
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
