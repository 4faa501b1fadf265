"""Where the shipped codecs' bits and errors go, on BSD68: the measurements that choose the next lever.

    python benchmarks/codec_error_budget.py --data-dir ../shared/data [--qualities 1,3,6] [--photos 68]

For each quality, over the photos (the NumPy engine, the shipped coding tables, actual files):

* **error by position within the 8x8 block**: mean squared error (8-bit units) at each of the
  64 pixel positions, and the ratio of the block's border ring to its interior (blocking puts
  error on the border);
* **blockiness**: ``B = E[d^2 across block edges] / E[d^2 inside blocks]`` of the horizontal and
  vertical steps ``d`` between neighbouring pixels, of the decoded photo against the original's
  (a blocky decode has ``B`` well above the original's; the target is within 10%);
* **error by colour channel** (Y, Cb, Cr) and **by band**: the error's energy in the 8x8 DCT of
  luma, grouped as DC, low (u + v <= 2), middle (<= 6) and high frequencies;
* **bits by band and by context**: ``-log2 P(s | context)`` of every symbol under the table
  (the rounded symbols, before RDOQ and the per-image powers), summed by the coefficient's band
  (luma DC/low/mid/high, chroma DC/AC) and by the context bucket it was coded in.

Prints one table per quality and writes ``error_budget.json``.
"""

import argparse
import json
import pathlib

import numpy as np
import scipy.fft

from keras_fsq import codec, data, presets
from keras_fsq.compression.dct_engine import DCTEngine
from keras_fsq.dct import CHROMA, RGB_TO_YCBCR, coefficient_order

BAND_EDGES = {"DC": (0, 0), "low": (1, 2), "middle": (3, 6), "high": (7, 14)}  # u + v of the 8x8 DCT


def blockiness(image):
    """``E[d^2 at block edges] / E[d^2 inside blocks]`` of horizontal and vertical pixel steps, averaged."""
    ratios = []
    for axis in (0, 1):
        steps = np.diff(image.astype("float64"), axis=axis) ** 2
        index = np.arange(steps.shape[axis]) % 8 == 7  # the step from pixel 8k+7 to 8k+8 crosses an edge
        edge = np.compress(index, steps, axis=axis).mean()
        inside = np.compress(~index, steps, axis=axis).mean()
        ratios.append(edge / inside)
    return float(np.mean(ratios))


def luma_band_energy(error):
    """Share of the luma error's energy in each ``BAND_EDGES`` group (8x8 DCT of whole blocks)."""
    luma = error @ RGB_TO_YCBCR[0]
    h, w = (luma.shape[0] // 8) * 8, (luma.shape[1] // 8) * 8
    blocks = luma[:h, :w].reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3)
    energy = (scipy.fft.dctn(blocks, axes=(2, 3), norm="ortho") ** 2).sum(axis=(0, 1))
    frequency = np.add.outer(np.arange(8), np.arange(8))
    return {name: float(energy[(frequency >= a) & (frequency <= b)].sum()) for name, (a, b) in BAND_EDGES.items()}


def coefficient_bands():
    """Band name of each of the 96 coefficients (luma by u + v, chroma DC/AC)."""
    frequency = np.add.outer(np.arange(8), np.arange(8)).ravel()
    names = [next(n for n, (a, b) in BAND_EDGES.items() if a <= f <= b) for f in frequency]
    chroma = ["chroma DC"] + ["chroma AC"] * (CHROMA - 1)
    return ["luma " + name for name in names] + chroma + chroma


def symbol_bits(prior, grid):
    """Bits of every coded symbol under the table ``(N, h, w, d)`` and the context each was coded in."""
    bits = np.zeros(grid.shape)
    contexts = np.zeros(grid.shape, dtype="int64")
    log_table = prior.bits
    dims = np.arange(grid.shape[-1])
    for mask in prior.passes(*grid.shape[1:3]):
        symbols, context = prior.coded_symbols(grid, mask)
        bits[:, mask] = log_table[dims, context, symbols]
        contexts[:, mask] = context
    return bits, contexts


