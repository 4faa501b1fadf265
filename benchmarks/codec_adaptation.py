"""What per-image prior adaptation (file format 4) saves: BSD68 file sizes with and without it.

    KERAS_BACKEND=torch python benchmarks/codec_adaptation.py --data-dir ../shared/data \
        --out experiments/results/codecs/adaptation.md

Codes every BSD68 photo's symbols with each block-DCT quality twice, under the
prior as it is (``adaptive=False``, format 3) and with each image choosing its
powers of the prior (``EntropyModel.choose_powers``), and prints mean bits per
pixel, the ratio, the smallest per-photo ratio and the encoder's extra time.
"""

import argparse
import pathlib
import time

import numpy as np

from keras_fsq import FSQVAE, codec, data
from keras_fsq.presets import DCT_QUALITIES, codec_preset


def symbols_of(model, image):
    height, width = image.shape[:2]
    padded_height, padded_width = codec.padded_size(model, height, width)
    padded = np.pad(image, ((0, padded_height - height), (0, padded_width - width), (0, 0)), mode="edge")
    return codec.symbol_grid(model, model.encode(padded[None]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", help="folder holding bsd68/ (default: $KERAS_FSQ_DATA)")
    parser.add_argument("--out", type=pathlib.Path, help="also write the table here (Markdown)")
    args = parser.parse_args()
    photos = [data.read_image(path) for path in data.image_paths(data.resolve_data_dir(args.data_dir) / "bsd68")]
    lines = [
        "| quality | bpp, prior as it is | bpp, adapted per image | ratio | smallest ratio | extra encode s |",
        "|---|---|---|---|---|---|",
    ]
    for quality in DCT_QUALITIES:
        model = FSQVAE.from_preset(codec_preset(quality))
        prior = codec.EntropyModel.for_model(model)
        plain, adapted, seconds = [], [], 0.0
        for photo in photos:
            grid, pixels = symbols_of(model, photo), photo.shape[0] * photo.shape[1]
            started = time.perf_counter()
            plain.append(32 * len(codec.encode_symbols(grid, prior, 1, adaptive=False)) / pixels)
            middle = time.perf_counter()
            adapted.append(32 * len(codec.encode_symbols(grid, prior, 1, adaptive=True)) / pixels)
            seconds += (time.perf_counter() - middle) - (middle - started)
        plain, adapted = np.array(plain), np.array(adapted)
        lines.append(
            f"| {quality} | {plain.mean():.4f} | {adapted.mean():.4f} | {adapted.mean() / plain.mean():.4f} "
            f"| {(adapted / plain).min():.3f} | {seconds / len(photos):.3f} |"
        )
        print(lines[-1], flush=True)
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        args.out.write_text(f"BSD68, {len(photos)} photos, actual payload sizes.\n\n" + table)


if __name__ == "__main__":
    main()
