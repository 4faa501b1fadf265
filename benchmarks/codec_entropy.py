"""What the codec's entropy coding saves: BSD68 file sizes of the same symbols under each prior.

    KERAS_BACKEND=torch python benchmarks/codec_entropy.py --data-dir ../shared/data \
        --out experiments/results/codecs/entropy.md

Codes every BSD68 photo's symbols with each block-DCT quality four ways: under
the factorized prior it trained with (``EntropyModel.from_prior``) and under the
shipped neighbours table (``EntropyModel.shipped``), each as it is
(``adaptive=False``) and with each image choosing its powers of the table
(``EntropyModel.choose_powers``). Prints mean payload bits per pixel, the
ratio of each to the first, the smallest per-photo ratio of the shipped coding
(neighbours, adapted) and the encoder's and decoder's seconds per photo for it.
"""

import argparse
import pathlib
import time

import numpy as np

from keras_fsq import FSQVAE, codec, data
from keras_fsq.presets import DCT_QUALITIES, codec_preset


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", help="folder holding bsd68/ (default: $KERAS_FSQ_DATA)")
    parser.add_argument("--out", type=pathlib.Path, help="also write the table here (Markdown)")
    args = parser.parse_args()
    photos = [data.read_image(path) for path in data.image_paths(data.resolve_data_dir(args.data_dir) / "bsd68")]
    lines = [
        "| quality | factorized | factorized, adapted | neighbours | neighbours, adapted (shipped) "
        "| smallest ratio | encode s | decode s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for quality in DCT_QUALITIES:
        model = FSQVAE.from_preset(codec_preset(quality))
        priors = [codec.EntropyModel.from_prior(model), codec.EntropyModel.shipped(model.preset)]
        bits = np.zeros((len(photos), 4))
        encode_s = decode_s = 0.0
        for n, photo in enumerate(photos):
            grid, pixels = codec.image_symbols(model, photo[None]), photo.shape[0] * photo.shape[1]
            for k, (prior, adaptive) in enumerate([(p, a) for p in priors for a in (False, True)]):
                started = time.perf_counter()
                words = codec.encode_symbols(grid, prior, 1, adaptive=adaptive)
                middle = time.perf_counter()
                if k == 3:  # the shipped coding: time it both ways
                    list(codec.decode_symbol_chunks(words, grid.shape, prior, 1, adaptive=True))
                    encode_s, decode_s = encode_s + middle - started, decode_s + time.perf_counter() - middle
                bits[n, k] = 32 * len(words) / pixels
        mean = bits.mean(axis=0)
        cells = " | ".join(f"{m:.4f}" + ("" if k == 0 else f" ({m / mean[0]:.3f})") for k, m in enumerate(mean))
        lines.append(
            f"| {quality} | {cells} | {(bits[:, 3] / bits[:, 0]).min():.3f} "
            f"| {encode_s / len(photos):.3f} | {decode_s / len(photos):.3f} |"
        )
        print(lines[-1], flush=True)
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        args.out.write_text(f"BSD68, {len(photos)} photos, payload bits per pixel (ratio to the first).\n\n" + table)


if __name__ == "__main__":
    main()
