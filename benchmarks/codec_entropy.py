"""What the codec's entropy coding saves: BSD68 file sizes of the same symbols under each prior and adaptation.

    python benchmarks/codec_entropy.py --data-dir ../shared/data --out experiments/results/codecs/entropy.md

Codes every BSD68 photo's symbols (as ``keras-fsq compress`` chooses them: the NumPy engine with
RDOQ) with each block-DCT quality four ways: under the factorized prior the codec trained with
(``EntropyModel.from_prior``), and under the shipped band table (``EntropyModel.for_model``) as it is
(``"none"``, format 3), with each image choosing its powers of the table (``"powers"``, format 4) and
adapted online to what the image has shown so far (``"online"``, format 5, what files are written
with). Prints mean payload bits per pixel, the ratio of each to the first, the smallest per-photo
ratio of the shipped coding and the coder's encode and decode seconds per photo for it.
"""

import argparse
import pathlib
import time

import numpy as np

from keras_fsq import FSQVAE, codec, data
from keras_fsq.compression.dct_engine import DCTEngine
from keras_fsq.compression.rdoq import rdo_symbols
from keras_fsq.presets import DCT_QUALITIES, codec_preset

CODINGS = (("factorized", "none"), ("table", "none"), ("table", "powers"), ("table", "online"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", help="folder holding bsd68/ (default: $KERAS_FSQ_DATA)")
    parser.add_argument("--out", type=pathlib.Path, help="also write the table here (Markdown)")
    args = parser.parse_args()
    photos = [data.read_image(path) for path in data.image_paths(data.resolve_data_dir(args.data_dir) / "bsd68")]
    lines = [
        "| quality | factorized | table | table, powers (format 4) | table, online (format 5, shipped) "
        "| smallest ratio | encode s | decode s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for quality in DCT_QUALITIES:
        name = codec_preset(quality)
        engine = DCTEngine(name)
        priors = {"factorized": codec.EntropyModel.from_prior(FSQVAE.from_preset(name)), "table": None}
        priors["table"] = codec.EntropyModel.for_model(engine)
        bits = np.zeros((len(photos), len(CODINGS)))
        encode_s = decode_s = 0.0
        for n, photo in enumerate(photos):
            positions = engine.positions(codec.pad_images(engine, photo[None]))
            grid = rdo_symbols(positions, priors["table"], engine.step_errors(), engine.rdo_lambda)
            for k, (prior, adaptation) in enumerate(CODINGS):
                started = time.perf_counter()
                words = codec.encode_symbols(grid, priors[prior], 1, adaptation)
                middle = time.perf_counter()
                if k == len(CODINGS) - 1:  # the shipped coding: time it both ways
                    list(codec.decode_symbol_chunks(words, grid.shape, priors[prior], 1, adaptation))
                    encode_s, decode_s = encode_s + middle - started, decode_s + time.perf_counter() - middle
                bits[n, k] = 32 * len(words) / (photo.shape[0] * photo.shape[1])
        mean = bits.mean(axis=0)
        cells = " | ".join(f"{m:.4f}" + ("" if k == 0 else f" ({m / mean[0]:.3f})") for k, m in enumerate(mean))
        lines.append(
            f"| {quality} | {cells} | {(bits[:, -1] / bits[:, 0]).min():.3f} "
            f"| {encode_s / len(photos):.3f} | {decode_s / len(photos):.3f} |"
        )
        print(lines[-1], flush=True)
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        args.out.write_text(f"BSD68, {len(photos)} photos, payload bits per pixel (ratio to the first).\n\n" + table)


if __name__ == "__main__":
    main()
