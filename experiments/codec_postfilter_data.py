"""Decode the training photos with every shipped codec quality: the inputs a post-filter trains on.

    python experiments/codec_postfilter_data.py --data-dir ../shared/data --out experiments/checkpoints/postfilter

For each of ``../shared/data/photos`` (229 photos) and each quality 1-6, ``keras-fsq compress`` /
``decompress`` as shipped (the NumPy engine: RDOQ, band tables, deblocking), rounded to 8 bits as the
command writes them: ``decoded_q{Q}.npz`` (one uint8 array per photo, ``photo_{i}``) and
``originals.npz``, with ``bits_q{Q}.json`` (each file's size in bits). Deterministic; no training.
Every 10th photo (``[::10]``, the split the deblocking and RDOQ settings were chosen on) is the
post-filter's validation split; BSD68 is reported apart (``experiments/codec_postfilter.py``).
"""

import argparse
import json
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from keras_fsq import codec, data, presets  # noqa: E402
from keras_fsq.compression.dct_engine import DCTEngine  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--out", default="experiments/checkpoints/postfilter")
    parser.add_argument("--split", choices=["photos", "bsd68"], default="photos")
    parser.add_argument("--qualities", default="1,2,3,4,5,6", help="in this order (two processes can share the work)")
    args = parser.parse_args()
    root, out = pathlib.Path(args.data_dir), pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    paths = data.image_paths(root / args.split, recursive=True)
    photos = [data.to_uint8(np.clip(data.read_image(p), 0, 1)) for p in paths]
    prefix = "" if args.split == "photos" else "bsd68_"
    if not (out / f"{prefix}originals.npz").exists():
        np.savez(out / f"{prefix}originals.npz", **{f"photo_{i}": p for i, p in enumerate(photos)})
    (out / f"{prefix}names.json").write_text(json.dumps([str(p.relative_to(root)) for p in paths], indent=0))
    for quality in [int(q) for q in args.qualities.split(",")]:
        target, started_marker = out / f"{prefix}decoded_q{quality}.npz", out / f"{prefix}started_q{quality}"
        if target.exists() or started_marker.exists():
            continue
        started_marker.touch()
        engine, started = DCTEngine(presets.codec_preset(quality)), time.time()
        decoded, bits = {}, []
        for i, photo in enumerate(photos):
            stream = codec.compress(engine, photo.astype("float32") / 255)
            decoded[f"photo_{i}"] = data.to_uint8(codec.decompress(engine, stream)[0])
            bits.append(8 * len(stream))
        np.savez(out / f"{prefix}decoded_q{quality}.tmp.npz", **decoded)
        (out / f"{prefix}decoded_q{quality}.tmp.npz").rename(target)
        (out / f"{prefix}bits_q{quality}.json").write_text(json.dumps(bits))
        print(f"quality {quality}: {len(photos)} photos in {time.time() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
