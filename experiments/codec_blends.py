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
import pathlib

from keras_fsq import data, presets
from keras_fsq.codec_comparison import codec_code, psnr_at, rate_point
from keras_fsq.compression.dct_engine import DCTEngine


def photo_paths(data_dir, split):
    root = pathlib.Path(data_dir)
    return (
        data.image_paths(root / "bsd68")
        if split == "bsd68"
        else data.image_paths(root / "photos", recursive=True)[::10]
    )


def coded(photos, quality):
    """``rate_point`` of ``photos`` coded as files at ``quality`` with the NumPy engine."""
    return rate_point(photos, codec_code(DCTEngine(presets.codec_preset(quality))))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--split", choices=["train", "bsd68"], default="bsd68")
    parser.add_argument("--qualities", default="1.5,2.5,3.5,4.5,5.5")
    parser.add_argument("--out", type=pathlib.Path, help="a .md file for the table")
    args = parser.parse_args()
    photos = [(data.read_image(p) * 255).round().astype("uint8") for p in photo_paths(args.data_dir, args.split)]
    points = {q: coded(photos, q) for q in presets.DCT_QUALITIES}
    lines = [
        f"{len(photos)} photos of {args.split}",
        "",
        "| quality | bits / pixel | PSNR (dB) | the integer qualities' curve at that rate |",
        "|---|---|---|---|",
    ]
    for quality in sorted([*points, *(float(q) for q in args.qualities.split(","))]):
        point = points[quality] if quality in points else coded(photos, quality)
        bits, psnr = point["bits_per_pixel"], point["psnr"]
        if quality in points:
            lines.append(f"| {quality} | {bits:.4f} | {psnr:.3f} | |")
        else:
            line = psnr_at(list(points.values()), bits)  # linear in log rate between the neighbours
            lines.append(f"| {quality} | {bits:.4f} | {psnr:.3f} | {line:.3f} ({psnr - line:+.3f}) |")
        print(lines[-1], flush=True)
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
