"""Qualities between the shipped ones by scaling a codec's steps: measured against the line between two qualities.

    python experiments/codec_step_scaling.py --data-dir ../shared/data --low 3 --high 4

Every 4th BSD68 photo (17), the NumPy engine as ``keras-fsq compress`` runs it. Quality ``low``'s
encoder gains and decoder steps are moved a fraction ``t`` of the way (per coefficient, in log
steps) toward quality ``high``'s, and ``high``'s toward ``low``'s; RDOQ's lambda follows the squared
step. Each point is compared with the straight line between the two shipped qualities in (log
rate, PSNR): what a user of ``--quality 3.5`` would expect. Deterministic; no training.
"""

import argparse
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from keras_fsq import codec, data, presets  # noqa: E402
from keras_fsq.compression.dct_engine import DCTEngine  # noqa: E402


def measure(engine, photos):
    """Mean bits per pixel (actual file sizes) and mean PSNR (8-bit) over ``photos``."""
    bits, psnrs = [], []
    for photo in photos:
        stream = codec.compress(engine, photo)
        decoded = codec.decompress(engine, stream)[0]
        bits.append(8 * len(stream) / (photo.shape[0] * photo.shape[1]))
        mse = np.mean((np.round(np.clip(decoded, 0, 1) * 255) - np.round(photo * 255)) ** 2)
        psnrs.append(10 * np.log10(255**2 / mse))
    return float(np.mean(bits)), float(np.mean(psnrs))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--low", type=int, default=3)
    parser.add_argument("--high", type=int, default=4)
    args = parser.parse_args()
    photos = [np.clip(data.read_image(p), 0, 1) for p in data.image_paths(pathlib.Path(args.data_dir) / "bsd68")[::4]]
    names = {q: presets.codec_preset(q) for q in (args.low, args.high)}
    points = {q: measure(DCTEngine(name), photos) for q, name in names.items()}
    (r0, d0), (r1, d1) = points[args.low], points[args.high]
    print("| codec | t | bits / pixel | PSNR (dB) | the line at that rate | difference |\n|---|---|---|---|---|---|")
    for q, (rate, psnr) in points.items():
        print(f"| quality {q} | 0 | {rate:.4f} | {psnr:.3f} | | |")
    low, high = DCTEngine(names[args.low]), DCTEngine(names[args.high])
    toward_high = high._weight("decoder", "log_step") - low._weight("decoder", "log_step")  # per coefficient
    for base, direction in ((args.low, toward_high), (args.high, -toward_high)):
        for t in (0.33, 0.67):
            engine = DCTEngine(names[base])
            shift = (t * direction).astype("float32")
            engine.weights["fsqvae/encoder/log_gain"] = engine.weights["fsqvae/encoder/log_gain"] - shift
            engine.weights["fsqvae/decoder/log_step"] = engine.weights["fsqvae/decoder/log_step"] + shift
            engine.rdo_lambda *= float(np.exp(2 * shift.mean()))
            rate, psnr = measure(engine, photos)
            line = d0 + (d1 - d0) * (np.log(rate) - np.log(r0)) / (np.log(r1) - np.log(r0))
            print(f"| quality {base}, steps moved | {t} | {rate:.4f} | {psnr:.3f} | {line:.3f} | {psnr - line:+.3f} |")


if __name__ == "__main__":
    main()
