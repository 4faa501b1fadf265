"""The deblocking filter's thresholds per codec quality, chosen on the training photos; BSD68 reported apart.

    python experiments/codec_deblock.py --split train --out experiments/results/codecs/deblock_train.json
    python experiments/codec_deblock.py --split bsd68 --settings experiments/results/codecs/deblock_train.json

Decodes each photo once per shipped quality (the NumPy engine), then filters the decoded images
with every ``(alpha, beta, tc)`` of a grid (``keras_fsq.compression.deblock``) and prints, per
quality, the setting with the highest mean PSNR, its gain over no filter and the blockiness
(``benchmarks/codec_error_budget.blockiness``, against the originals'). With ``--settings`` it
measures the chosen settings instead of searching. Deterministic; no training.
"""

import argparse
import itertools
import json
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from benchmarks.codec_error_budget import blockiness  # noqa: E402
from keras_fsq import codec, data, presets  # noqa: E402
from keras_fsq.compression.dct_engine import DCTEngine  # noqa: E402
from keras_fsq.compression.deblock import deblock  # noqa: E402

ALPHAS = (0.05, 0.1, 0.15, 0.22, 0.3, 0.45)
BETAS = (0.02, 0.04, 0.07, 0.12, 0.2, 0.35)
TCS = (0.005, 0.01, 0.02, 0.03, 0.05)


def psnr(decoded, photo):
    mse = np.mean(((np.clip(decoded, 0, 1) * 255).round() - photo.astype("float64")) ** 2)
    return 10 * np.log10(255**2 / mse)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--split", choices=["train", "bsd68"], default="train")
    parser.add_argument("--photos", type=int, default=0)
    parser.add_argument("--settings", help="a .json from a --split train run: measure its choices")
    parser.add_argument("--out")
    args = parser.parse_args()
    root = pathlib.Path(args.data_dir)
    paths = data.image_paths(root / "bsd68") if args.split == "bsd68" else data.image_paths(root / "photos", True)[::10]
    paths = paths[: args.photos] if args.photos else paths
    photos = [(np.clip(data.read_image(p), 0, 1) * 255).round().astype("uint8") for p in paths]
    chosen = json.loads(pathlib.Path(args.settings).read_text())["chosen"] if args.settings else {}
    print(f"{len(photos)} photos of {args.split}")
    results = {"split": args.split, "photos": len(photos), "chosen": {}, "rows": {}}
    for quality in sorted(presets.DCT_QUALITIES):
        name = presets.codec_preset(quality)
        engine = DCTEngine(name)
        decoded = [codec.decompress(engine, codec.compress(engine, p.astype("float32") / 255))[0] for p in photos]
        plain = np.mean([psnr(d, p) for d, p in zip(decoded, photos)])
        grid = [tuple(chosen[name])] if chosen else list(itertools.product(ALPHAS, BETAS, TCS))
        scores = {s: np.mean([psnr(deblock(d, *s), p) for d, p in zip(decoded, photos)]) for s in grid}
        best = max(scores, key=scores.get)
        filtered = [deblock(d, *best) for d in decoded]
        original = np.mean([blockiness(p) for p in photos])
        row = {
            "setting": best,
            "psnr": float(scores[best]),
            "psnr_gain": float(scores[best] - plain),
            "blockiness_plain": float(np.mean([blockiness((d * 255).round()) for d in decoded]) / original),
            "blockiness_filtered": float(np.mean([blockiness((f * 255).round()) for f in filtered]) / original),
        }
        results["chosen"][name], results["rows"][name] = list(best), row
        print(
            f"{name}: alpha, beta, tc = {best}: {row['psnr']:.3f} dB ({row['psnr_gain']:+.3f}); blockiness / "
            f"original's {row['blockiness_plain']:.3f} -> {row['blockiness_filtered']:.3f}",
            flush=True,
        )
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