def budget(name, photos):
    engine = DCTEngine(name)
    prior = codec.EntropyModel.for_model(engine)
    bands = np.asarray(coefficient_bands())[coefficient_order(engine.levels)]  # band of each FSQ dimension
    position_error, ring, inside, ratios, originals = np.zeros((8, 8)), [], [], [], []
    channel_error, band_energy, band_bits, context_bits, total_bits, pixels = np.zeros(3), {}, {}, {}, 0, 0
    for photo in photos:
        image = photo.astype("float32") / 255
        file_bytes = codec.compress(engine, image)
        decoded = (codec.decompress(engine, file_bytes)[0] * 255).round()
        error = decoded - photo.astype("float64")
        h, w = (photo.shape[0] // 8) * 8, (photo.shape[1] // 8) * 8
        squared = (error[:h, :w] ** 2).mean(axis=-1).reshape(h // 8, 8, w // 8, 8).mean(axis=(0, 2))
        position_error += squared / len(photos)
        border = np.ones((8, 8), bool)
        border[1:-1, 1:-1] = False
        ring.append(squared[border].mean())
        inside.append(squared[~border].mean())
        ratios.append(blockiness(decoded))
        originals.append(blockiness(photo))
        channel_error += ((error @ RGB_TO_YCBCR.T) ** 2).mean(axis=(0, 1)) / len(photos)
        for key, value in luma_band_energy(error).items():
            band_energy[key] = band_energy.get(key, 0.0) + value
        grid = engine.symbols(codec.pad_images(engine, image[None]))
        bits, contexts = symbol_bits(prior, grid)
        for band in set(bands):
            band_bits[str(band)] = band_bits.get(str(band), 0.0) + float(bits[..., bands == band].sum())
        for bucket in np.unique(contexts):
            context_bits[int(bucket)] = context_bits.get(int(bucket), 0.0) + float(bits[contexts == bucket].sum())
        total_bits += 8 * len(file_bytes)
        pixels += photo.shape[0] * photo.shape[1]
    energy = sum(band_energy.values())
    table_bits = sum(band_bits.values())
    return {
        "bits_per_pixel": total_bits / pixels,
        "mse_by_block_position": position_error.round(2).tolist(),
        "border_over_interior_mse": float(np.mean(ring) / np.mean(inside)),
        "blockiness": float(np.mean(ratios)),
        "blockiness_original": float(np.mean(originals)),
        "mse_y_cb_cr": channel_error.round(3).tolist(),
        "luma_error_energy_share": {k: v / energy for k, v in band_energy.items()},
        "bits_share_by_band": {k: v / table_bits for k, v in sorted(band_bits.items())},
        "bits_share_by_context": {k: v / table_bits for k, v in sorted(context_bits.items())},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--qualities", default="1,2,3,4,5,6")
    parser.add_argument("--photos", type=int, default=68)
    parser.add_argument("--out", default="runs/error_budget")
    args = parser.parse_args()
    paths = data.image_paths(pathlib.Path(args.data_dir) / "bsd68")[: args.photos]
    photos = [(np.clip(data.read_image(p), 0, 1) * 255).round().astype("uint8") for p in paths]
    results = {}
    for quality in (int(q) for q in args.qualities.split(",")):
        name = presets.codec_preset(quality)
        result = results[name] = budget(name, photos)
        print(f"\n## {name}: {result['bits_per_pixel']:.3f} bpp, {len(photos)} BSD68 photos\n")
        print(
            f"blockiness {result['blockiness']:.3f} (original {result['blockiness_original']:.3f}, "
            f"{100 * (result['blockiness'] / result['blockiness_original'] - 1):+.1f}%); block border / interior "
            f"MSE {result['border_over_interior_mse']:.3f}; MSE Y/Cb/Cr {result['mse_y_cb_cr']}"
        )
        print("luma error energy by band:", {k: f"{v:.1%}" for k, v in result["luma_error_energy_share"].items()})
        print("bits by band:", {k: f"{v:.1%}" for k, v in result["bits_share_by_band"].items()})
        print("bits by context bucket:", {k: f"{v:.1%}" for k, v in result["bits_share_by_context"].items()})
        print("MSE by position in the block (rows y, columns x):")
        for row in result["mse_by_block_position"]:
            print("  " + " ".join(f"{value:6.2f}" for value in row))
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "error_budget.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nwrote {out / 'error_budget.json'}")


if __name__ == "__main__":
    main()
