"""Rate-distortion optimized quantization of the shipped block-DCT codecs, measured against plain rounding.

    python experiments/codec_rdoq.py --data-dir ../shared/data --split train --photos 24
    python experiments/codec_rdoq.py --data-dir ../shared/data --split bsd68 --multipliers 0,0.7 --deblock both

Codes photos with every shipped quality (the NumPy engine, the shipped coding tables), symbols
chosen by ``squared error + lambda * bits`` (``keras_fsq.compression.rdoq``) with
``lambda = m * 3 * rate_weight`` of the quality's training for each multiplier ``m`` (0: rounding),
and prints mean bits per pixel (actual file sizes), mean PSNR (8-bit RGB), the encode seconds
per photo and the BD-rate of each configuration against the first (``m = 0``, no deblocking)
over the six qualities. ``--deblock off|on|both``: decode without the deblocking filter, with
the preset's, or each multiplier both ways (the levers apart and together).
Choose ``m`` on ``--split train`` (the training photos, every 10th), report on ``--split bsd68``.
Deterministic; no training.
"""

import argparse
import json
import pathlib
import time

import numpy as np

from keras_fsq import codec, data, presets
from keras_fsq.comparisons import bd_rate
from keras_fsq.compression.dct_engine import DCTEngine


def photo_paths(data_dir, split, count):
    root = pathlib.Path(data_dir)
    if split == "bsd68":
        paths = data.image_paths(root / "bsd68")
    else:
        paths = data.image_paths(root / "photos", recursive=True)[::10]
    return paths[:count] if count else paths


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--split", choices=["train", "bsd68"], default="train")
    parser.add_argument("--photos", type=int, default=0, help="at most this many photos (0: all of the split)")
    parser.add_argument("--multipliers", default="0,0.5,1,1.5,2,3")
    parser.add_argument("--deblock", choices=["off", "on", "both"], default="off")
    parser.add_argument("--out", help="a .json file for the results")
    args = parser.parse_args()
    multipliers = [float(m) for m in args.multipliers.split(",")]
    filters = {"off": [False], "on": [True], "both": [False, True]}[args.deblock]
    configurations = [(m, f) for m in multipliers for f in filters]
    photos = [
        (np.clip(data.read_image(p), 0, 1) * 255).round().astype("uint8")
        for p in photo_paths(args.data_dir, args.split, args.photos)
    ]
    print(f"{len(photos)} photos of {args.split}")
    results = {c: [] for c in configurations}
    for quality in sorted(presets.DCT_QUALITIES):
        name = presets.codec_preset(quality)
        engine = DCTEngine(name)
        rate_weight = presets.get_preset(name)["model"]["rate_weight"]
        setting = engine.deblock
        for m, filtered in configurations:
            engine.deblock = setting if filtered else None
            rows = []
            for photo in photos:
                started = time.perf_counter()
                file_bytes = codec.compress(engine, photo.astype("float32") / 255, rdo_lambda=m * 3 * rate_weight)
                seconds = time.perf_counter() - started
                decoded = (codec.decompress(engine, file_bytes)[0] * 255).round()
                mse = np.mean((decoded - photo.astype("float64")) ** 2)
                rows.append(
                    (8 * len(file_bytes) / (photo.shape[0] * photo.shape[1]), 10 * np.log10(255**2 / mse), seconds)
                )
            bits, psnr, seconds = np.mean(rows, axis=0)
            results[m, filtered].append(
                {"quality": quality, "bits_per_pixel": bits, "psnr": psnr, "encode_seconds": seconds}
            )
            print(
                f"quality {quality} m {m} deblock {filtered}: {bits:.4f} bpp, {psnr:.3f} dB, encode {seconds:.2f} s",
                flush=True,
            )
    base = results[configurations[0]]
    print("\n| multiplier | deblocking | BD-rate against the first | encode s per photo |\n|---|---|---|---|")
    for m, filtered in configurations:
        change = bd_rate(
            [r["bits_per_pixel"] for r in base],
            [r["psnr"] for r in base],
            [r["bits_per_pixel"] for r in results[m, filtered]],
            [r["psnr"] for r in results[m, filtered]],
        )
        seconds = np.mean([r["encode_seconds"] for r in results[m, filtered]])
        print(f"| {m} | {'on' if filtered else 'off'} | {change:+.2f}% | {seconds:.2f} |")
    if args.out:
        pathlib.Path(args.out).write_text(
            json.dumps(
                {"split": args.split, "photos": len(photos), **{str(k): v for k, v in results.items()}}, indent=1
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
