"""What the checkerboard context saves: each shipped codec's files on BSD68 under three priors.

    KERAS_BACKEND=tensorflow python experiments/codec_context_gain.py --data-dir ../shared/data

For every shipped quality, the BSD68 photos (never trained on) are coded with the
same symbols under (1) the codec's learned checkerboard prior (the default), (2) a
factorized prior and (3) a left-context prior, both counted
(``EntropyModel.fit``) on 2,000 random 128x128 crops of the training photos in
``photos/``. The images are identical; only the bits differ. Prints a table and
writes ``--out``/context_gain.md.
"""

import argparse
import pathlib

from keras_fsq import FSQVAE, batches, codec, data, presets

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--data-dir")
parser.add_argument("--out", default="experiments/results/codecs")
args = parser.parse_args()

shared = data.resolve_data_dir(args.data_dir)
photos = [data.read_image(p) for p in data.image_paths(shared / "photos", recursive=True)]
crops = batches.random_crop_batches(photos, 128, 2000, 1, seed=7, flip=False)[0]
bsd = [data.read_image(p) for p in data.image_paths(shared / "bsd68")]
pixels = sum(p.shape[0] * p.shape[1] for p in bsd)

lines = [
    "| quality | learned checkerboard (bpp) | counted factorized (bpp) | counted left context (bpp) | checkerboard "
    "saves vs factorized |",
    "|---|---|---|---|---|",
]
for quality in sorted(presets.CODEC_RATE_WEIGHTS):
    model = FSQVAE.from_preset(presets.codec_preset(quality, family="fsq_photo"))
    priors = [
        None,
        codec.EntropyModel.fit(model, crops, context="none"),
        codec.EntropyModel.fit(model, crops, context="left"),
    ]
    bits = [8 * sum(len(codec.compress(model, photo, prior)) for photo in bsd) / pixels for prior in priors]
    lines.append(
        f"| {quality} | {bits[0]:.4f} | {bits[1]:.4f} | {bits[2]:.4f} | {100 * (1 - bits[0] / bits[1]):.1f}% |"
    )
    print(lines[-1], flush=True)
table = "\n".join(lines) + "\n"
out = pathlib.Path(args.out)
out.mkdir(parents=True, exist_ok=True)
(out / "context_gain.md").write_text(table)
print(table)
